/**
 * `tags`: constraints on the tag as written.
 *
 * A reference with neither tag nor digest is pulled as `latest`, so it is judged as tag `latest`
 * (implied): `nginx` must not slip past `forbid: [latest]`. A reference with only a digest has no tag;
 * forbid/allow have nothing to judge and `requireDigest` is satisfied.
 */
import type { ImageFacts } from '../engine/facts.ts';
import type { RuleOutcome } from '../engine/outcome.ts';
import { fail, pass } from '../engine/outcome.ts';
import type { TagsRule } from '../policy/model.ts';
import {
  compileStringPatterns,
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

function compile(raw: unknown, outer: CompileContext): TagsRule | undefined {
  if (!isRecord(raw)) {
    outer.error([], 'tags must be a mapping with forbid, allow and/or requireDigest', {
      expected: 'a mapping',
    });
    return undefined;
  }
  const { ctx, failed } = tracking(outer);
  const forbidItems = stringList(raw, 'forbid');
  const allowItems = stringList(raw, 'allow');
  const forbid = forbidItems && compileStringPatterns(ctx, forbidItems, 'forbid', 'tag pattern');
  const allow = allowItems && compileStringPatterns(ctx, allowItems, 'allow', 'tag pattern');
  warnDuplicates(ctx, forbidItems, 'forbid');
  warnDuplicates(ctx, allowItems, 'allow');
  reportOverlap(ctx, allowItems, forbidItems, 'forbid', (v) => `tag pattern ${JSON.stringify(v)}`);
  const requireDigest = raw.requireDigest === true;
  if (raw.requireDigest !== undefined && typeof raw.requireDigest !== 'boolean') {
    ctx.error(['requireDigest'], 'requireDigest must be true or false', {
      found: JSON.stringify(raw.requireDigest),
      expected: 'true or false',
    });
  }
  if (!forbidItems?.length && !allowItems?.length && !requireDigest && !failed()) {
    const why = raw.requireDigest === false ? ' (requireDigest: false alone constrains nothing)' : '';
    ctx.error([], `the tags rule has no constraints${why}; set forbid, allow and/or requireDigest: true`, {
      expected: 'forbid, allow or requireDigest: true',
    });
  }
  if (failed()) return undefined;
  return {
    kind: 'tags',
    name: ctx.name,
    source: ctx.source,
    ...(forbid ? { forbid } : {}),
    ...(allow ? { allow } : {}),
    ...(requireDigest ? { requireDigest } : {}),
  };
}

function evaluate(rule: TagsRule, facts: ImageFacts): RuleOutcome {
  const ref = requireReference(facts);
  if (isOutcome(ref)) return ref;
  const passed: string[] = [];

  if (rule.requireDigest) {
    if (!ref.digest) {
      return fail(
        'reference has no digest; this rule requires images pinned by digest (name:tag@sha256:...)',
      );
    }
    passed.push(`reference is pinned by digest ${ref.digest}`);
  }

  const implied = ref.tag === undefined && ref.digest === undefined;
  const tag = ref.tag ?? (implied ? 'latest' : undefined);
  if (tag === undefined) {
    if (rule.forbid || rule.allow) passed.push('reference has no tag, only a digest');
    return pass(passed.join('; '));
  }
  const shown = implied ? `tag "latest" (implied: no tag or digest written)` : `tag "${tag}"`;

  const forbidden = rule.forbid?.find((p) => p.matches(tag));
  if (forbidden) return fail(`${shown} is forbidden (matches "${forbidden.pattern}")`);
  if (rule.allow) {
    const allowed = rule.allow.find((p) => p.matches(tag));
    if (!allowed) return fail(`${shown} is not in the allowed list ${listText(rule.allow)}`);
    passed.push(`${shown} is allowed (matches "${allowed.pattern}")`);
  } else if (rule.forbid) {
    passed.push(`${shown} is not forbidden ${listText(rule.forbid)}`);
  }
  if (passed.length === 0) return fail('the tags rule has no constraints');
  return pass(passed.join('; '));
}

export const tags: RuleKindDefinition<TagsRule> = { kind: 'tags', compile, evaluate };
