import type { ServerResponse } from 'node:http';
import type { Readable } from 'node:stream';
import { downloadStarted, giveChunk } from '../lib/download-budget.ts';

/**
 * Chunks written to the response at once: the next is handed over while one is in the socket, so
 * the socket never waits for the event loop to come round and the reader to fetch the next chunk
 * (one at a time, a lone pull-through client got ~300 MB/s while the seed sent ~700).
 */
const WRITES_IN_FLIGHT = 2;

/**
 * Sends a blob that is still arriving (a partial blob's reader) chunk by chunk, and gives each
 * chunk back to the download pool once its write called back, so a crowd of readers reuses a
 * few buffers instead of leaving one of garbage per chunk. Headers go out with the first chunk,
 * as fastify's stream sending does: a source that fails before any byte is thrown, and the route
 * answers with an error status instead of a broken-off 200. After that, a failure breaks the
 * response off, the only honest signal left.
 */
export async function sendArriving(response: ServerResponse, stream: Readable, writeHead: () => void): Promise<void> {
  const inFlight = downloadStarted();
  let started = false;
  /** Chunks handed to the response whose write has not called back yet. */
  let writing = 0;
  try {
    await new Promise<void>((resolve, reject) => {
      // A client gone while the source waits for bytes: the source stops at once.
      response.once('close', () => reject(new Error('the client closed the response')));
      stream.once('error', reject);
      stream.once('end', resolve);
      // Flowing mode reads chunk by chunk (an async iterator may join buffered chunks into a new buffer).
      stream.on('data', (chunk: Buffer) => {
        if (!started) {
          started = true;
          try {
            writeHead();
          } catch (error) {
            return reject(error);
          }
        }
        writing += 1;
        if (writing >= WRITES_IN_FLIGHT) stream.pause();
        response.write(chunk, (error) => {
          if (error) return reject(error);
          giveChunk(chunk);
          writing -= 1;
          if (writing < WRITES_IN_FLIGHT) stream.resume();
        });
      });
    });
    if (!started) writeHead();
    response.end();
  } catch (error) {
    if (!started) throw error;
    response.destroy(error as Error);
  } finally {
    inFlight();
    stream.destroy();
  }
}
