// A minimal ustar writer: enough for test layers that docker can load (files and directories).

export interface TarFile {
  /** Path inside the archive; a trailing '/' makes a directory. */
  readonly name: string;
  readonly content?: string | Buffer;
  readonly mode?: number;
}

/** The tar archive of `files` (ustar, mtime 0, root-owned, so the same files give the same bytes). */
export function ustar(files: readonly TarFile[]): Buffer {
  const blocks: Buffer[] = [];
  for (const file of files) {
    const isDir = file.name.endsWith('/');
    const content = isDir ? Buffer.alloc(0) : Buffer.from(file.content ?? '');
    blocks.push(tarHeader(file.name, content.byteLength, file.mode ?? (isDir ? 0o755 : 0o644), isDir ? '5' : '0'));
    blocks.push(content, Buffer.alloc((512 - (content.byteLength % 512)) % 512));
  }
  blocks.push(Buffer.alloc(1024));
  return Buffer.concat(blocks);
}

function tarHeader(name: string, size: number, mode: number, type: string): Buffer {
  const header = Buffer.alloc(512);
  let prefix = '';
  let base = name;
  if (Buffer.byteLength(name) > 100) {
    const cut = name.lastIndexOf('/', name.length - 2);
    prefix = name.slice(0, cut);
    base = name.slice(cut + 1);
    if (cut < 0 || Buffer.byteLength(base) > 100 || Buffer.byteLength(prefix) > 155) throw new Error(`tar name too long: ${name}`);
  }
  const put = (text: string, offset: number, length: number) => header.write(text, offset, length, 'utf8');
  const octal = (value: number, length: number) => value.toString(8).padStart(length - 1, '0') + '\0';
  put(base, 0, 100);
  put(octal(mode, 8), 100, 8);
  put(octal(0, 8), 108, 8); // uid
  put(octal(0, 8), 116, 8); // gid
  put(octal(size, 12), 124, 12);
  put(octal(0, 12), 136, 12); // mtime: fixed, so layers are reproducible
  put('        ', 148, 8); // checksum counts as spaces while computed
  put(type, 156, 1);
  put('ustar\u000000', 257, 8);
  put('root', 265, 32);
  put('root', 297, 32);
  put(prefix, 345, 155);
  let sum = 0;
  for (const byte of header) sum += byte;
  put(sum.toString(8).padStart(6, '0') + '\0 ', 148, 8);
  return header;
}
