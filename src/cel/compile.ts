/**
 * Compiling a CEL condition: bound the source, parse, check names (checker.ts), insert the charged
 * step into each macro loop, and plan it in the metered environment (environment.ts). Errors carry
 * their position inside the expression so that the policy linter can add the position of the YAML
 * node the expression came from.
 */
import { parse, plan, type CelInput, type CelResult } from '@bufbuild/cel';
import { Checker, type Expr } from './checker.ts';
import { env, STEP } from './environment.ts';
import { CEL_LIMITS } from './limits.ts';
import { lineAndColumn, scanSource } from './source.ts';
import { LOCATE_MAX_LENGTH, locateSyntaxError, tokenAt } from './syntax.ts';

type ParsedExpr = ReturnType<typeof parse>;

export interface VariableDecl {
  readonly name: string;
  /** For people: what the variable holds (shown by the linter and in docs). */
  readonly description?: string;
}

export interface ConditionError {
  readonly code:
    'CEL_SYNTAX' | 'CEL_TOO_LARGE' | 'CEL_UNDECLARED' | 'CEL_UNKNOWN_FUNCTION' | 'CEL_UNSUPPORTED';
  readonly message: string;
  /** 0-based offset inside the expression (UTF-16 code units). */
  readonly offset: number;
  /** 1-based line and column inside the expression. */
  readonly line: number;
  readonly column: number;
}

/** A compiled condition; opaque to callers apart from the fields below. */
export interface CompiledCondition {
  readonly expression: string;
  /** The variables it may read, `now` included. */
  readonly variables: readonly string[];
  /** @internal */
  readonly run: (bindings: Record<string, CelInput>) => CelResult;
  /** @internal offset in `expression` of each node id, to place runtime errors. */
  readonly positions: ReadonlyMap<bigint, number>;
  /** @internal identifier name of each ident node, to name a variable that had no value. */
  readonly identifiers: ReadonlyMap<bigint, string>;
}

export type CompileResult =
  | { readonly ok: true; readonly program: CompiledCondition }
  | { readonly ok: false; readonly errors: ConditionError[] };

/** Always declared: the decision time, given by the caller of evaluateCondition. */
export const NOW_VARIABLE: VariableDecl = { name: 'now', description: 'the decision time (a timestamp)' };

// Every comprehension step passes through STEP, which the metered function table charges.
function instrument(e: Expr, nextId: { value: bigint }, positions: Map<bigint, number>): void {
  const k = e.exprKind;
  switch (k.case) {
    case 'selectExpr':
      if (k.value.operand !== undefined) instrument(k.value.operand, nextId, positions);
      return;
    case 'listExpr':
      for (const el of k.value.elements) instrument(el, nextId, positions);
      return;
    case 'structExpr':
      for (const entry of k.value.entries) {
        if (entry.keyKind.case === 'mapKey') instrument(entry.keyKind.value, nextId, positions);
        if (entry.value !== undefined) instrument(entry.value, nextId, positions);
      }
      return;
    case 'callExpr':
      if (k.value.target !== undefined) instrument(k.value.target, nextId, positions);
      for (const arg of k.value.args) instrument(arg, nextId, positions);
      return;
    case 'comprehensionExpr': {
      const c = k.value;
      for (const part of [c.iterRange, c.accuInit, c.loopCondition, c.loopStep, c.result]) {
        if (part !== undefined) instrument(part, nextId, positions);
      }
      if (c.loopCondition !== undefined) {
        const id = nextId.value++;
        positions.set(id, positions.get(e.id) ?? 0);
        c.loopCondition = {
          $typeName: 'cel.expr.Expr',
          id,
          exprKind: {
            case: 'callExpr',
            value: { $typeName: 'cel.expr.Expr.Call', function: STEP, args: [c.loopCondition] },
          },
        } as Expr;
      }
      return;
    }
    default:
      return;
  }
}

function quoteToken(token: string): string {
  return token.startsWith('string ') ? token : `'${token}'`;
}

function parses(text: string): boolean {
  try {
    parse(text);
    return true;
  } catch {
    return false;
  }
}

function failure(src: string, code: ConditionError['code'], message: string, offset: number): CompileResult {
  return { ok: false, errors: [{ code, message, offset, ...lineAndColumn(src, offset) }] };
}

export function compileCondition(
  expression: string,
  options: { readonly variables: readonly VariableDecl[] },
): CompileResult {
  if (typeof expression !== 'string') return failure('', 'CEL_SYNTAX', 'the condition must be a string', 0);
  if (expression.length > CEL_LIMITS.maxExpressionLength) {
    return failure(
      expression,
      'CEL_TOO_LARGE',
      `expression is ${expression.length} characters long; the limit is ${CEL_LIMITS.maxExpressionLength}`,
      CEL_LIMITS.maxExpressionLength,
    );
  }
  if (expression.trim() === '') return failure(expression, 'CEL_SYNTAX', 'the condition is empty', 0);
  const scan = scanSource(expression, CEL_LIMITS.maxSourceNesting);
  if (scan.tooDeep !== undefined)
    return failure(expression, 'CEL_TOO_LARGE', scan.tooDeep.message, scan.tooDeep.offset);

  let parsed: ParsedExpr;
  try {
    parsed = parse(expression);
  } catch (e) {
    if (scan.syntax !== undefined)
      return failure(expression, 'CEL_SYNTAX', scan.syntax.message, scan.syntax.offset);
    if (e instanceof RangeError)
      return failure(expression, 'CEL_TOO_LARGE', 'expression is too deeply nested to parse', 0);
    const location = (e as { location?: { start?: { offset?: unknown } } }).location?.start?.offset;
    const offset = typeof location === 'number' ? location : 0;
    if (expression.length <= LOCATE_MAX_LENGTH) {
      const at = locateSyntaxError(expression, offset, parses);
      const message =
        at >= expression.length
          ? 'the expression is incomplete'
          : `unexpected ${quoteToken(tokenAt(expression, at))}`;
      return failure(expression, 'CEL_SYNTAX', `syntax error: ${message}`, at);
    }
    const message = (e instanceof Error ? e.message : String(e)).replace(/^<input>:\d+:\d+: /, '');
    return failure(expression, 'CEL_SYNTAX', `syntax error: ${message}`, offset);
  }

  const positions = new Map<bigint, number>();
  let maxId = 0n;
  for (const [id, offset] of Object.entries(parsed.sourceInfo?.positions ?? {})) {
    const key = BigInt(id);
    positions.set(key, offset);
    if (key > maxId) maxId = key;
  }
  const variables = [...new Set([...options.variables.map((v) => v.name), NOW_VARIABLE.name])];
  const checker = new Checker(expression, positions, new Set(variables));
  checker.check(parsed.expr, new Set(), 0);
  if (checker.errors.length > 0) return { ok: false, errors: checker.errors };

  instrument(parsed.expr, { value: maxId + 1n }, positions);
  let run: CompiledCondition['run'];
  try {
    run = plan(env, parsed.expr) as CompiledCondition['run'];
  } catch (e) {
    const message =
      e instanceof RangeError ? 'expression is too deeply nested' : `cannot compile: ${(e as Error).message}`;
    return failure(expression, 'CEL_UNSUPPORTED', message, 0);
  }
  return { ok: true, program: { expression, variables, run, positions, identifiers: checker.identifiers } };
}
