// Its own module so the config schema can name the default without loading the fetch path.
/**
 * Piece size for swarm transfers (the piece-size setting's default). Measured with
 * bench/fanout.bench.ts, 4 hosts × 100 Mbit/s, 256 MiB image, last finish / ideal:
 * 1 MiB 1.33 (daemons 23.6 CPU-s: more requests), 4 MiB 1.31 (19.7 CPU-s), 16 MiB 1.56 (18.4 CPU-s:
 * fewer, longer pieces spread worse and start streaming later).
 */
export const DEFAULT_PIECE_SIZE = 4 * 1024 * 1024;
