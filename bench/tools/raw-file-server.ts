// The ceiling for serving a file from Node without a framework: answers every GET with FILE.
//   node bench/tools/raw-file-server.ts FILE PORT [--mode http|net] [--hwm BYTES]
// http: node:http + fs.createReadStream(highWaterMark).pipe(res)
// net:  a raw socket, HTTP/1.1 headers written by hand, then fs.createReadStream.pipe(socket)
//       (what is left once node:http's own per-chunk work is gone)
import { createReadStream, statSync } from 'node:fs';
import { createServer as createHttpServer } from 'node:http';
import { createServer as createNetServer } from 'node:net';

const [file, portText, ...rest] = process.argv.slice(2);
if (!file || !portText) throw new Error('usage: raw-file-server.ts FILE PORT [--mode http|net] [--hwm BYTES]');
const option = (name: string): string | undefined => {
  const i = rest.indexOf(`--${name}`);
  return i >= 0 ? rest[i + 1] : undefined;
};
const mode = option('mode') ?? 'http';
const highWaterMark = Number(option('hwm') ?? 1024 * 1024);
const size = statSync(file).size;
const port = Number(portText);

if (mode === 'http') {
  createHttpServer((request, response) => {
    if (request.url === '/v2/') {
      response.writeHead(200, { 'content-type': 'application/json', 'content-length': 2 }).end('{}');
      return;
    }
    response.writeHead(200, { 'content-type': 'application/octet-stream', 'content-length': size });
    createReadStream(file, { highWaterMark }).pipe(response);
  }).listen(port, '127.0.0.1');
} else {
  createNetServer((socket) => {
    let buffered = '';
    const onData = (chunk: Buffer): void => {
      buffered += chunk.toString('latin1');
      const end = buffered.indexOf('\r\n\r\n');
      if (end < 0) return;
      const path = buffered.split(' ')[1];
      buffered = buffered.slice(end + 4);
      if (path === '/v2/') {
        socket.write('HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: 2\r\n\r\n{}');
        return;
      }
      socket.off('data', onData);
      socket.write(`HTTP/1.1 200 OK\r\ncontent-type: application/octet-stream\r\ncontent-length: ${size}\r\n\r\n`);
      const stream = createReadStream(file, { highWaterMark });
      stream.pipe(socket, { end: false });
      stream.once('end', () => socket.on('data', onData));
    };
    socket.on('data', onData);
    socket.on('error', () => socket.destroy());
  }).listen(port, '127.0.0.1');
}
process.stderr.write(`serving ${file} (${size} bytes) on 127.0.0.1:${port}, mode ${mode}, highWaterMark ${highWaterMark}\n`);
