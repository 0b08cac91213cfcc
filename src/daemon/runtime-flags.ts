/**
 * V8 flags the daemon runs with (bin/shoal.js's shebang, `npm start`, the systemd unit and the
 * image's entry point spell them out too, since they must be given before Node starts).
 * A 2 MiB young generation instead of V8's 16 MiB: blob bytes live outside the JS heap, and the
 * peak RSS of serving a 200 MB blob three times fell from 183 to 154 MiB (scratch measurement, see
 * the closing note of the swarm issue). With a young generation that small, what a crowd of
 * transfers keeps alive across a few scavenges is promoted, and V8 lets the old generation grow
 * to up to 4x its live size before collecting it (V8 heap 144 MiB at the peak of 200 clients in
 * bench/memory.bench.ts, 30 MiB live). A major GC once it has grown by 20%: 47 MiB at that peak.
 */
export const DAEMON_NODE_FLAGS: readonly string[] = ['--max-semi-space-size=2', '--heap-growing-percent=20'];

/**
 * Environment for a daemon process: at most two glibc malloc arenas instead of eight per core,
 * 12 MiB less peak RSS in the same measurement. Only effective when set before Node starts
 * (systemd unit, Dockerfile, npm start, the fan-out benchmark).
 */
export const DAEMON_ENV: Readonly<Record<string, string>> = { MALLOC_ARENA_MAX: '2' };
