// Runs inside a test host (`host.spawnNode(FANOUT_PROBE, [...])`) for the fan-out benchmark:
//
//   poll <url> <intervalMs> <timeoutMs> [accept]
//     HEADs <url> every <intervalMs> over one kept-alive connection until it answers 200. Prints
//     `READY` once the first request was answered (whatever its status), then one JSON line:
//     {ok, sentAt, at, polls, lastStatus} — `sentAt`/`at`: epoch ms (Date.now(), the one clock all
//     namespaces share) when the successful request was sent and when its answer arrived.
import { Agent, request } from 'node:http';

const print = (value: unknown): void => void process.stdout.write(`${JSON.stringify(value)}\n`);
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

function head(url: URL, agent: Agent, accept: string | undefined): Promise<number> {
  return new Promise((resolve) => {
    const req = request(url, { method: 'HEAD', agent, headers: accept ? { accept } : {}, timeout: 5_000 }, (res) => {
      res.resume();
      res.once('end', () => resolve(res.statusCode ?? 0));
    });
    req.once('timeout', () => req.destroy(new Error('timeout')));
    req.once('error', () => resolve(0));
    req.end();
  });
}

async function poll(url: URL, intervalMs: number, timeoutMs: number, accept: string | undefined): Promise<void> {
  const agent = new Agent({ keepAlive: true, maxSockets: 1 });
  const deadline = Date.now() + timeoutMs;
  let polls = 0;
  let lastStatus = 0;
  let ready = false;
  for (;;) {
    const sentAt = Date.now();
    lastStatus = await head(url, agent, accept);
    const at = Date.now();
    polls++;
    if (!ready) {
      ready = true;
      process.stdout.write('READY\n');
    }
    if (lastStatus === 200 && polls > 1) {
      print({ ok: true, sentAt, at, polls, lastStatus });
      break;
    }
    if (lastStatus === 200) {
      // Answered 200 before anything was pushed: the reference is wrong for this measurement.
      print({ ok: false, sentAt, at, polls, lastStatus, why: 'already present at the first poll' });
      break;
    }
    if (at > deadline) {
      print({ ok: false, sentAt, at, polls, lastStatus, why: 'timeout' });
      break;
    }
    await sleep(Math.max(0, intervalMs - (at - sentAt)));
  }
  agent.destroy();
}

async function main(argv: string[]): Promise<void> {
  const [command, ...args] = argv;
  if (command === 'poll') {
    const [url, interval, timeout, accept] = args;
    if (!url || !interval || !timeout) throw new Error('usage: poll <url> <intervalMs> <timeoutMs> [accept]');
    return poll(new URL(url), Number(interval), Number(timeout), accept);
  }
  throw new Error(`unknown probe command ${String(command)}`);
}

main(process.argv.slice(2)).catch((error: unknown) => {
  process.stderr.write(`${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
  process.exit(1);
});
