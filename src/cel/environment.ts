/**
 * The CEL environment conditions run in: the standard library, Portcullis' helpers, and a function
 * table that charges the evaluation's cost meter before every call.
 *
 * @bufbuild/cel has no cost hook, but every call it dispatches goes through the environment's function
 * table; the planner evaluates only field selection, indexing, literals, `&&`, `||`, `?:` and the macros'
 * loops itself. So a metering table, plus a charged step inserted into each macro loop (see
 * compile.ts), meters the whole evaluation. The cost model is documented in docs/cel.md.
 */
import {
  celEnv,
  celFunc,
  CelScalar,
  isCelList,
  isCelMap,
  type CelEnv,
  type CelFunc,
  type CelValue,
} from '@bufbuild/cel';
import { helperFunctions } from './helpers.ts';
import { appendCost, listConcat } from './list.ts';
import { currentEvaluation } from './meter.ts';

// Wrapped around each comprehension's loop condition so every step is charged; '@' keeps users from
// writing it (the grammar has no identifiers with '@').
export const STEP = '@portcullis_step';

const baseEnv = celEnv({
  funcs: [...helperFunctions, listConcat, celFunc(STEP, [CelScalar.DYN], CelScalar.DYN, (x) => x)],
});

export interface Arity {
  readonly functions: Set<number>;
  readonly methods: Set<number>;
}
export const ARITY = new Map<string, Arity>();
for (const f of baseEnv.funcs as Iterable<CelFunc>) {
  let a = ARITY.get(f.name);
  if (a === undefined) ARITY.set(f.name, (a = { functions: new Set(), methods: new Set() }));
  (f.target === undefined ? a.functions : a.methods).add(f.arguments.length);
}
/** Prefixes of qualified function names (`semver` of `semver.compare`). */
export const NAMESPACES = new Set(
  [...ARITY.keys()].filter((n) => n.includes('.')).map((n) => n.slice(0, n.indexOf('.'))),
);

function sizeCost(v: CelValue | undefined): number {
  if (typeof v === 'string') return Math.ceil(v.length / 10);
  if (v instanceof Uint8Array) return Math.ceil(v.length / 10);
  if (isCelList(v) || isCelMap(v)) return v.size;
  return 0;
}

type FuncGroup = NonNullable<ReturnType<CelEnv['funcs']['find']>>;

function meteredEnv(env: CelEnv): CelEnv {
  const wrapped = new Map<string, FuncGroup>();
  const wrap = (group: FuncGroup): FuncGroup => ({
    name: group.name,
    [Symbol.iterator]: () => group[Symbol.iterator](),
    call(id, target, args) {
      let cost = 1 + sizeCost(target);
      const [left, right] = args;
      if (group.name === '_+_' && isCelList(left) && isCelList(right)) {
        cost += appendCost(left, right);
      } else {
        for (const arg of args) cost += sizeCost(arg);
      }
      currentEvaluation().meter.charge(cost);
      return group.call(id, target, args);
    },
  });
  const funcs = {
    [Symbol.iterator]: () => env.funcs[Symbol.iterator](),
    // The planner also looks up names that are not functions (`input.l.contains` for a method call on
    // `input.l`), so only functions are remembered: the table stays as small as the library's.
    find(name: string): FuncGroup | undefined {
      let group = wrapped.get(name);
      if (group === undefined) {
        const found = env.funcs.find(name);
        if (found === undefined) return undefined;
        wrapped.set(name, (group = wrap(found)));
      }
      return group;
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

export const env = meteredEnv(baseEnv);
