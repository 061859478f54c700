/**
 * From one schema-checked ImagePolicy document to a compiled Policy: image patterns, rules (through the
 * rule-kind registry), defaults, and the checks a schema cannot express.
 *
 * Parts the schema already rejected are skipped, so each problem is reported once; everything else is
 * still checked, so one run shows every problem.
 */
import type { ImagePattern, Mode, Policy, Rule, RuleKind, SourcePosition } from '../policy/model.ts';
import { compileImagePattern } from '../reference/index.ts';
import { isRuleKind, ruleKinds } from '../rules/index.ts';
import { normalizeHost } from '../rules/registries.ts';
import { isRecord, patternIssue } from '../rules/support.ts';
import type { CompileContext, IssueDetail, PathSegment } from '../rules/types.ts';
import { contentVersion } from './canonical.ts';
import type { Issue } from './schema-errors.ts';
import { compileMatch } from './match.ts';

export interface CompileInput {
  readonly data: Record<string, unknown>;
  /** Problems the schema found; parts under these paths are not compiled again. */
  readonly schemaIssues: readonly Issue[];
  readonly position: (path: readonly PathSegment[]) => SourcePosition;
  readonly report: (issue: Issue) => void;
}

function startsWith(path: readonly PathSegment[], prefix: readonly PathSegment[]): boolean {
  return prefix.length <= path.length && prefix.every((s, i) => path[i] === s);
}

export function compilePolicy(input: CompileInput): Policy | undefined {
  const { data, schemaIssues, report } = input;
  let failed = schemaIssues.some((i) => i.severity === 'error');
  const clean = (prefix: readonly PathSegment[]) => !schemaIssues.some((i) => startsWith(i.path, prefix));
  const error = (path: readonly PathSegment[], message: string, detail: IssueDetail = {}) => {
    failed = true;
    report({ path, anchor: 'value', message, severity: 'error', ...detail });
  };
  const warning = (path: readonly PathSegment[], message: string, detail: IssueDetail = {}) =>
    report({ path, anchor: 'value', message, severity: 'warning', ...detail });

  const spec = isRecord(data.spec) ? data.spec : {};
  const metadata = isRecord(data.metadata) ? data.metadata : {};
  const name = typeof metadata.name === 'string' ? metadata.name : '';

  const patterns = (key: 'images' | 'exclude'): { pattern: ImagePattern; glob: string; index: number }[] => {
    const list = Array.isArray(spec[key]) ? (spec[key] as unknown[]) : [];
    const out: { pattern: ImagePattern; glob: string; index: number }[] = [];
    list.forEach((item, index) => {
      const path = ['spec', key, index, 'glob'];
      if (!isRecord(item) || typeof item.glob !== 'string' || !clean(path)) return;
      try {
        out.push({ pattern: compileImagePattern(item.glob), glob: item.glob, index });
      } catch (e) {
        const { message, detail } = patternIssue('image pattern', item.glob, e);
        error(path, message, detail);
      }
    });
    return out;
  };
  const images = patterns('images');
  const exclude = patterns('exclude');
  for (const ex of exclude) {
    const same = images.find((im) => im.glob === ex.glob);
    if (same) {
      error(
        ['spec', 'exclude', ex.index, 'glob'],
        `images[${same.index}] ${JSON.stringify(ex.glob)} is also excluded here, so it selects no image`,
        {
          found: JSON.stringify(ex.glob),
        },
      );
    }
  }

  // Compiled even when the schema found problems inside it (they already failed the policy), so one run
  // shows every problem; a place the schema already reported is not reported again.
  const match =
    spec.match !== undefined
      ? compileMatch(spec.match, {
          source: input.position(['spec', 'match']),
          error: (path, message, detail) => {
            if (clean(['spec', 'match', ...path])) error(['spec', 'match', ...path], message, detail);
          },
          warning: (path, message, detail) => warning(['spec', 'match', ...path], message, detail),
        })
      : undefined;
  const rules = compileRules(spec, clean, input.position, error, warning);
  if (Array.isArray(spec.rules) && spec.rules.length === 0) {
    warning(
      ['spec', 'rules'],
      `policy ${name} has no rules: every image it matches is denied (a matching policy must produce a verdict)`,
    );
  }
  if (failed || !rules) return undefined;
  const mode = (typeof spec.mode === 'string' ? spec.mode : 'enforce') as Mode;
  return {
    name,
    mode,
    ...(typeof spec.description === 'string' ? { description: spec.description } : {}),
    images: images.map((i) => i.pattern),
    exclude: exclude.map((i) => i.pattern),
    ...(match ? { match } : {}),
    rules,
    source: input.position([]),
    version: contentVersion(data),
  };
}

