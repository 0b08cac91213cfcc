// The ceiling of bench/peer-transfer.bench.ts's path with no user-space work at all: one blob
// from host a to host b over the same kind of unshaped veth and bridge (test/helpers/netns.ts),
// sent with sendfile(2) from the page cache and received with recv_into a reused 1 MiB buffer
// (python3, so no Node is in the way). Prints MB/s and the CPU-seconds per GiB of each process
// (the kernel's softirq work for the veth is not in them), with the load average.
//
//   node bench/tools/veth-raw.ts [--mib 1024] [--rounds 4]     (needs root, iproute2, python3)
import { writeFileSync, rmSync } from 'node:fs';
import { mkdtemp } from 'node:fs/promises';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { createTestNetwork } from '../../test/helpers/netns.ts';
import { parseFlags } from '../lib/args.ts';
import { writeRandomFile } from '../lib/random-file.ts';

const RECEIVE = `
import socket, sys, time, resource
s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind((sys.argv[1], int(sys.argv[2]))); s.listen(1); print('listening', flush=True)
c, _ = s.accept(); buf = bytearray(1 << 20); n = 0; t = time.monotonic(); r0 = resource.getrusage(resource.RUSAGE_SELF)
while True:
    k = c.recv_into(buf)
    if k == 0: break
    n += k
r = resource.getrusage(resource.RUSAGE_SELF)
print(n, time.monotonic() - t, r.ru_utime - r0.ru_utime + r.ru_stime - r0.ru_stime, flush=True)
`;
const SEND = `
import socket, sys, os, resource
f = os.open(sys.argv[3], os.O_RDONLY); size = os.fstat(f).st_size
c = socket.create_connection((sys.argv[1], int(sys.argv[2]))); r0 = resource.getrusage(resource.RUSAGE_SELF); off = 0
while off < size: off += os.sendfile(c.fileno(), f, off, size - off)
c.close(); r = resource.getrusage(resource.RUSAGE_SELF)
print(r.ru_utime - r0.ru_utime + r.ru_stime - r0.ru_stime, flush=True)
`;

const flags = parseFlags(process.argv.slice(2), { switches: [], values: ['mib', 'rounds'] });
const size = Number(flags.get('mib') ?? 1024) * 2 ** 20;
const rounds = Number(flags.get('rounds') ?? 4);
const dir = await mkdtemp(join(tmpdir(), 'shoal-veth-raw-'));
const net = await createTestNetwork({ hosts: ['a', 'b'], subnet: '10.219.0.0/24', prefix: 'shoalvr' });
try {
  const [a, b] = net.hosts as [typeof net.hosts[0], typeof net.hosts[0]];
  writeFileSync(join(dir, 'receive.py'), RECEIVE);
  writeFileSync(join(dir, 'send.py'), SEND);
  const blob = await writeRandomFile(join(dir, 'blob'), size);
  for (let round = 0; round < rounds; round++) {
    const server = b.spawn('python3', [join(dir, 'receive.py'), b.address, '7000'], { stdio: ['ignore', 'pipe', 'inherit'] });
    const exited = new Promise((resolve) => server.once('exit', resolve));
    let output = '';
    await new Promise<void>((resolve) => server.stdout!.on('data', (data: Buffer) => (output += data.toString()).includes('listening') && resolve()));
    const sent = await a.exec('python3', [join(dir, 'send.py'), b.address, '7000', blob.path], { timeoutMs: 120_000 });
    await exited;
    const [bytes, seconds, receiverCpu] = output.trim().split('\n').at(-1)!.split(' ').map(Number) as [number, number, number];
    const gib = bytes / 2 ** 30;
    process.stdout.write(`round ${round + 1}: ${(bytes / 1e6 / seconds).toFixed(0)} MB/s, sender ${(Number(sent.stdout.trim()) / gib).toFixed(2)}, receiver ${(receiverCpu / gib).toFixed(2)} CPU-s/GiB, load ${loadavg()[0]!.toFixed(1)}\n`);
  }
} finally {
  await net.destroy();
  rmSync(dir, { recursive: true, force: true });
}
