// HEALTHCHECK of the shoal image (and usable by any supervisor): GET /v2/ on the registry API at the
// address SHOAL_LISTEN names (an any-address listener is asked on loopback). Exit 0 when it
// answers 200 within 3 s, else 1 with the reason on stderr. Plain JavaScript: no type stripping
// needed, no shell or curl in the image.
const listen = process.env.SHOAL_LISTEN || '127.0.0.1:5000';
const colon = listen.lastIndexOf(':');
let host = listen.slice(0, colon).replace(/^\[(.*)\]$/, '$1');
const port = listen.slice(colon + 1);
if (host === '' || host === '0.0.0.0') host = '127.0.0.1';
if (host === '::') host = '::1';
const url = `http://${host.includes(':') ? `[${host}]` : host}:${port}/v2/`;
try {
  const response = await fetch(url, { signal: AbortSignal.timeout(3000) });
  await response.body?.cancel();
  if (response.status !== 200) {
    console.error(`${url} answered ${response.status}`);
    process.exit(1);
  }
} catch (error) {
  console.error(`${url}: ${error.cause?.message ?? error.message}`);
  process.exit(1);
}
