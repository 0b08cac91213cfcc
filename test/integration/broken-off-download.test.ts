// A pull-through whose every source breaks off mid-body: once the headers are out the client can
// only see a short body ("unexpected EOF"), so the daemon must say why in its log. A seed that
// sends a quarter of the blob and then drops the connection, every time it is asked.
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, test } from 'node:test';
import { eventually } from '../helpers/eventually.ts';
import { startShoal, type ShoalProcess } from '../helpers/shoal-process.ts';

const MiB = 1024 * 1024;
const blob = randomBytes(8 * MiB);
const digest = `sha256:${createHash('sha256').update(blob).digest('hex')}`;

let seed: Server;
let node: ShoalProcess;
let blobGets = 0;

before(async () => {
  seed = createServer((request, response) => {
    if (request.url === '/v2/' || request.url === '/v2') return void response.writeHead(200, { 'content-type': 'application/json' }).end('{}');
    if (request.url !== `/v2/broken/blobs/${digest}`) return void response.writeHead(404, { 'content-type': 'application/json' }).end('{"errors":[{"code":"BLOB_UNKNOWN"}]}');
    const headers = { 'content-type': 'application/octet-stream', 'docker-content-digest': digest, 'accept-ranges': 'bytes' };
    if (request.method === 'HEAD') return void response.writeHead(200, { ...headers, 'content-length': blob.length }).end();
    blobGets += 1;
    const range = /^bytes=(\d+)-(\d*)$/.exec(request.headers.range ?? '');
    const start = range ? Number(range[1]) : 0;
    const end = range?.[2] ? Number(range[2]) : blob.length - 1;
    response.writeHead(range ? 206 : 200, { ...headers, 'content-length': end - start + 1, ...(range ? { 'content-range': `bytes ${start}-${end}/${blob.length}` } : {}) });
    // A quarter of what was asked, then the connection drops.
    response.write(blob.subarray(start, start + Math.floor((end - start + 1) / 4)), () => request.socket.destroy());
  });
  await new Promise<void>((resolve) => seed.listen(0, '127.0.0.1', resolve));
  node = await startShoal({ upstreams: [`http://127.0.0.1:${(seed.address() as AddressInfo).port}`], args: ['--upstream-timeout', '2s'] });
});

after(async () => {
  await node?.dispose();
  await new Promise((resolve) => seed?.close(resolve));
});

test('a download broken off after its headers is logged with the reason', { timeout: 120_000 }, async () => {
  const response = await fetch(`${node.url}/v2/broken/blobs/${digest}`);
  assert.equal(response.status, 200, 'the headers go out with the first bytes');
  let received = 0;
  const reading = (async () => {
    for await (const chunk of response.body!) received += (chunk as Uint8Array).byteLength;
  })();
  await assert.rejects(reading, 'the body breaks off instead of ending cleanly');
  assert.ok(received < blob.length, `received ${received} of ${blob.length} bytes`);
  assert.ok(blobGets >= 1);
  await eventually(
    () => node.logs().some((line) => line.msg === 'blob download broken off' && line.level === 40 && line.digest === digest && line.err !== undefined),
    10_000,
    'a warning naming the blob and the reason',
  );
});
