/** One line of `shoal doctor`'s report; every doctor-* module returns these. */
export type Level = 'ok' | 'warn' | 'fail';

export interface CheckResult {
  readonly name: string;
  readonly level: Level;
  readonly message: string;
  /** What to do, for warn and fail. */
  readonly fix?: string;
}
