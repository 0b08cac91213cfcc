// A tiny network probe to run inside a test host (`host.spawnNode(NETNS_PROBE, [...])`). Each
// command prints one JSON line per result on stdout (and `READY` lines where noted):
//   sink <port>                                  TCP server; per connection replies `<bytes received>\n` at end-of-stream. Prints READY.
//   send <host> <port> <bytes>                   sends that many bytes, prints {bytes, acked, ms} (connect to ack)
//   connect <timeoutMs> <host:port>...           prints [{target, ok, code, ms}] for TCP connects
//   mcast-recv <group> <port> <count>            joins the group, prints READY, then {from, message} per datagram; exits after <count>
//   mcast-send <group> <port> <message> <times> <intervalMs>
//   hold <prefix> <subnet>                       (root namespace) creates a 2-host network with a process in it, prints {namespaces}, never exits
import { createServer, connect, type Socket } from 'node:net';
import { createSocket } from 'node:dgram';
import { resolve } from 'node:path';

export const NETNS_PROBE = resolve(import.meta.dirname, 'netns-probe.ts');

const print = (value: unknown): void => void process.stdout.write(`${JSON.stringify(value)}\n`);

async function sink(port: number): Promise<void> {
  const server = createServer((socket) => {
    let bytes = 0;
    socket.on('data', (chunk: Buffer) => (bytes += chunk.length));
    socket.on('end', () => socket.end(`${bytes}\n`));
    socket.on('error', () => {});
  });
  server.listen(port, '0.0.0.0', () => process.stdout.write(`READY ${port}\n`));
}

async function send(host: string, port: number, total: number): Promise<void> {
  const chunk = Buffer.alloc(64 * 1024, 0x61);
  const socket = connect({ host, port });
  socket.setNoDelay(true);
  await new Promise<void>((done, fail) => socket.once('connect', done).once('error', fail));
  const start = performance.now();
  let reply = '';
  socket.setEncoding('utf8').on('data', (text: string) => (reply += text));
  const ended = new Promise<void>((done, fail) => socket.once('end', done).once('error', fail));
  for (let sent = 0; sent < total; ) {
    const piece = Math.min(chunk.length, total - sent);
    sent += piece;
    if (!socket.write(piece === chunk.length ? chunk : chunk.subarray(0, piece))) await new Promise((done) => socket.once('drain', done));
  }
  socket.end();
  await ended;
  print({ bytes: total, acked: Number(reply.trim()), ms: performance.now() - start });
}

function connectOnce(target: string, timeoutMs: number): Promise<{ target: string; ok: boolean; code?: string; ms: number }> {
  const colon = target.lastIndexOf(':');
  const start = performance.now();
  return new Promise((done) => {
    const socket: Socket = connect({ host: target.slice(0, colon), port: Number(target.slice(colon + 1)) });
    const finish = (ok: boolean, code?: string) => {
      clearTimeout(timer);
      socket.destroy();
      done({ target, ok, ...(code ? { code } : {}), ms: Math.round(performance.now() - start) });
    };
    const timer = setTimeout(() => finish(false, 'TIMEOUT'), timeoutMs);
    socket.once('connect', () => finish(true));
    socket.once('error', (error: NodeJS.ErrnoException) => finish(false, error.code ?? error.message));
  });
}

async function mcastRecv(group: string, port: number, count: number): Promise<void> {
  const socket = createSocket({ type: 'udp4', reuseAddr: true });
  let seen = 0;
  socket.on('message', (message, remote) => {
    print({ from: remote.address, message: message.toString() });
    if (++seen >= count) socket.close();
  });
  await new Promise<void>((done) => socket.bind(port, '0.0.0.0', done));
  socket.addMembership(group); // no interface named: the kernel picks it by the route for 224.0.0.0/4
  process.stdout.write('READY\n');
}

async function mcastSend(group: string, port: number, message: string, times: number, intervalMs: number): Promise<void> {
  const socket = createSocket({ type: 'udp4', reuseAddr: true });
  await new Promise<void>((done) => socket.bind(0, done));
  socket.setMulticastTTL(255);
  for (let i = 0; i < times; i++) {
    await new Promise<void>((done, fail) => socket.send(message, port, group, (error) => (error ? fail(error) : done())));
    if (i + 1 < times) await new Promise((done) => setTimeout(done, intervalMs));
  }
  socket.close();
  print({ sent: times });
}

async function hold(prefix: string, subnet: string): Promise<void> {
  const { createTestNetwork } = await import('./netns.ts');
  const network = await createTestNetwork({ hosts: 2, prefix, subnet });
  network.hosts[0]!.spawn('sleep', ['600'], { stdio: 'ignore' });
  print({ namespaces: network.namespaces() });
  setInterval(() => {}, 60_000);
}

async function main(argv: string[]): Promise<void> {
  const [command, ...args] = argv;
  const arg = (i: number): string => {
    const value = args[i];
    if (value === undefined) throw new Error(`${command}: missing argument ${i + 1}`);
    return value;
  };
  switch (command) {
    case 'sink':
      return sink(Number(arg(0)));
    case 'send':
      return send(arg(0), Number(arg(1)), Number(arg(2)));
    case 'connect':
      return print(await Promise.all(args.slice(1).map((target) => connectOnce(target, Number(arg(0))))));
    case 'mcast-recv':
      return mcastRecv(arg(0), Number(arg(1)), Number(arg(2)));
    case 'mcast-send':
      return mcastSend(arg(0), Number(arg(1)), arg(2), Number(arg(3)), Number(arg(4)));
    case 'hold':
      return hold(arg(0), arg(1));
    default:
      throw new Error(`unknown probe command ${command}`);
  }
}

if (process.argv[1] === NETNS_PROBE) {
  main(process.argv.slice(2)).catch((error: unknown) => {
    process.stderr.write(`${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
    process.exit(1);
  });
}
