import type { ServerResponse } from 'node:http';
import type { Readable } from 'node:stream';
import { chunkBytes, downloadStarted, giveChunk } from '../lib/download-budget.ts';
import { sendRoom, type Grant, type SendRoom } from '../lib/send-room.ts';

/**
 * Chunks written to the response at once: the next is handed over while one is in the socket, so
 * the socket never waits for the event loop to come round and the reader to fetch the next chunk
 * (one at a time, a lone pull-through client got ~300 MB/s while the seed sent ~700).
 */
const WRITES_IN_FLIGHT = 2;
/** What a partial blob's reader reads at most (partial-reader.ts), for the room asked per chunk. */
const READ_BYTES = 256 * 1024;

/**
 * Sends a blob that is still arriving (a partial blob's reader) chunk by chunk, and gives each
 * chunk back to the download pool once its write called back, so a crowd of readers reuses a
 * few buffers instead of leaving one of garbage per chunk. The stream flows one chunk at a time,
 * and only once the send room (send-room.ts) gave the bytes for it: a response whose turn has not
 * come holds no chunk. Headers go out with the first chunk, as fastify's stream sending does: a
 * source that fails before any byte is thrown, and the route answers with an error status instead
 * of a broken-off 200. After that, a failure breaks the response off, the only honest signal left.
 * `room` is the process's shared one but in tests.
 */
export async function sendArriving(response: ServerResponse, stream: Readable, writeHead: () => void, room: SendRoom = sendRoom): Promise<void> {
  const inFlight = downloadStarted();
  let started = false;
  let settled = false;
  /** Chunks handed to the response whose write has not called back yet. */
  let writing = 0;
  /** Room for the chunk the stream gives next, once given. */
  let granted: Grant | undefined;
  let asking = false;
  try {
    await new Promise<void>((resolve, reject) => {
      const flow = (grant: Grant): void => {
        if (settled) return grant.release();
        granted = grant;
        stream.resume();
      };
      /** Lets the next chunk come once the room has its bytes, while fewer than WRITES_IN_FLIGHT are written. */
      const next = (): void => {
        if (settled || granted || asking || writing >= WRITES_IN_FLIGHT) return;
        const bytes = chunkBytes(READ_BYTES);
        const now = room.tryTake(bytes);
        if (now) return flow(now);
        asking = true;
        void room.take(bytes).then((grant) => {
          asking = false;
          flow(grant);
        });
      };
      // A client gone while the source waits for bytes: the source stops at once.
      response.once('close', () => reject(new Error('the client closed the response')));
      stream.once('error', reject);
      stream.once('end', resolve);
      // Flowing mode reads chunk by chunk (an async iterator may join buffered chunks into a new
      // buffer); paused after each one, so that the reader reads nothing more until there is room.
      stream.pause();
      stream.on('data', (chunk: Buffer) => {
        stream.pause();
        if (!started) {
          started = true;
          try {
            writeHead();
          } catch (error) {
            return reject(error);
          }
        }
        const grant = granted;
        granted = undefined;
        writing += 1;
        response.write(chunk, (error) => {
          grant?.release();
          if (error) return reject(error);
          giveChunk(chunk);
          writing -= 1;
          next();
        });
        next();
      });
      next();
    });
    if (!started) writeHead();
    response.end();
  } catch (error) {
    if (!started) throw error;
    response.destroy(error as Error);
  } finally {
    settled = true;
    granted?.release();
    inFlight();
    stream.destroy();
  }
}