type Report = (path: readonly PathSegment[], message: string, detail?: IssueDetail) => void;

function compileRules(
  spec: Record<string, unknown>,
  clean: (prefix: readonly PathSegment[]) => boolean,
  position: (path: readonly PathSegment[]) => SourcePosition,
  error: Report,
  warning: Report,
): Rule[] | undefined {
  const items = Array.isArray(spec.rules) ? (spec.rules as unknown[]) : [];
  const kindOf = (item: unknown): RuleKind | undefined => {
    if (!isRecord(item)) return undefined;
    const kinds = Object.keys(item).filter(isRuleKind);
    return kinds.length === 1 ? kinds[0] : undefined;
  };
  const kindCounts = new Map<RuleKind, number>();
  for (const item of items) {
    const kind = kindOf(item);
    if (kind && !(isRecord(item) && typeof item.name === 'string'))
      kindCounts.set(kind, (kindCounts.get(kind) ?? 0) + 1);
  }
  const explicitNames = new Set(
    items.flatMap((i) => (isRecord(i) && typeof i.name === 'string' ? [i.name] : [])),
  );
  const namesSeen = new Map<string, number>();
  const out: Rule[] = [];
  let ok = true;

  items.forEach((item, index) => {
    const at: PathSegment[] = ['spec', 'rules', index];
    const kind = kindOf(item);
    if (!isRecord(item) || !kind || !clean(at)) {
      ok = false;
      return;
    }
    let name: string;
    if (typeof item.name === 'string') {
      name = item.name;
    } else {
      const alone = kindCounts.get(kind) === 1 && !explicitNames.has(kind);
      name = alone ? kind : `${kind}-${index}`;
    }
    const first = namesSeen.get(name);
    if (first !== undefined) {
      ok = false;
      error([...at, 'name'], `rule name "${name}" is used twice in this policy (also rules[${first}])`, {
        found: JSON.stringify(name),
        expected: 'a name unique within the policy',
      });
    } else {
      namesSeen.set(name, index);
    }
    let failed = false;
    const ctx: CompileContext = {
      name,
      source: position(at),
      error: (path, message, detail) => {
        failed = true;
        error([...at, kind, ...path], message, detail);
      },
      warning: (path, message, detail) => warning([...at, kind, ...path], message, detail),
    };
    const definition = ruleKinds[kind];
    let rule: Rule | undefined;
    try {
      rule = (definition.compile as (raw: unknown, ctx: CompileContext) => Rule | undefined)(item[kind], ctx);
    } catch (e) {
      ctx.error([], `the ${kind} rule could not be compiled: ${e instanceof Error ? e.message : String(e)}`);
    }
    if (!rule || failed) {
      ok = false;
      return;
    }
    out.push(rule);
  });

  crossRuleContradictions(spec, clean, error);
  return ok ? out : undefined;
}

/**
 * Rules are ANDed, so two allow lists with nothing in common admit no image at all: a policy that can
 * only deny is a mistake (a deliberate block is written with `deny`). Only exact entries are compared;
 * wildcards could overlap in ways not worth guessing at.
 */
function crossRuleContradictions(
  spec: Record<string, unknown>,
  clean: (prefix: readonly PathSegment[]) => boolean,
  error: Report,
): void {
  const items = Array.isArray(spec.rules) ? (spec.rules as unknown[]) : [];
  for (const kind of ['registries', 'digests'] as const) {
    const lists: { index: number; values: string[] }[] = [];
    items.forEach((item, index) => {
      if (!isRecord(item) || !isRecord(item[kind]) || !clean(['spec', 'rules', index])) return;
      const allow = (item[kind] as Record<string, unknown>).allow;
      if (!Array.isArray(allow) || allow.length === 0) return;
      const values = allow
        .filter((v): v is string => typeof v === 'string')
        .map(kind === 'registries' ? normalizeHost : (v) => v);
      if (values.some((v) => v.includes('*'))) return;
      lists.push({ index, values });
    });
    for (let i = 0; i < lists.length; i++) {
      for (let j = i + 1; j < lists.length; j++) {
        const a = lists[i]!;
        const b = lists[j]!;
        if (a.values.some((v) => b.values.includes(v))) continue;
        error(
          ['spec', 'rules', b.index, kind, 'allow'],
          `this ${kind} allow list has nothing in common with rules[${a.index}].${kind}.allow; since rules are ANDed, no image can pass both`,
          {
            found: `[${b.values.join(', ')}]`,
            expected: `an entry also in [${a.values.join(', ')}]`,
          },
        );
      }
    }
  }
}
