/**
 * Compiling a CEL condition: parse, check names against what the policy may use, and plan it with
 * the metered environment. Errors carry their position inside the expression so that the policy
 * linter can add the position of the YAML node the expression came from.
 *
 * @bufbuild/cel's type checker is not finished (it knows constants and identifiers only), so the
 * checks here are by name and arity: undeclared variables, unknown functions, wrong argument counts,
 * macros written with the wrong arguments, message construction. Types are checked at evaluation.
 */
import {
  celEnv,
  celFunc,
  CelScalar,
  isCelList,
  isCelMap,
  parse,
  plan,
  type CelEnv,
  type CelFunc,
  type CelResult,
  type CelValue,
  type CelInput,
} from '@bufbuild/cel';
import { helperFunctions } from './helpers.ts';
import { listConcat } from './list.ts';
import { CEL_LIMITS } from './limits.ts';
import { currentEvaluation } from './meter.ts';
import { lineAndColumn, scanSource } from './source.ts';

type ParsedExpr = ReturnType<typeof parse>;
type Expr = ParsedExpr['expr'];
type Call = Extract<Expr['exprKind'], { case: 'callExpr' }>['value'];

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

// Wrapped around each comprehension's loop condition so every step is charged; '@' keeps users from
// writing it (the grammar has no identifiers with '@').
const STEP = '@portcullis_step';

// Calls the planner evaluates itself rather than through the function table.
const PLANNER_CALLS = new Set([
  '_[_]',
  '_[?_]',
  '_?._',
  '_?_:_',
  '_&&_',
  '_||_',
  '@not_strictly_false',
  '__not_strictly_false__',
]);
// Type names are identifiers too (`type(x) == string`).
const TYPE_NAMES = new Set([
  'int',
  'uint',
  'double',
  'bool',
  'string',
  'bytes',
  'list',
  'map',
  'null_type',
  'type',
]);
const QUALIFIED_TYPE_NAMES = new Set(['google.protobuf.Timestamp', 'google.protobuf.Duration']);
const MACROS: Record<string, string> = {
  all: 'list.all(x, condition)',
  exists: 'list.exists(x, condition)',
  exists_one: 'list.exists_one(x, condition)',
  map: 'list.map(x, expression) or list.map(x, condition, expression)',
  filter: 'list.filter(x, condition)',
  has: 'has(value.field)',
};

const baseEnv = celEnv({
  funcs: [...helperFunctions, listConcat, celFunc(STEP, [CelScalar.DYN], CelScalar.DYN, (x) => x)],
});

interface Arity {
  readonly functions: Set<number>;
  readonly methods: Set<number>;
}
const ARITY = new Map<string, Arity>();
for (const f of baseEnv.funcs as Iterable<CelFunc>) {
  let a = ARITY.get(f.name);
  if (a === undefined) ARITY.set(f.name, (a = { functions: new Set(), methods: new Set() }));
  (f.target === undefined ? a.functions : a.methods).add(f.arguments.length);
}
const NAMESPACES = new Set(
  [...ARITY.keys()].filter((n) => n.includes('.')).map((n) => n.slice(0, n.indexOf('.'))),
);

function sizeCost(v: CelValue | undefined): number {
  if (typeof v === 'string') return Math.ceil(v.length / 10);
  if (v instanceof Uint8Array) return Math.ceil(v.length / 10);
  if (isCelList(v) || isCelMap(v)) return v.size;
  return 0;
}

type FuncGroup = NonNullable<ReturnType<CelEnv['funcs']['find']>>;

// The library has no cost hook; every call it dispatches goes through the environment's function
// table, so a table that charges the meter before each call meters the evaluation.
function meteredEnv(env: CelEnv): CelEnv {
  const wrapped = new Map<string, FuncGroup | undefined>();
  const wrap = (group: FuncGroup): FuncGroup => ({
    name: group.name,
    [Symbol.iterator]: () => group[Symbol.iterator](),
    call(id, target, args) {
      let cost = 1 + sizeCost(target);
      // Appending to a list copies only the right operand (see list.ts), so the left one is free.
      const appending = group.name === '_+_' && isCelList(args[0]);
      for (let i = appending ? 1 : 0; i < args.length; i++) cost += sizeCost(args[i]);
      currentEvaluation().meter.charge(cost);
      return group.call(id, target, args);
    },
  });
  const funcs = {
    [Symbol.iterator]: () => env.funcs[Symbol.iterator](),
    find(name: string): FuncGroup | undefined {
      if (!wrapped.has(name)) {
        const group = env.funcs.find(name);
        wrapped.set(name, group === undefined ? undefined : wrap(group));
      }
      return wrapped.get(name);
    },
  };
  // plan() reads only namespace, registry and funcs; the interface's private brand is a type-level tag.
  return {
    namespace: env.namespace,
    registry: env.registry,
    funcs,
    variables: env.variables,
  } as unknown as CelEnv;
}

const env = meteredEnv(baseEnv);

function qualifiedName(e: Expr): string | undefined {
  const k = e.exprKind;
  if (k.case === 'identExpr') return k.value.name;
  if (k.case === 'selectExpr' && !k.value.testOnly && k.value.operand !== undefined) {
    const parent = qualifiedName(k.value.operand);
    return parent === undefined ? undefined : `${parent}.${k.value.field}`;
  }
  return undefined;
}

function describeArity(counts: Set<number>): string {
  return [...counts].sort().join(' or ');
}

