// A worker process of the real part (bench/scale/real.ts --real-processes): one HostGroup, driven
// over the IPC channel by calls { id, op, args } answered by { id, result } or { id, error }.
import { readFile } from 'node:fs/promises';
import { HostGroup, type GroupInit } from './host-group.ts';

let group: HostGroup | undefined;

async function call(op: string, args: unknown[]): Promise<unknown> {
  if (op === 'init') {
    const [init, contentPath] = args as [GroupInit, string];
    group = new HostGroup(init, await readFile(contentPath));
    return undefined;
  }
  if (group === undefined) throw new Error(`${op} before init`);
  switch (op) {
    case 'start':
      return group.start(args[0] as number, args[1] as string[]);
    case 'census':
      return group.census();
    case 'started':
      return group.started(args[0] as string[]);
    case 'endPhase':
      return group.endPhase();
    case 'pull':
      return group.pull();
    case 'close':
      await group.close();
      setImmediate(() => process.exit(0));
      return undefined;
    default:
      throw new Error(`unknown call ${op}`);
  }
}

process.on('message', (message: { id: number; op: string; args: unknown[] }) => {
  call(message.op, message.args).then(
    (result) => process.send?.({ id: message.id, result }),
    (error: unknown) => process.send?.({ id: message.id, error: error instanceof Error ? error.stack ?? error.message : String(error) }),
  );
});
// The parent gone (it failed or was stopped): its hosts go too.
process.on('disconnect', () => process.exit(0));
