// The baseline of bench/peer-transfer.bench.ts: the same bytes over the same veth with nothing
// but the kernel and one read stream in between. Answers every request on ADDRESS:PORT with FILE
// behind hand-written HTTP/1.1 headers (so curl can be the client), over a raw socket.
//   node bench/lib/peer-baseline-server.ts FILE ADDRESS PORT
import { createReadStream, statSync } from 'node:fs';
import { createServer } from 'node:net';

const [file, address, portText] = process.argv.slice(2);
if (!file || !address || !portText) throw new Error('usage: peer-baseline-server.ts FILE ADDRESS PORT');
const size = statSync(file).size;

createServer((socket) => {
  socket.once('data', () => {
    socket.write(`HTTP/1.1 200 OK\r\ncontent-type: application/octet-stream\r\ncontent-length: ${size}\r\nconnection: close\r\n\r\n`);
    createReadStream(file, { highWaterMark: 1024 * 1024 }).pipe(socket);
  });
  socket.on('error', () => undefined);
}).listen(Number(portText), address, () => process.stdout.write('listening\n'));
