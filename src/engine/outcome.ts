/** What evaluating one rule against one image produced. */
export interface RuleOutcome {
  readonly verdict: 'pass' | 'fail';
  /** One human sentence: why it passed or failed. Shown to users verbatim. */
  readonly reason: string;
}

export const pass = (reason: string): RuleOutcome => ({ verdict: 'pass', reason });
export const fail = (reason: string): RuleOutcome => ({ verdict: 'fail', reason });
