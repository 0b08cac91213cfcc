/**
 * V8 flags the daemon runs with (bin/shoal.js's shebang and `npm start` spell them out too, since
 * they must be given before Node starts). A 2 MiB young generation instead of V8's 16 MiB: blob
 * bytes live outside the JS heap, and the peak RSS of serving a 200 MB blob three times fell from
 * 183 to 154 MiB (scratch measurement, see the closing note of the swarm issue).
 *
 * And an old generation allowed to grow to twice its live size before the next full collection.
 * V8's own limit stayed ~10 MB above the ~32 MB live, and incremental marking started again as
 * soon as one had finished: most daemons of the fan-out benchmark ran a mark-compact every second
 * or so for the whole transfer (12-19 per host), a third of their CPU (perf). With this flag: 4-6
 * per host, daemons 8.5 instead of 12.8 CPU-s, RSS no higher (203 vs 213 MiB max; 8 hosts x 64
 * MiB, bench/fanout.bench.ts, --trace-gc, same hour).
 */
export const DAEMON_NODE_FLAGS: readonly string[] = ['--max-semi-space-size=2', '--heap-growing-percent=100'];

/**
 * Environment for a daemon process: at most two glibc malloc arenas instead of eight per core,
 * 12 MiB less peak RSS in the same measurement. Only effective when set before Node starts
 * (systemd unit, Dockerfile, npm start, the fan-out benchmark).
 */
export const DAEMON_ENV: Readonly<Record<string, string>> = { MALLOC_ARENA_MAX: '2' };
