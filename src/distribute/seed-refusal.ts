// A seed that refuses shoal itself (its credentials rejected or missing, or no pull access there)
// is the operator's problem, not the client's: passed on as 401 it tells docker to log in to
// shoal, and as "did not answer" it hides that the seed did answer (operator audit).
import { OciError } from '../oci/index.ts';

/** The seed's 401/403 to shoal, as a client should get it: 503 naming the cause and the fix; any other error as it is. */
export function seedRefusal(error: unknown): unknown {
  if (!(error instanceof OciError) || (error.code !== 'UNAUTHORIZED' && error.code !== 'DENIED')) return error;
  return new OciError('UNAVAILABLE', `the seed registry refused shoal (${error.message}); fix the credentials shoal has for it (--upstream-username and --upstream-password-file, or docker login <seed> as the user shoal runs as), then retry`, undefined, { cause: error });
}

/** Whether `error` is a seed's refusal of shoal (see seedRefusal). */
export function isSeedRefusal(error: unknown): boolean {
  return error instanceof OciError && error.code === 'UNAVAILABLE' && error.message.startsWith('the seed registry refused shoal');
}
