// Where a process's resident memory lies, from /proc/<pid>/smaps: glibc's main malloc heap (the
// `[heap]` mapping: Buffers' backing stores, Node's and libuv's own allocations), the rest of its
// anonymous memory (V8's heap pages, thread stacks, malloc's other arenas, large mmapped blocks)
// and files mapped from disk (Node's binary, shared libraries). Read about once a second: the
// file is a few hundred lines per process.
import { readFile } from 'node:fs/promises';

export interface SmapsFigures {
  readonly mallocHeapMiB: number;
  readonly otherAnonMiB: number;
  readonly fileMiB: number;
}

const MAPPING = /^[0-9a-f]+-[0-9a-f]+ \S+ \S+ \S+ \S+\s*(.*)$/;

export async function smapsOf(pid: number): Promise<SmapsFigures> {
  const text = await readFile(`/proc/${pid}/smaps`, 'utf8');
  let name = '';
  const kib = { heap: 0, anon: 0, file: 0 };
  for (const line of text.split('\n')) {
    const mapping = MAPPING.exec(line);
    if (mapping) {
      name = mapping[1] ?? '';
      continue;
    }
    if (!line.startsWith('Rss:')) continue;
    const value = Number(line.split(/\s+/)[1]);
    if (name === '[heap]') kib.heap += value;
    else if (name.startsWith('/')) kib.file += value;
    else kib.anon += value;
  }
  return { mallocHeapMiB: kib.heap / 1024, otherAnonMiB: kib.anon / 1024, fileMiB: kib.file / 1024 };
}
