/**
 * `repositories`: allow or deny repositories, as image patterns over `registry/repository`
 * (Docker-normalized, so `library/*` or `docker.io/library/*` both name official images).
 *
 * A repository pattern carries no tag or digest: those belong to the `tags` and `digests` rules, and
 * a pattern with one would make a deny entry silently miss the same repository under another tag.
 */
import type { ImageFacts } from '../engine/facts.ts';
import type { RuleOutcome } from '../engine/outcome.ts';
import type { RepositoriesRule } from '../policy/model.ts';
import {
  compileAllowDeny,
  compileImagePatterns,
  isOutcome,
  judgeAllowDeny,
  requireReference,
  stringList,
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
  return compileAllowDeny('repositories', raw, outer, {
    compileList,
    describe: (v) => `repository pattern ${JSON.stringify(v)}`,
  });
}

function evaluate(rule: RepositoriesRule, facts: ImageFacts): RuleOutcome {
  const ref = requireReference(facts);
  if (isOutcome(ref)) return ref;
  // Repository patterns have no tag or digest part, and such a pattern matches any tag and digest.
  return judgeAllowDeny(rule, `repository "${ref.registry}/${ref.repository}"`, (p) => p.matches(ref));
}

export const repositories: RuleKindDefinition<RepositoriesRule> = { kind: 'repositories', compile, evaluate };
