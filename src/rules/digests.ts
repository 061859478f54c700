/**
 * `digests`: allow or deny exact content digests.
 *
 * Judged on the digest of the content (facts.digest: the one written, or the one a registry resolved the
 * tag to). A deny entry also matches the digest as written, so a denied digest cannot hide behind a
 * differing resolution. Without a known digest the rule fails: an unknown image is not an allowed one.
 */
import type { ImageFacts } from '../engine/facts.ts';
import type { RuleOutcome } from '../engine/outcome.ts';
import { fail, pass } from '../engine/outcome.ts';
import type { DigestsRule } from '../policy/model.ts';
import { compileAllowDeny, listText, stringList, warnDuplicates } from './support.ts';
import type { CompileContext, RuleKindDefinition } from './types.ts';

/** The schema's pattern for digest entries is the same expression (test/policy/schema.test.ts checks). */
export const DIGEST_PATTERN = /^(sha256:[a-f0-9]{64}|sha512:[a-f0-9]{128})$/;

function compileList(ctx: CompileContext, raw: Record<string, unknown>, key: 'allow' | 'deny') {
  const items = stringList(raw, key);
  if (!items) return undefined;
  const out: string[] = [];
  for (const { value, index } of items) {
    if (DIGEST_PATTERN.test(value)) out.push(value);
    else
      ctx.error([key, index], `invalid digest ${JSON.stringify(value)}`, {
        found: JSON.stringify(value),
        expected: 'algorithm:hex in lower case: sha256:<64 hex> or sha512:<128 hex>',
      });
  }
  warnDuplicates(ctx, items, key);
  return out;
}

function compile(raw: unknown, outer: CompileContext): DigestsRule | undefined {
  return compileAllowDeny('digests', raw, outer, { compileList, describe: (v) => `digest ${v}` });
}

export const NO_DIGEST = 'no digest: the reference has none and it was not resolved';

/** The digest being judged, or the reason it is unknown. */
export function contentDigest(facts: ImageFacts): { digest: string } | { unknown: string } {
  if (facts.digest)
    return facts.digest.available ? { digest: facts.digest.value } : { unknown: facts.digest.reason };
  // No provider filled the fact: a digest written in the reference still identifies the content.
  if (facts.reference?.digest) return { digest: facts.reference.digest };
  return { unknown: NO_DIGEST };
}

function evaluate(rule: DigestsRule, facts: ImageFacts): RuleOutcome {
  const written = facts.reference?.digest;
  if (written && rule.deny?.includes(written)) return fail(`digest ${written} is denied`);
  const known = contentDigest(facts);
  if ('unknown' in known) return fail(`digest unknown: ${known.unknown}`);
  const { digest } = known;
  if (rule.deny?.includes(digest)) return fail(`digest ${digest} is denied`);
  if (rule.allow) {
    if (!rule.allow.includes(digest))
      return fail(`digest ${digest} is not in the allowed list ${listText(rule.allow)}`);
    return pass(`digest ${digest} is allowed`);
  }
  if (rule.deny) return pass(`digest ${digest} is not in the denied list ${listText(rule.deny)}`);
  return fail('the digests rule has no allow or deny list');
}

export const digests: RuleKindDefinition<DigestsRule> = { kind: 'digests', compile, evaluate };
