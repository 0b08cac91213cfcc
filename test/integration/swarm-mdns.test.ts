// Discovery by mDNS alone. Multicast from this process would leave the machine through eth0 (the
// only multicast interface of the root namespace), so the swarms run in a child process inside a
// fresh network namespace (`unshare --net`) whose only interface is loopback, with multicast on
// and 224.0.0.0/4 routed to it: three swarms there find each other as hosts on a LAN would.
import { after, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { createSwarm, type Swarm } from '../../src/swarm/index.ts';

const SCENARIO_ENV = 'SHOAL_SWARM_MDNS_SCENARIO';
const RESULT_MARK = 'SWARM_MDNS_RESULT ';
const digest = (n: number) => `sha256:${n.toString(16).padStart(64, '0')}`;

interface ScenarioResult {
  readonly meshMs: number;
  readonly peers: number[];
  readonly holdersSeen: boolean;
  readonly haveMs: number;
  readonly rejoinMs: number;
  readonly sameIdAfterRejoin: boolean;
}

/** Runs inside the namespace: three swarms, no bootstrap list, mDNS only. */
async function scenario(): Promise<ScenarioResult> {
  const swarms: Swarm[] = [];
  const make = async (n: number) => {
    const s = await createSwarm({ listenAddresses: ['127.0.0.1'], dataPort: 5001 + n, mdns: { intervalMs: 1_000 } }, { inventory: () => [{ digest: digest(n), size: n }] });
    swarms.push(s);
    await s.start();
    return s;
  };
  const until = async (check: () => boolean, what: string) => {
    const deadline = Date.now() + 20_000;
    while (!check()) {
      if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
      await new Promise((resolve) => setTimeout(resolve, 10));
    }
  };
  const synced = (s: Swarm) => s.peers().filter((p) => p.synced).length;
  try {
    const start = Date.now();
    const [a, b, c] = [await make(1), await make(2), await make(3)] as [Swarm, Swarm, Swarm];
    await until(() => [a, b, c].every((s) => synced(s) === 2), 'a synced mesh of three');
    const meshMs = Date.now() - start;
    const holdersSeen = a.holders(digest(2)).length === 1 && a.holders(digest(3)).length === 1 && c.holders(digest(1)).length === 1;
    const haveStart = Date.now();
    const seen = Promise.all([b.once('have'), c.once('have')]);
    a.announceHave(digest(42), 42);
    await seen;
    const haveMs = Date.now() - haveStart;
    // b goes away and comes back with the same identity: a and c find it again by mDNS.
    const bId = b.peerId;
    await b.stop();
    await until(() => a.peers().length === 1 && c.peers().length === 1, 'b to be dropped');
    const rejoinStart = Date.now();
    await b.start();
    await until(() => [a, b, c].every((s) => synced(s) === 2), 'b to be found again');
    return { meshMs, peers: [a, b, c].map((s) => s.peers().length), holdersSeen, haveMs, rejoinMs: Date.now() - rejoinStart, sameIdAfterRejoin: b.peers().length === 2 && a.peers().some((p) => p.peerId === bId) };
  } finally {
    await Promise.all(swarms.map((s) => s.stop()));
  }
}

if (process.env[SCENARIO_ENV] === '1') {
  const result = await scenario();
  process.stdout.write(`${RESULT_MARK}${JSON.stringify(result)}\n`);
} else {
  let child: ChildProcess | undefined;
  after(() => {
    if (child?.exitCode === null) child.kill('SIGKILL');
  });

  describe('mDNS discovery (in a loopback-only network namespace)', { timeout: 90_000 }, () => {
    test('three swarms find each other by mDNS alone, exchange inventories, and find a restarted one again', async () => {
      const setup = 'ip link set lo up && ip link set lo multicast on && ip route add 224.0.0.0/4 dev lo && exec "$0" "$1"';
      child = spawn('unshare', ['--net', 'sh', '-c', setup, process.execPath, fileURLToPath(import.meta.url)], {
        env: { ...process.env, [SCENARIO_ENV]: '1' },
        stdio: ['ignore', 'pipe', 'pipe'],
        timeout: 60_000,
      });
      let stdout = '';
      let stderr = '';
      child.stdout!.on('data', (chunk) => (stdout += chunk));
      child.stderr!.on('data', (chunk) => (stderr += chunk));
      const code = await new Promise<number | null>((resolve) => child!.on('close', resolve));
      assert.equal(code, 0, `scenario failed (exit ${code}):\n${stderr}`);
      const line = stdout.split('\n').find((l) => l.startsWith(RESULT_MARK));
      assert.ok(line, `no result from the scenario:\n${stdout}\n${stderr}`);
      const result = JSON.parse(line.slice(RESULT_MARK.length)) as ScenarioResult;
      console.log(`mDNS: mesh of 3 in ${result.meshMs} ms, have to both peers in ${result.haveMs} ms, restarted peer found again in ${result.rejoinMs} ms`);
      assert.deepEqual(result.peers, [2, 2, 2]);
      assert.equal(result.holdersSeen, true);
      assert.equal(result.sameIdAfterRejoin, true);
      assert.ok(result.haveMs < 1_000);
    });
  });
}
