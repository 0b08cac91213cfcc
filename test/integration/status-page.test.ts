// The status page at GET /_shoal/, looked at in a real headless Chromium (Debian's, driven by
// playwright-core; no browser download). Two real daemons on loopback form a swarm by bootstrap
// address (no mDNS from the root namespace): A pulls an image through from a docker-registry
// seed, B then gets the same image from A; a second image is pushed into B and A fetches its
// blobs from B. B's page must draw the swarm, list the images with their sizes, show the seed
// and peer counters, show a rate while B pulls a third image from the seed, and keep updating.
// A screenshot goes to test-artifacts/status-page.png.
import assert from 'node:assert/strict';
import { access, constants, mkdir, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { after, before, describe, test } from 'node:test';
import type { BrowserContext, Page } from 'playwright-core';
import type { NodeStatus } from '../../src/daemon/status.ts';
import { STATUS_PAGE_CSP } from '../../src/http/status-page/route.ts';
import { eventually } from '../helpers/eventually.ts';
import { makeImage, pushImage, type TestImage } from '../helpers/images.ts';
import { startSeedRegistry, type SeedRegistry } from '../helpers/seed-registry.ts';
import { startShoal, type ShoalProcess } from '../helpers/shoal-process.ts';

const MiB = 1024 * 1024;
const CHROMIUM = process.env.SHOAL_TEST_CHROMIUM ?? '/usr/bin/chromium';
const ARTIFACTS = resolve(import.meta.dirname, '..', '..', 'test-artifacts');
const CHROMIUM_ARGS = [
  '--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
  '--disable-background-networking', '--disable-component-update', '--disable-sync',
];

/** A browser with a fresh empty profile; fails (never skips) naming what to install. */
async function launchBrowser(): Promise<{ context: BrowserContext; close(): Promise<void> }> {
  let playwright: typeof import('playwright-core');
  try {
    playwright = await import('playwright-core');
  } catch (error) {
    throw new Error(`the status page test needs the npm devDependency playwright-core (npm install -D playwright-core); it drives Debian's chromium, no browser download: ${String(error)}`);
  }
  try {
    await access(CHROMIUM, constants.X_OK);
  } catch {
    throw new Error(`the status page test needs Chromium at ${CHROMIUM}: install Debian's package (apt-get install chromium), or set SHOAL_TEST_CHROMIUM`);
  }
  const profile = await mkdtemp(join(tmpdir(), 'shoal-chromium-'));
  const context = await playwright.chromium.launchPersistentContext(profile, {
    executablePath: CHROMIUM,
    headless: true,
    args: CHROMIUM_ARGS,
    viewport: { width: 1280, height: 900 },
    deviceScaleFactor: 1,
  });
  return {
    context,
    close: async () => {
      await context.close();
      await rm(profile, { recursive: true, force: true });
    },
  };
}

/** Everything that would mean the page is broken: script errors, CSP refusals, failed requests. */
function watchForProblems(page: Page): string[] {
  const problems: string[] = [];
  page.on('pageerror', (error) => problems.push(`page error: ${error.message}`));
  page.on('console', (message) => {
    if (message.type() === 'error' || message.type() === 'warning') problems.push(`console ${message.type()}: ${message.text()}`);
  });
  page.on('requestfailed', (request) => problems.push(`request failed: ${request.url()} ${request.failure()?.errorText ?? ''}`));
  return problems;
}

async function status(node: ShoalProcess): Promise<NodeStatus> {
  const response = await fetch(`${node.url}/_shoal/status`);
  assert.equal(response.status, 200);
  return (await response.json()) as NodeStatus;
}

/** Pulls an image through a node the way a registry client does: manifest by tag, then every blob. */
async function pull(node: ShoalProcess, repo: string, tag: string | undefined, image: TestImage): Promise<void> {
  if (tag !== undefined) {
    const manifest = await fetch(`${node.url}/v2/${repo}/manifests/${tag}`, { headers: { accept: image.mediaType } });
    assert.equal(manifest.status, 200, `manifest of ${repo}:${tag} through ${node.url}`);
    await manifest.arrayBuffer();
  }
  for (const blob of image.blobs) {
    const response = await fetch(`${node.url}/v2/${repo}/blobs/${blob.digest}`);
    assert.equal(response.status, 200, `blob ${blob.digest} through ${node.url}`);
    assert.equal((await response.arrayBuffer()).byteLength, blob.size);
  }
}

const imageSize = (image: TestImage): number => image.manifest.byteLength + image.blobs.reduce((sum, blob) => sum + blob.size, 0);
/** The page's formatting of sizes from 1 MiB to 100 MiB. */
const inMiB = (bytes: number): string => `${(bytes / MiB).toFixed(1)} MiB`;

describe('status page at /_shoal/ in headless Chromium', { timeout: 180_000 }, () => {
  let seed: SeedRegistry;
  let a: ShoalProcess;
  let b: ShoalProcess;
  let pulled: TestImage;
  let pushed: TestImage;
  let later: TestImage;
  let browser: Awaited<ReturnType<typeof launchBrowser>> | undefined;
  const swarmArgs = ['--no-mdns', '--bind-address', '127.0.0.1', '--p2p-port', '0', '--peer-port', '0'];

  before(async () => {
    seed = await startSeedRegistry();
    pulled = await makeImage({ layers: [3 * MiB, 700 * 1024], seed: 'status-page-pulled' });
    pushed = await makeImage({ layers: [2 * MiB, 512 * 1024], seed: 'status-page-pushed' });
    later = await makeImage({ layers: [6 * MiB], seed: 'status-page-later' });
    await pushImage(seed.url, 'library/alpine', '3.20', pulled);
    await pushImage(seed.url, 'library/busybox', '1.36', later);
    a = await startShoal({ upstreams: [seed.url], swarm: true, args: swarmArgs });
    const [address] = (await status(a)).node.multiaddrs ?? [];
    assert.ok(address, 'node A reports its libp2p address');
    // A fills itself from the seed before B exists (with B there, B would own some pieces and
    // fetch them for A); then B, once it knows A holds the blobs, from A.
    await pull(a, 'library/alpine', '3.20', pulled);
    b = await startShoal({ upstreams: [seed.url], swarm: true, args: [...swarmArgs, '--bootstrap', address] });
    await eventually(async () => (await status(b)).peers.length === 1 && (await status(a)).peers.length === 1, 15_000, 'A and B see each other');
    await eventually(async () => ((await status(b)).peers[0]?.blobs ?? 0) >= pulled.blobs.length, 10_000, 'B hears that A holds the image');
    await pull(b, 'library/alpine', '3.20', pulled);
    await pushImage(b.url, 'team/app', 'v2', pushed);
    // A takes the pushed image's blobs from B, so B has served bytes too.
    await eventually(async () => ((await status(a)).peers[0]?.blobs ?? 0) >= pulled.blobs.length + pushed.blobs.length, 10_000, 'A hears what B holds');
    await pull(a, 'team/app', undefined, pushed);
    await eventually(async () => (await status(b)).transfers.bytesServedToPeers > 0, 5_000, 'B counts what it served');
    await mkdir(ARTIFACTS, { recursive: true });
  });

  after(async () => {
    await browser?.close();
    await b?.dispose();
    await a?.dispose();
    await seed?.stop();
    await pulled?.cleanup();
    await pushed?.cleanup();
    await later?.cleanup();
  });

  test('the page is served with a strict CSP that still runs its inline script', async () => {
    const response = await fetch(`${b.url}/_shoal/`);
    assert.equal(response.status, 200);
    assert.match(response.headers.get('content-type') ?? '', /^text\/html/);
    const csp = response.headers.get('content-security-policy') ?? '';
    assert.equal(csp, STATUS_PAGE_CSP);
    assert.match(csp, /default-src 'none'/);
    assert.match(csp, /script-src 'sha256-[A-Za-z0-9+/]+=*'(;|$)/, 'the inline script is allowed by its hash, nothing else');
    assert.doesNotMatch(csp, /unsafe-inline|unsafe-eval|https?:/);
    const html = await response.text();
    assert.doesNotMatch(html, /<script[^>]+src=|<link[^>]+stylesheet|https?:\/\/(?!www\.w3\.org\/2000\/svg)/, 'no external assets');
    const redirect = await fetch(`${b.url}/_shoal`, { redirect: 'manual' });
    assert.equal(redirect.status, 308);
    assert.equal(redirect.headers.get('location'), '/_shoal/');
  });

  test('B shows the swarm, both images with sizes, the counters, and updates live', async () => {
    browser = await launchBrowser();
    const page = await browser.context.newPage();
    const problems = watchForProblems(page);
    await page.goto(`${b.url}/_shoal/`);
    await page.waitForSelector('#updated', { timeout: 10_000 });

    // The picture: this node, its peer A and the seed, with the edge from A drawn as "received".
    const now = await status(b);
    const peerA = now.peers[0]!;
    assert.ok(now.transfers.bytesFromPeers > 0, `B got bytes from A: ${JSON.stringify(now.transfers)}`);
    assert.ok(now.transfers.bytesServedToPeers > 0, `B served bytes to A: ${JSON.stringify(now.transfers)}`);
    assert.equal(await page.locator('#swarm #swarm-self').count(), 1, 'this node is in the picture');
    assert.equal(await page.locator('#swarm g.peer').count(), 1, 'the peer is in the picture');
    assert.equal(await page.locator('#swarm g.seed').count(), 1, 'the seed is in the picture');
    assert.equal(await page.locator('#swarm line.rx:not(.none)').count(), 1, 'a received edge from A');
    assert.equal(await page.locator('#swarm line.tx:not(.none)').count(), 1, 'a served edge to A');
    const peerTitle = await page.locator('#swarm g.peer title').textContent();
    assert.ok(peerTitle?.includes(peerA.peerId), `the peer node names A (${peerTitle})`);
    const description = await page.locator('#swarm-desc').textContent();
    assert.match(description ?? '', /1 peer and a seed/, 'the picture has a text alternative');

    // Images: both, each with its size.
    await page.waitForSelector('#images tbody tr', { timeout: 5_000 });
    const rows = await page.locator('#images tbody tr').evaluateAll((trs) =>
      trs.map((tr) => [...tr.querySelectorAll('td')].map((td) => ({ text: td.textContent ?? '', bytes: td.getAttribute('data-bytes') }))),
    );
    const find = (repo: string, tag: string) => rows.find((cells) => cells[0]?.text === repo && cells[1]?.text === tag);
    for (const [repo, tag, image] of [['team/app', 'v2', pushed], ['library/alpine', '3.20', pulled]] as const) {
      const row = find(repo, tag);
      assert.ok(row, `${repo}:${tag} is listed: ${JSON.stringify(rows)}`);
      assert.equal(Number(row[2]!.bytes), imageSize(image), `${repo}:${tag} size in bytes`);
      assert.equal(row[2]!.text, inMiB(imageSize(image)), `${repo}:${tag} size as shown`);
    }

    // Counters: seed, peers, seed egress saved (bytes and share), the peer's row.
    await eventually(async () => (await page.locator('#from-peers').textContent())?.startsWith(inMiB(now.transfers.bytesFromPeers)) ?? false, 5_000, 'from-peers counter');
    const saved = (await page.locator('#saved').textContent()) ?? '';
    const share = now.transfers.bytesFromPeers / (now.transfers.bytesFromSeed + now.transfers.bytesFromPeers);
    assert.ok(saved.startsWith(inMiB(now.transfers.bytesFromPeers)), `seed egress saved in bytes: ${saved}`);
    assert.ok(saved.includes(`${(share * 100).toFixed(1)} %`), `seed egress saved as a share: ${saved}`);
    assert.match((await page.locator('#from-seed').textContent()) ?? '', /B\/s$/, 'the seed counter shows with its rate');
    const peerRow = await page.locator('#peers tbody tr').evaluateAll((trs) => trs.map((tr) => tr.textContent ?? ''));
    assert.equal(peerRow.length, 1);
    assert.ok(peerRow[0]!.includes(peerA.peerId.slice(-8)), `peer row names A: ${peerRow[0]}`);
    const peerBytes = await page.locator('#peers tbody td[data-bytes]').evaluateAll((tds) => tds.map((td) => td.getAttribute('data-bytes')));
    assert.deepEqual(peerBytes, [String(peerA.bytesReceived), String(peerA.bytesServed)], 'bytes received from and served to A');
    assert.match((await page.locator('#upstreams tbody').textContent()) ?? '', /up/, 'upstream health shows');
    assert.match((await page.locator('#cap-upload').textContent()) ?? '', /B\/sno cap$/, 'the upload rate now, and that it has no cap');
    assert.match((await page.locator('#serving').textContent()) ?? '', /at most 32 at once/, 'piece requests served now, of at most max-peer-serves');

    // Live: a pull while the page is open shows as a rate, then as a bigger total. The bytes come
    // from the seed for the pieces B owns and through A for the pieces A owns (A fetches those
    // from the seed for B), so the counter that grows depends on the piece owners.
    const moved = (t: typeof now.transfers): number => t.bytesFromSeed + t.bytesFromPeers;
    const shown = async (id: string): Promise<string> => ((await page.locator(`#${id}`).textContent()) ?? '').replace(/\s*[\d.]+ [KMG]?B\/s$/, '');
    const shownBefore = { 'from-seed': await shown('from-seed'), 'from-peers': await shown('from-peers') };
    await pull(b, 'library/busybox', '1.36', later);
    const after = (await status(b)).transfers;
    assert.ok(moved(after) >= moved(now.transfers) + later.layers[0]!.size, `B took busybox from the seed and A: ${JSON.stringify(now.transfers)} -> ${JSON.stringify(after)}`);
    const grew = after.bytesFromSeed > now.transfers.bytesFromSeed ? 'from-seed' : 'from-peers';
    await eventually(async () => ((await page.locator(`#${grew} small`).textContent()) ?? '0 B/s') !== '0 B/s', 5_000, `a ${grew} rate above zero`);
    await eventually(async () => (await shown(grew)) !== shownBefore[grew], 5_000, `the ${grew} total grew on the page`);
    await page.screenshot({ path: join(ARTIFACTS, 'status-page.png'), fullPage: true });

    // And the "last updated" time moves at least twice.
    const seen = new Set<string>();
    await eventually(async () => {
      seen.add((await page.locator('#updated').getAttribute('datetime')) ?? '');
      return seen.size >= 3;
    }, 10_000, 'three distinct "last updated" times');
    assert.match((await page.locator('#conn').textContent()) ?? '', /^Live\. Last updated /);
    assert.deepEqual(problems, [], 'no script errors, CSP refusals or failed requests');
    await page.close();
  });

  test('hostile and partial status data is shown as text, never as markup', async () => {
    browser ??= await launchBrowser();
    const page = await browser.context.newPage();
    const problems = watchForProblems(page);
    const evil = '<img src=x onerror="window.pwned=1">';
    let answers = 0;
    await page.route('**/_shoal/status', (route) => {
      answers += 1;
      // The first answer is hostile, the next ones are nearly empty: every field is optional.
      const body = answers === 1
        ? {
            node: { peerId: evil, listen: evil },
            swarm: { enabled: true },
            upstreams: [{ url: evil, host: evil, state: 'down', lastError: `<script>window.pwned=1</script>${evil}`, consecutiveFailures: 3 }],
            peers: [{ peerId: evil, url: 'http://[::1', addresses: [evil], bytesReceived: 5 * MiB, bytesServed: 'lots' }],
            inflight: [{ digest: evil, size: 100, received: 50, readers: 2 }, { digest: 'sha256:00', size: 0, received: 10 }],
            images: [{ repository: evil, tag: '<b>t</b>', digest: evil, size: 1536 }],
          }
        : answers === 2 ? {} : { node: null, peers: [null, 3], upstreams: [null], inflight: 'x', images: 'nope', transfers: 7, swarm: [] };
      return route.fulfill({ status: 200, contentType: 'application/json', body: JSON.stringify(body) });
    });
    await page.goto(`${b.url}/_shoal/`);
    await page.waitForSelector('#images tbody tr');
    assert.equal(await page.locator('#images tbody tr td').first().textContent(), evil, 'the repository name is shown as typed');
    assert.equal(await page.locator('main img, main script, main b').count(), 0, 'no element was made from the data');
    assert.match((await page.locator('#upstreams tbody').textContent()) ?? '', /<script>window\.pwned=1<\/script>/);
    assert.equal(await page.locator('#inflight progress').first().getAttribute('value'), '50', 'in-flight progress bar');
    assert.equal(await page.locator('#inflight progress').first().getAttribute('max'), '100');
    assert.match((await page.locator('#inflight tbody').textContent()) ?? '', /50 B of 100 B \(50\.0 %\)/);
    // (a predicate passed as a string would be eval'ed in the page, which its CSP forbids)
    await eventually(async () => Number(await page.locator('body').getAttribute('data-updates')) >= 3, 10_000, 'three updates');
    assert.equal(await page.evaluate(() => (globalThis as { pwned?: number }).pwned), undefined, 'nothing from the data ran');
    assert.equal(await page.locator('#conn').getAttribute('class'), '', `no complaint: ${await page.locator('#conn').textContent()}`);
    assert.equal(await page.locator('#inflight').isHidden(), true, 'nothing in flight: the table gives way to a note');
    assert.equal(await page.locator('#images-empty').isVisible(), true);
    assert.deepEqual(problems, [], 'the page kept working');
    await page.close();
  });

  test('an open swarm says so; a keyed one does not (issue 10, item 5)', async () => {
    assert.equal((await status(b)).swarm.open, true, 'the status JSON: no key, so open');
    browser ??= await launchBrowser();
    const page = await browser.context.newPage();
    await page.goto(`${b.url}/_shoal/`);
    await page.waitForSelector('#updated');
    assert.equal(await page.locator('#open-swarm').isVisible(), true);
    assert.match((await page.locator('#open-swarm').textContent()) ?? '', /any host on the LAN can join .* fetch every blob/);
    await page.route('**/_shoal/status', async (route) => {
      const body = { ...(await status(b)), swarm: { enabled: true, mdns: true, clusterKey: true, open: false } };
      return route.fulfill({ status: 200, contentType: 'application/json', body: JSON.stringify(body) });
    });
    await eventually(() => page.locator('#open-swarm').isHidden(), 10_000, 'the notice to go with a key');
    await page.close();
  });

  test('0 B saved draws an empty bar; at 390 px the swarm picture fits (issue 10, item 18)', async () => {
    browser ??= await launchBrowser();
    const page = await browser.context.newPage();
    const problems = watchForProblems(page);
    await page.setViewportSize({ width: 390, height: 844 });
    const real = await status(b);
    // Everything from the seed, nothing from peers; seven peers, so names stand beside the nodes too.
    const peers = Array.from({ length: 7 }, (_, i) => ({ ...real.peers[0]!, peerId: `${real.peers[0]!.peerId.slice(0, -1)}${i}`, bytesReceived: 0, bytesServed: 0 }));
    const body = { ...real, peers, transfers: { ...real.transfers, bytesFromSeed: 40 * MiB, bytesFromPeers: 0 } };
    await page.route('**/_shoal/status', (route) => route.fulfill({ status: 200, contentType: 'application/json', body: JSON.stringify(body) }));
    await page.goto(`${b.url}/_shoal/`);
    await page.waitForSelector('#updated');
    await eventually(async () => (await page.locator('#swarm g.peer').count()) === 7, 10_000, 'the peers drawn');
    const track = (await page.locator('.share').first().boundingBox())!;
    let filled = 0;
    for (const part of await page.locator('.share > *').all()) filled += (await part.boundingBox())?.width ?? 0;
    assert.ok(track.width > 0);
    assert.equal(filled, 0, `0 B saved: nothing of the ${track.width}px bar is filled`);
    const svg = (await page.locator('#swarm').boundingBox())!;
    const drawn = (await page.locator('#swarm-content').boundingBox())!;
    const fit = JSON.stringify({ svg, drawn });
    assert.ok(svg.x >= 0 && svg.x + svg.width <= 390, `the picture is inside the 390 px screen: ${fit}`);
    assert.ok(drawn.x >= svg.x - 0.5 && drawn.x + drawn.width <= svg.x + svg.width + 0.5, `everything drawn is inside the picture: ${fit}`);
    assert.ok(drawn.y >= svg.y - 0.5 && drawn.y + drawn.height <= svg.y + svg.height + 0.5, `everything drawn is inside the picture: ${fit}`);
    await page.screenshot({ path: join(ARTIFACTS, 'status-page-390px.png'), fullPage: true });
    assert.deepEqual(problems, []);
    await page.close();
  });

  test('cluster view: a preheat asked on B shows every node, what it holds of the images and its rate', async () => {
    const warm = await makeImage({ layers: [2 * MiB, 300 * 1024], seed: 'status-page-preheat' });
    try {
      await pushImage(seed.url, 'library/redis', '7', warm);
      const started = await fetch(`${b.url}/_shoal/preheat`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ images: [{ name: 'library/redis', reference: '7' }] }) });
      assert.equal(started.status, 202, await started.clone().text());
      const { id } = (await started.json()) as { id: string };
      await eventually(async () => ((await (await fetch(`${b.url}/_shoal/preheat/${id}`)).json()) as { finishedAt?: number }).finishedAt !== undefined, 30_000, 'the preheat to finish');
      browser ??= await launchBrowser();
      const size = imageSize(warm) - warm.manifest.byteLength;
      const shownSize = `${inMiB(size)} of ${inMiB(size)} (100.0 %)`;
      // On B, the asker: both nodes reported done, each holding the whole image.
      const page = await browser.context.newPage();
      const problems = watchForProblems(page);
      await page.goto(`${b.url}/_shoal/`);
      await eventually(async () => (await page.locator('#preheat tbody tr[data-state="done"]').count()) === 2, 10_000, 'two nodes done on B');
      const rows = await page.locator('#preheat tbody tr').evaluateAll((trs) => trs.map((tr) => [...tr.children].map((cell) => cell.textContent ?? '')));
      const aHost = new URL((await status(b)).peers[0]!.url!).host;
      assert.deepEqual(rows.map((cells) => cells[0]).sort(), [aHost, 'this node'].sort(), JSON.stringify(rows));
      for (const cells of rows) {
        assert.equal(cells[2], shownSize, `holds the whole image: ${JSON.stringify(cells)}`);
        assert.match(cells[3]!, /B\/s$/, 'a rate');
      }
      assert.match((await page.locator('#preheat-meta').textContent()) ?? '', /^library\/redis:7 · finished · asked here/);
      await page.screenshot({ path: join(ARTIFACTS, 'status-page-preheat.png'), fullPage: true });
      // On A, asked by B: its own share, and B as its announcements show it.
      await page.goto(`${a.url}/_shoal/`);
      await eventually(async () => (await page.locator('#preheat tbody tr').count()) === 2, 10_000, 'two rows on A');
      const rowsA = await page.locator('#preheat tbody tr').evaluateAll((trs) => trs.map((tr) => [tr.getAttribute('data-state'), tr.children[0]?.textContent, tr.children[2]?.textContent]));
      assert.deepEqual(rowsA[0], ['done', 'this node', shownSize]);
      assert.deepEqual(rowsA[1], ['holds all', new URL((await status(a)).peers[0]!.url!).host, shownSize]);
      assert.match((await page.locator('#preheat-meta').textContent()) ?? '', /asked by peer/);
      // Whatever a peer reported is shown as text, never as markup.
      const evil = '<img src=x onerror="window.pwned=1">';
      await page.route('**/_shoal/preheat', (route) => route.fulfill({ status: 200, contentType: 'application/json', body: JSON.stringify({
        jobs: [{ images: [evil], nodes: [{ peerId: evil, url: evil, state: evil, done: 'x', total: -1, error: evil, images: [{ image: evil, state: evil }] }], holdings: [{ peerId: evil, held: 5, total: 10 }, null] }],
      }) }));
      await eventually(async () => ((await page.locator('#preheat tbody').textContent()) ?? '').includes(evil), 10_000, 'the hostile report shown');
      assert.equal(await page.locator('main img').count(), 0);
      assert.equal(await page.evaluate(() => (globalThis as { pwned?: number }).pwned), undefined);
      assert.deepEqual(problems, []);
      await page.close();
    } finally {
      await warm.cleanup();
    }
  });

  test('a --no-swarm node without an upstream: no peers, no seed, and says why', async () => {
    browser ??= await launchBrowser();
    const lone = await startShoal();
    try {
      const page = await browser.context.newPage();
      const problems = watchForProblems(page);
      await page.goto(`${lone.url}/_shoal/`);
      await page.waitForSelector('#updated');
      assert.equal(await page.locator('#swarm #swarm-self').count(), 1);
      assert.equal(await page.locator('#swarm g.peer, #swarm g.seed').count(), 0);
      assert.match((await page.locator('#peers-empty').textContent()) ?? '', /--no-swarm/);
      assert.equal(await page.locator('#upstreams-empty').isVisible(), true);
      assert.equal(await page.locator('#images-empty').isVisible(), true);
      await page.screenshot({ path: join(ARTIFACTS, 'status-page-no-swarm.png'), fullPage: true });
      assert.deepEqual(problems, []);
      await page.close();
    } finally {
      await lone.dispose();
    }
  });
});
