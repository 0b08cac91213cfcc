/**
 * V8 flags the daemon runs with (bin/shoal.js's shebang, `npm start`, the systemd unit and the
 * image's entry point spell them out too, since they must be given before Node starts).
 * A 2 MiB young generation instead of V8's 16 MiB: blob bytes live outside the JS heap, and the
 * peak RSS of serving a 200 MB blob three times fell from 183 to 154 MiB (scratch measurement, see
 * the closing note of the swarm issue).
 * How far the old generation may grow past its live size before the next full collection is a
 * trade between memory and CPU. V8's own choice kept most fan-out daemons in a mark-compact every
 * second (a third of their CPU), yet let a crowd of 200 clients grow the heap to 4x its live size.
 * Measured on the same tree, one run each (bench/memory.bench.ts crowd and mixed; bench:fanout
 * 8 hosts x 200 Mbit/s, daemon CPU-s):
 *   20%: crowd 208 MiB / 32.5 CPU-s, mixed 170 MiB, fan-out 10.8 CPU-s, 3.15x ideal
 *   50%: crowd 225 MiB / 29.5 CPU-s, mixed 185 MiB, fan-out  9.1 CPU-s, 2.62x ideal
 *  100%: crowd 233 MiB / 24.8 CPU-s, mixed 216 MiB, fan-out  8.6 CPU-s, 2.65x ideal
 */
export const DAEMON_NODE_FLAGS: readonly string[] = ['--max-semi-space-size=2', '--heap-growing-percent=50'];

/**
 * Environment for a daemon process, only effective when set before Node starts (systemd unit,
 * Dockerfile, npm start, the benchmarks):
 * - one glibc malloc arena instead of eight per core: two were 12 MiB less peak RSS than eight,
 *   and one another 5-15 MiB less in bench:fanout (8 hosts x 200 Mbit/s, 256 MiB: largest daemon
 *   156.7-165.0 against 168.5-174.0 MiB, 4 alternated pairs, finish and daemon CPU alike); the
 *   threads that allocate (libuv's pool, the hash thread) then share the main heap's lock;
 * - a fixed mmap threshold of 256 KiB: the write batches (512 KiB) and large read chunks get a
 *   mapping each, given back to the system the moment they are freed, instead of a place in
 *   malloc's main heap, which only ever shrinks from its top. glibc's default threshold starts at
 *   128 KiB but rises to the size of the first large block freed, after which every batch lands in
 *   the heap: after a crowd's cold fetch it stayed at 41-44 MiB, with the fixed threshold at 25-30
 *   (bench/memory.bench.ts, 200 clients: peak 171-175 -> 158-159 MiB, 3 interleaved runs each).
 *   Batches are reused (store/write-batches.ts), so few mappings are made per GiB received.
 */
export const DAEMON_ENV: Readonly<Record<string, string>> = { MALLOC_ARENA_MAX: '1', MALLOC_MMAP_THRESHOLD_: '262144' };
