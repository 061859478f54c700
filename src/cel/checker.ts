/**
 * Name and arity checks on a parsed condition, each error placed inside the expression.
 *
 * @bufbuild/cel's type checker is not finished (it knows constants and identifiers only), so this
 * checks what can be checked without types: undeclared variables, unknown functions, wrong argument
 * counts, a function called as a method or the reverse, macros written with the wrong arguments,
 * message construction, and the depth of the tree. Types are checked at evaluation.
 */
import type { parse } from '@bufbuild/cel';
import type { ConditionError } from './compile.ts';
import { ARITY, NAMESPACES, STEP } from './environment.ts';
import { CEL_LIMITS } from './limits.ts';
import { lineAndColumn } from './source.ts';

export type Expr = ReturnType<typeof parse>['expr'];
type Call = Extract<Expr['exprKind'], { case: 'callExpr' }>['value'];

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

export class Checker {
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