class Checker {
  readonly errors: ConditionError[] = [];
  readonly identifiers = new Map<bigint, string>();
  private readonly src: string;
  private readonly positions: ReadonlyMap<bigint, number>;
  private readonly declared: ReadonlySet<string>;

  constructor(src: string, positions: ReadonlyMap<bigint, number>, declared: ReadonlySet<string>) {
    this.src = src;
    this.positions = positions;
    this.declared = declared;
  }

  error(code: ConditionError['code'], message: string, id: bigint): void {
    if (this.errors.length >= 20) return;
    const offset = this.positions.get(id) ?? 0;
    this.errors.push({ code, message, offset, ...lineAndColumn(this.src, offset) });
  }

  check(e: Expr, scope: ReadonlySet<string>, depth: number): void {
    if (depth > CEL_LIMITS.maxAstDepth) {
      if (this.errors.some((err) => err.code === 'CEL_TOO_LARGE')) return;
      this.error(
        'CEL_TOO_LARGE',
        `expression is nested more than ${CEL_LIMITS.maxAstDepth} levels deep`,
        e.id,
      );
      return;
    }
    const k = e.exprKind;
    switch (k.case) {
      case 'constExpr':
        return;
      case 'identExpr':
        this.identifiers.set(e.id, k.value.name);
        if (!scope.has(k.value.name) && !this.declared.has(k.value.name) && !TYPE_NAMES.has(k.value.name)) {
          const known = [...this.declared].sort().join(', ');
          this.error('CEL_UNDECLARED', `undeclared variable '${k.value.name}' (available: ${known})`, e.id);
        }
        return;
      case 'selectExpr': {
        const name = qualifiedName(e);
        if (
          name !== undefined &&
          QUALIFIED_TYPE_NAMES.has(name) &&
          !scope.has('google') &&
          !this.declared.has('google')
        ) {
          return;
        }
        if (k.value.operand !== undefined) this.check(k.value.operand, scope, depth + 1);
        return;
      }
      case 'listExpr':
        for (const el of k.value.elements) this.check(el, scope, depth + 1);
        return;
      case 'structExpr':
        if (k.value.messageName !== '') {
          this.error(
            'CEL_UNSUPPORTED',
            `message construction (${k.value.messageName}{...}) is not supported`,
            e.id,
          );
          return;
        }
        for (const entry of k.value.entries) {
          if (entry.keyKind.case === 'mapKey') this.check(entry.keyKind.value, scope, depth + 1);
          if (entry.value !== undefined) this.check(entry.value, scope, depth + 1);
        }
        return;
      case 'comprehensionExpr': {
        const c = k.value;
        if (c.iterRange !== undefined) this.check(c.iterRange, scope, depth + 1);
        if (c.accuInit !== undefined) this.check(c.accuInit, scope, depth + 1);
        const inner = new Set([...scope, c.iterVar, c.accuVar, ...(c.iterVar2 ? [c.iterVar2] : [])]);
        if (c.loopCondition !== undefined) this.check(c.loopCondition, inner, depth + 1);
        if (c.loopStep !== undefined) this.check(c.loopStep, inner, depth + 1);
        if (c.result !== undefined) this.check(c.result, new Set([...scope, c.accuVar]), depth + 1);
        return;
      }
      case 'callExpr':
        this.checkCall(e.id, k.value, scope, depth);
        return;
      default:
        this.error('CEL_UNSUPPORTED', 'unsupported expression', e.id);
    }
  }

  private checkCall(id: bigint, call: Call, scope: ReadonlySet<string>, depth: number): void {
    const args = call.args;
    const target = call.target;
    if (target !== undefined) {
      const qualifier = qualifiedName(target);
      if (qualifier !== undefined && !scope.has(qualifier.split('.')[0]!)) {
        const name = `${qualifier}.${call.function}`;
        const arity = ARITY.get(name);
        if (arity !== undefined || NAMESPACES.has(qualifier)) {
          if (arity === undefined || arity.functions.size === 0) {
            this.error('CEL_UNKNOWN_FUNCTION', `unknown function '${name}'`, id);
          } else if (!arity.functions.has(args.length)) {
            this.error(
              'CEL_UNKNOWN_FUNCTION',
              `'${name}' takes ${describeArity(arity.functions)} argument(s), not ${args.length}`,
              id,
            );
          }
          for (const arg of args) this.check(arg, scope, depth + 1);
          return;
        }
      }
    }
    if (target !== undefined) this.check(target, scope, depth + 1);
    for (const arg of args) this.check(arg, scope, depth + 1);
    const name = call.function;
    if (PLANNER_CALLS.has(name)) return;
    if (name in MACROS) {
      this.error('CEL_SYNTAX', `${name}() is written ${MACROS[name]}`, id);
      return;
    }
    const arity = ARITY.get(name);
    if (arity === undefined || name === STEP) {
      this.error('CEL_UNKNOWN_FUNCTION', `unknown function '${name}'`, id);
      return;
    }
    const counts = target === undefined ? arity.functions : arity.methods;
    if (counts.size === 0) {
      const how =
        target === undefined ? `a method: write value.${name}(...)` : `a function: write ${name}(...)`;
      this.error('CEL_UNKNOWN_FUNCTION', `'${name}' is ${how}`, id);
    } else if (!counts.has(args.length)) {
      this.error(
        'CEL_UNKNOWN_FUNCTION',
        `'${name}' takes ${describeArity(counts)} argument(s), not ${args.length}`,
        id,
      );
    }
  }
}

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
