/**
 * Evaluating a compiled condition. Every failure (bad input, runtime error, non-boolean result,
 * budget or deadline exceeded) comes back as `ok: false` with a message naming the expression, so
 * that the caller denies: a condition that could not be decided never allows.
 */
import { celType, isCelError, type CelError, type CelInput, type CelResult } from '@bufbuild/cel';
import type { CompiledCondition } from './compile.ts';
import { NOW_VARIABLE } from './compile.ts';
import { CelInputError, jsonToCel } from './json.ts';
import { CEL_LIMITS, JSON_INPUT_LIMITS, type JsonInputLimits } from './limits.ts';
import { CostExhaustedError, CostMeter, withEvaluation } from './meter.ts';
import { lineAndColumn } from './source.ts';

export interface EvaluateOptions {
  /** The decision time: bound to `now` and used by isWithin(). Given, never read from the clock, so
   *  that a decision can be reproduced. */
  readonly now: Date;
  /** Cost units one evaluation may use (see docs/cel.md); default CEL_LIMITS.defaultCostBudget. */
  readonly costBudget?: number;
  /** Wall-clock milliseconds one evaluation may take; default CEL_LIMITS.defaultDeadlineMs. */
  readonly deadlineMs?: number;
  readonly inputLimits?: JsonInputLimits;
}

export type EvaluationErrorCode =
  | 'CEL_INPUT_INVALID'
  | 'CEL_INPUT_TOO_LARGE'
  | 'CEL_RUNTIME_ERROR'
  | 'CEL_NOT_BOOLEAN'
  | 'CEL_COST_BUDGET_EXCEEDED'
  | 'CEL_DEADLINE_EXCEEDED';

export type EvaluateResult =
  | { readonly ok: true; readonly value: boolean; readonly cost: number }
  | {
      readonly ok: false;
      readonly code: EvaluationErrorCode;
      /** For people: names the expression and says what went wrong (and where, when known). */
      readonly error: string;
      /** Position inside the expression of the part that failed, when known. */
      readonly offset?: number;
      readonly line?: number;
      readonly column?: number;
      readonly cost: number;
    };

function quote(expression: string): string {
  const oneLine = expression.replace(/\s+/g, ' ').trim();
  return `\`${oneLine.length > 200 ? `${oneLine.slice(0, 200)}...` : oneLine}\``;
}

function timestampOf(now: Date): CelInput | undefined {
  if (!(now instanceof Date) || Number.isNaN(now.getTime())) return undefined;
  const ms = now.getTime();
  const seconds = Math.floor(ms / 1000);
  // A google.protobuf.Timestamp message as protobuf-es represents it; the evaluator reflects it into a
  // CEL timestamp when it is read (the library's own conversion needs its evaluation context).
  const message = {
    $typeName: 'google.protobuf.Timestamp',
    seconds: BigInt(seconds),
    nanos: (ms - seconds * 1000) * 1e6,
  };
  return message as unknown as CelInput;
}

const NESTED_TOO_DEEPLY = 'the data or intermediate results are nested too deeply to evaluate';

/** The deepest cause first: the library wraps a thrown error in a CelError with it as the cause. */
function rootCause(error: CelError): unknown {
  let cause: unknown = error;
  for (let i = 0; i < 10 && cause instanceof Error && cause.cause !== undefined; i++) cause = cause.cause;
  return cause;
}

function findInChain<T>(error: unknown, type: abstract new (...args: never[]) => T): T | undefined {
  let e: unknown = error;
  for (let i = 0; i < 10 && e !== undefined; i++) {
    if (e instanceof type) return e;
    e = e instanceof Error ? e.cause : undefined;
  }
  return undefined;
}

export function evaluateCondition(
  program: CompiledCondition,
  bindings: Readonly<Record<string, unknown>>,
  options: EvaluateOptions,
): EvaluateResult {
  const fail = (
    code: EvaluationErrorCode,
    message: string,
    cost: number,
    offset?: number,
  ): EvaluateResult => {
    const where = offset === undefined ? undefined : lineAndColumn(program.expression, offset);
    const at = where === undefined ? '' : ` (line ${where.line}, column ${where.column})`;
    return {
      ok: false,
      code,
      error: `condition ${quote(program.expression)}: ${message}${at}`,
      ...(offset === undefined ? {} : { offset, ...where }),
      cost,
    };
  };

  const now = timestampOf(options.now);
  if (now === undefined) return fail('CEL_INPUT_INVALID', 'the decision time (now) is not a valid date', 0);
  const values: Record<string, CelInput> = { [NOW_VARIABLE.name]: now };
  for (const name of program.variables) {
    if (name === NOW_VARIABLE.name || !Object.hasOwn(bindings, name)) continue;
    try {
      values[name] = jsonToCel(bindings[name], name, options.inputLimits ?? JSON_INPUT_LIMITS);
    } catch (e) {
      if (e instanceof CelInputError) return fail(e.code, `input ${e.message}`, 0);
      return fail('CEL_INPUT_INVALID', `input ${name}: ${(e as Error)?.message ?? e}`, 0);
    }
  }

  const meter = new CostMeter(
    options.costBudget ?? CEL_LIMITS.defaultCostBudget,
    options.deadlineMs ?? CEL_LIMITS.defaultDeadlineMs,
  );
  let result: CelResult;
  try {
    result = withEvaluation({ meter, nowMs: options.now.getTime() }, () => program.run(values));
  } catch (e) {
    // The library returns errors rather than throwing; what is thrown is exhaustion (which the meter
    // records) or a failure of the evaluator itself, which must deny like any other error.
    if (meter.exhausted === undefined) {
      const reason =
        e instanceof RangeError ? NESTED_TOO_DEEPLY : `evaluation failed: ${(e as Error)?.message ?? e}`;
      return fail('CEL_RUNTIME_ERROR', reason, meter.used);
    }
    result = false;
  }
  const exhausted =
    meter.exhausted ?? (isCelError(result) ? findInChain(result, CostExhaustedError) : undefined);
  if (exhausted !== undefined)
    return fail(exhausted.code, `${exhausted.message} (used ${meter.used})`, meter.used);

  if (isCelError(result)) {
    const cause = rootCause(result);
    const offset = result.exprId === undefined ? undefined : program.positions.get(result.exprId);
    if (cause instanceof RangeError) {
      return fail('CEL_RUNTIME_ERROR', NESTED_TOO_DEEPLY, meter.used);
    }
    let message = result.message;
    const ident = result.exprId === undefined ? undefined : program.identifiers.get(result.exprId);
    if (ident !== undefined && message === 'unresolved attribute')
      message = `no value was given for '${ident}'`;
    return fail('CEL_RUNTIME_ERROR', message, meter.used, offset);
  }
  if (typeof result !== 'boolean') {
    return fail(
      'CEL_NOT_BOOLEAN',
      `condition must evaluate to a boolean, got ${celType(result).name}`,
      meter.used,
    );
  }
  return { ok: true, value: result, cost: meter.used };
}
