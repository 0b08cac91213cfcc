// Repeated full GETs of one or more URLs, interleaved, with the benchmark's client:
//   node bench/tools/get-speed.ts [--rounds N] URL...
// Prints MB/s per round and the medians. For comparing servers (and Node ceilings such as
// bench/tools/raw-file-server.ts) outside the full benchmark.
import { benchAgent, median, timedGet } from '../lib/http-get.ts';

const argv = process.argv.slice(2);
let rounds = 9;
const urls: string[] = [];
for (let i = 0; i < argv.length; i++) {
  if (argv[i] === '--rounds') rounds = Number(argv[++i]);
  else urls.push(argv[i]!);
}
if (urls.length === 0) throw new Error('usage: get-speed.ts [--rounds N] URL...');
const agent = benchAgent();
const speeds = urls.map(() => [] as number[]);
for (const url of urls) await timedGet(url, agent); // warm-up
for (let round = 0; round < rounds; round++) {
  // Rotate the order every round so no URL always goes first.
  const line: string[] = [];
  for (let k = 0; k < urls.length; k++) {
    const i = (k + round) % urls.length;
    const got = await timedGet(urls[i]!, agent);
    if (got.status !== 200) throw new Error(`${urls[i]}: ${got.status}`);
    speeds[i]!.push(got.mbPerSec);
  }
  for (let i = 0; i < urls.length; i++) line.push(speeds[i]!.at(-1)!.toFixed(0).padStart(6));
  process.stdout.write(`round ${String(round + 1).padStart(2)}: ${line.join(' ')}\n`);
}
process.stdout.write(`median:   ${speeds.map((s) => median(s).toFixed(0).padStart(6)).join(' ')}  MB/s\n`);
urls.forEach((url, i) => process.stdout.write(`  [${i}] ${url}\n`));
await agent.close();
