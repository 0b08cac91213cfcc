// What a failed filesystem call meant, by its errno code. A leaf: imports nothing from src/.
import { userInfo } from 'node:os';

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

/**
 * Why a file shoal must read could not be, and what to do: for a permission refused, that the user
 * shoal runs as needs read access (keygen and the setup steps write secrets root-only, 0600, while
 * the service runs as its own user), else the errno code.
 */
export function unreadableReason(path: string, error: unknown): string {
  const code = (error as NodeJS.ErrnoException | undefined)?.code;
  if (code === 'EACCES' || code === 'EPERM') {
    const user = userName();
    return `${code}: the user shoal runs as (${user}) may not read it; give it read access, e.g. chown ${user} ${path} (the folders above it must let that user through too)`;
  }
  return code ?? String(error);
}

function userName(): string {
  try {
    return userInfo().username;
  } catch {
    return `uid ${process.getuid?.() ?? '?'}`;
  }
}
