/**
 * V8 flags the daemon runs with (bin/shoal.js's shebang and `npm start` spell them out too, since
 * they must be given before Node starts). A 2 MiB young generation instead of V8's 16 MiB: blob
 * bytes live outside the JS heap, and the peak RSS of serving a 200 MB blob three times fell from
 * 183 to 154 MiB (scratch measurement, see the closing note of the swarm issue).
 */
export const DAEMON_NODE_FLAGS: readonly string[] = ['--max-semi-space-size=2'];

/**
 * Environment for a daemon process: at most two glibc malloc arenas instead of eight per core,
 * 12 MiB less peak RSS in the same measurement. Only effective when set before Node starts
 * (systemd unit, Dockerfile, npm start, the fan-out benchmark).
 */
export const DAEMON_ENV: Readonly<Record<string, string>> = { MALLOC_ARENA_MAX: '2' };
