/** Unix habits: 0 everything allowed, 1 something denied, 2 usage, policy, configuration or input errors. */
export const EXIT_ALLOWED = 0;
export const EXIT_DENIED = 1;
export const EXIT_ERROR = 2;

/** An error whose message is for the user as is: printed without a stack trace, exit 2. */
export class UsageError extends Error {
  readonly code = 'USAGE';
  constructor(message: string) {
    super(message);
    this.name = 'UsageError';
  }
}
