/** Why the harness could not set up what a test asked for (a missing tool, a refused push, a bad fixture). */
export class HarnessError extends Error {
  readonly code: string;
  constructor(code: string, message: string) {
    super(message);
    this.name = 'HarnessError';
    this.code = code;
  }
}
