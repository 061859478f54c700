/**
 * The cost meter of one evaluation, and the decision time helpers read.
 *
 * @bufbuild/cel has no cost tracking, so the engine charges for work itself (see docs/cel.md, "Cost"):
 * every function or operator call the evaluator dispatches costs 1 plus the size of its string,
 * bytes, list and map arguments, and every step of a comprehension (all, exists, exists_one, map,
 * filter) costs 1. The deadline is checked on every charge. Exhaustion throws past the library's own
 * error handling, so `true || <over budget>` cannot swallow it, and is also recorded on the meter so
 * that the caller reports it even if something did.
 */
export type Exhaustion = 'budget' | 'deadline';

export class CostExhaustedError extends Error {
  readonly code: 'CEL_COST_BUDGET_EXCEEDED' | 'CEL_DEADLINE_EXCEEDED';
  constructor(kind: Exhaustion, message: string) {
    super(message);
    this.name = 'CostExhaustedError';
    this.code = kind === 'budget' ? 'CEL_COST_BUDGET_EXCEEDED' : 'CEL_DEADLINE_EXCEEDED';
  }
}

export class CostMeter {
  readonly budget: number;
  readonly deadlineMs: number;
  private readonly deadlineAt: number;
  used = 0;
  exhausted: CostExhaustedError | undefined;

  constructor(budget: number, deadlineMs: number) {
    this.budget = budget;
    this.deadlineMs = deadlineMs;
    this.deadlineAt = performance.now() + deadlineMs;
  }

  charge(units: number): void {
    if (this.exhausted !== undefined) throw this.exhausted;
    this.used += units;
    if (this.used > this.budget) {
      this.exhausted = new CostExhaustedError('budget', `exceeded the cost budget of ${this.budget}`);
    } else if (performance.now() > this.deadlineAt) {
      this.exhausted = new CostExhaustedError('deadline', `exceeded the deadline of ${this.deadlineMs} ms`);
    }
    if (this.exhausted !== undefined) throw this.exhausted;
  }
}

export interface Evaluation {
  readonly meter: CostMeter;
  /** The decision time in milliseconds since the epoch, given by the caller. */
  readonly nowMs: number;
}

// Evaluation is synchronous, so one slot is enough: helpers find the evaluation that called them here.
let current: Evaluation | undefined;

export function withEvaluation<T>(evaluation: Evaluation, run: () => T): T {
  const previous = current;
  current = evaluation;
  try {
    return run();
  } finally {
    current = previous;
  }
}

export function currentEvaluation(): Evaluation {
  if (current === undefined) throw new Error('a CEL helper was called outside an evaluation');
  return current;
}
