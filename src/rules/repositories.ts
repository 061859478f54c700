/**
 * `repositories`: allow or deny repositories, as image patterns over `registry/repository`
 * (Docker-normalized, so `library/*` or `docker.io/library/*` both name official images).
 *
 * A repository pattern carries no tag or digest: those belong to the `tags` and `digests` rules, and
 * a pattern with one would make a deny entry silently miss the same repository under another tag.
 */
import type { ImageFacts } from '../engine/facts.ts';
import type { RuleOutcome } from '../engine/outcome.ts';
import { fail, pass } from '../engine/outcome.ts';
import type { ImagePattern, RepositoriesRule } from '../policy/model.ts';
import {
  compileImagePatterns,
  isOutcome,
  isRecord,
  listText,
  reportOverlap,
  requireReference,
  stringList,
  tracking,
  warnDuplicates,
} from './support.ts';
import type { CompileContext, RuleKindDefinition } from './types.ts';

/** 0-based index of a tag (`:`) or digest (`@`) part in a repository pattern, or -1. */
export function tagOrDigestIndex(pattern: string): number {
  const at = pattern.indexOf('@');
  if (at >= 0) return at;
  const lastSlash = pattern.lastIndexOf('/');
  const colon = pattern.indexOf(':', lastSlash + 1);
  return colon;
}

function compileList(ctx: CompileContext, raw: Record<string, unknown>, key: 'allow' | 'deny') {
  const items = stringList(raw, key);
  if (!items) return undefined;
  const plain = items.filter(({ value, index }) => {
    const at = tagOrDigestIndex(value);
    if (at < 0) return true;
    const part = value[at] === '@' ? 'digest' : 'tag';
    ctx.error(
      [key, index],
      `repository pattern ${JSON.stringify(value)} has a ${part} part; write only registry/repository`,
      {
        found: JSON.stringify(value),
        expected: `a pattern without ${part}, e.g. ${JSON.stringify(value.slice(0, at))}`,
        offset: at,
      },
    );
    return false;
  });
  const out = compileImagePatterns(ctx, plain, key, 'repository pattern');
  warnDuplicates(ctx, items, key);
  return out;
}

function compile(raw: unknown, outer: CompileContext): RepositoriesRule | undefined {
  if (!isRecord(raw)) {
    outer.error([], 'repositories must be a mapping with allow and/or deny', { expected: 'a mapping' });
    return undefined;
  }
  const { ctx, failed } = tracking(outer);
  const allow = compileList(ctx, raw, 'allow');
  const deny = compileList(ctx, raw, 'deny');
  reportOverlap(
    ctx,
    stringList(raw, 'allow'),
    stringList(raw, 'deny'),
    'deny',
    (v) => `repository pattern ${JSON.stringify(v)}`,
  );
  if (!allow?.length && !deny?.length && !failed()) {
    ctx.error([], 'the repositories rule has no constraints; set allow and/or deny', {
      expected: 'allow or deny',
    });
  }
  if (failed()) return undefined;
  return {
    kind: 'repositories',
    name: ctx.name,
    source: ctx.source,
    ...(allow ? { allow } : {}),
    ...(deny ? { deny } : {}),
  };
}

function evaluate(rule: RepositoriesRule, facts: ImageFacts): RuleOutcome {
  const ref = requireReference(facts);
  if (isOutcome(ref)) return ref;
  // Repository patterns have no tag or digest part, and such a pattern matches any tag and digest.
  const name = `${ref.registry}/${ref.repository}`;
  const find = (list: readonly ImagePattern[]) => list.find((p) => p.matches(ref));
  const denied = rule.deny && find(rule.deny);
  if (denied) return fail(`repository "${name}" is denied (matches "${denied.pattern}")`);
  if (rule.allow) {
    const allowed = find(rule.allow);
    if (!allowed) return fail(`repository "${name}" is not in the allowed list ${listText(rule.allow)}`);
    return pass(`repository "${name}" is allowed (matches "${allowed.pattern}")`);
  }
  if (rule.deny) return pass(`repository "${name}" is not in the denied list ${listText(rule.deny)}`);
  return fail('the repositories rule has no allow or deny list');
}

export const repositories: RuleKindDefinition<RepositoriesRule> = { kind: 'repositories', compile, evaluate };
