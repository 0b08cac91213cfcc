// A seed that refuses shoal itself (its credentials rejected or missing, or no pull access there)
// is the operator's problem, not the client's: passed on as 401 it tells docker to log in to
// shoal, and as "did not answer" it hides that the seed did answer (operator audit).
import { OciError } from '../oci/index.ts';

/** 503 UNAVAILABLE to the client, known for what it is (the log warns of it). */
export class SeedRefusedError extends OciError {
  constructor(refusal: OciError) {
    super('UNAVAILABLE', `the seed registry refused shoal (${refusal.message}); fix the credentials shoal has for it (--upstream-username and --upstream-password-file, or docker login <seed> as the user shoal runs as), then retry`, undefined, { cause: refusal });
  }
}

/** The seed's 401/403 to shoal, as a client should get it (SeedRefusedError); any other error as it is. */
export function seedRefusal(error: unknown): unknown {
  if (!(error instanceof OciError) || (error.code !== 'UNAUTHORIZED' && error.code !== 'DENIED')) return error;
  return new SeedRefusedError(error);
}
