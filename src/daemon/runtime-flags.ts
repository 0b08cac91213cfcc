/**
 * V8 flags the daemon runs with (bin/shoal.js's shebang and `npm start` spell them out too, since
 * they must be given before Node starts). A 2 MiB young generation instead of V8's 16 MiB: blob
 * bytes live outside the JS heap, and the peak RSS of serving a 200 MB blob three times fell from
 * 183 to 154 MiB (scratch measurement, see the closing note of the swarm issue).
 */
export const DAEMON_NODE_FLAGS: readonly string[] = ['--max-semi-space-size=2'];
