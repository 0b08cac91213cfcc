// What a failed filesystem call meant, by its errno code. A leaf: imports nothing from src/.

/** ENOENT or ENOTDIR: the path (or a folder on it) is not there. */
export function isNotFound(error: unknown): boolean {
  const code = (error as NodeJS.ErrnoException | undefined)?.code;
  return code === 'ENOENT' || code === 'ENOTDIR';
}

/** ENOSPC or EDQUOT: the data directory's filesystem (or the user's quota) is full. */
export function isDiskFull(error: unknown): boolean {
  const code = (error as NodeJS.ErrnoException | undefined)?.code;
  return code === 'ENOSPC' || code === 'EDQUOT';
}
