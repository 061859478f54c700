/** Helpers shared by the rule kinds: reading raw lists, compiling patterns, phrasing reasons. */
import type { ImageFacts } from '../engine/facts.ts';
import type { RuleOutcome } from '../engine/outcome.ts';
import { fail, pass } from '../engine/outcome.ts';
import type { ImagePattern, SourcePosition, StringPattern } from '../policy/model.ts';
import type { ImageContent } from '../providers/image-content.ts';
import type { ImageReference } from '../reference/types.ts';
import { compileImagePattern, compileStringPattern } from '../reference/index.ts';
import type { CompileContext, IssueDetail, PathSegment } from './types.ts';

export function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** The string items of `raw[key]`, with their indexes; undefined when the key is absent. */
export function stringList(
  raw: Record<string, unknown>,
  key: string,
): { value: string; index: number }[] | undefined {
  const list = raw[key];
  if (list === undefined) return undefined;
  if (!Array.isArray(list)) return [];
  const out: { value: string; index: number }[] = [];
  list.forEach((value, index) => {
    if (typeof value === 'string') out.push({ value, index });
  });
  return out;
}

/** A pattern compiler's complaint as a lint issue: the message, and the offset inside the value. */
export function patternIssue(
  what: string,
  value: string,
  error: unknown,
): { message: string; detail: IssueDetail } {
  const e = error as { detail?: unknown; position?: unknown; message?: unknown } | null;
  const detail = typeof e?.detail === 'string' ? e.detail : String(e?.message ?? error);
  const position = typeof e?.position === 'number' ? e.position : undefined;
  const where = position === undefined ? '' : ` at position ${position + 1}`;
  return {
    message: `invalid ${what} ${JSON.stringify(value)}: ${detail}${where}`,
    detail: { found: JSON.stringify(value), ...(position === undefined ? {} : { offset: position }) },
  };
}

function reportPatternError(
  ctx: CompileContext,
  path: readonly PathSegment[],
  what: string,
  value: string,
  error: unknown,
) {
  const { message, detail } = patternIssue(what, value, error);
  ctx.error(path, message, detail);
}

export function compileStringPatterns(
  ctx: CompileContext,
  items: { value: string; index: number }[],
  key: string,
  what: string,
  compile: (glob: string) => StringPattern = compileStringPattern,
): StringPattern[] {
  const out: StringPattern[] = [];
  for (const { value, index } of items) {
    try {
      out.push(compile(value));
    } catch (error) {
      reportPatternError(ctx, [key, index], what, value, error);
    }
  }
  return out;
}

export function compileImagePatterns(
  ctx: CompileContext,
  items: { value: string; index: number }[],
  key: string,
  what: string,
): ImagePattern[] {
  const out: ImagePattern[] = [];
  for (const { value, index } of items) {
    try {
      out.push(compileImagePattern(value));
    } catch (error) {
      reportPatternError(ctx, [key, index], what, value, error);
    }
  }
  return out;
}

/** Same pattern text in two lists of one rule: it is both allowed and refused, which is never meant. */
export function reportOverlap(
  ctx: CompileContext,
  allow: { value: string; index: number }[] | undefined,
  deny: { value: string; index: number }[] | undefined,
  denyKey: string,
  describe: (value: string) => string,
  canon: (value: string) => string = (s) => s,
): boolean {
  if (!allow || !deny) return false;
  const allowed = new Map(allow.map((a) => [canon(a.value), a.index] as const));
  let found = false;
  for (const d of deny) {
    const i = allowed.get(canon(d.value));
    if (i === undefined) continue;
    found = true;
    ctx.error(
      [denyKey, d.index],
      `${describe(d.value)} is both in allow[${i}] and in ${denyKey}[${d.index}]; remove one`,
      {
        found: JSON.stringify(d.value),
      },
    );
  }
  return found;
}

/** The same entry twice in one list is harmless but usually a copy-paste slip. */
export function warnDuplicates(
  ctx: CompileContext,
  items: { value: string; index: number }[] | undefined,
  key: string,
  canon: (value: string) => string = (s) => s,
): void {
  if (!items) return;
  const seen = new Map<string, number>();
  for (const { value, index } of items) {
    const first = seen.get(canon(value));
    if (first === undefined) seen.set(canon(value), index);
    else ctx.warning([key, index], `${JSON.stringify(value)} is listed twice (also at ${key}[${first}])`);
  }
}

const LIST_SHOWN = 8;

/** `[a, b, c]`, shortened for long lists so a reason stays one readable sentence. */
export function listText(patterns: readonly { pattern: string }[] | readonly string[]): string {
  const items = patterns.map((p) => (typeof p === 'string' ? p : p.pattern));
  if (items.length <= LIST_SHOWN) return `[${items.join(', ')}]`;
  return `[${items.slice(0, LIST_SHOWN).join(', ')}, ... (${items.length - LIST_SHOWN} more)]`;
}

/** The parsed reference, or the failing outcome explaining why there is none. */
export function requireReference(facts: ImageFacts): ImageReference | RuleOutcome {
  if (facts.reference) return facts.reference;
  const why = facts.referenceError ?? `${JSON.stringify(facts.image)} was not parsed`;
  return fail(`reference unknown: ${why}`);
}

export function isOutcome<T extends object>(value: T | RuleOutcome): value is RuleOutcome {
  return 'verdict' in value;
}

/**
 * The verified content the content rules (attributes, baseImage) judge, or the failing outcome: not
 * fetched, unavailable (the provider's reason), not known to be the decision's digest, or nothing to judge.
 * `what` names what was needed, for the not-fetched message.
 */
export function requireContent(facts: ImageFacts, what: string): ImageContent | RuleOutcome {
  const content = facts.content;
  if (!content) return fail(`the image content (${what}) was not fetched for this image`);
  if (!content.available) return fail(content.reason);
  const fetched = content.value.digest;
  const digest = facts.digest;
  // Content is only evidence about the digest being decided; with that digest unknown it proves nothing.
  if (!digest?.available) {
    const why = digest ? digest.reason : 'none was written or resolved';
    return fail(`image content was fetched for ${fetched}, but the image digest is unknown: ${why}`);
  }
  if (digest.value !== fetched)
    return fail(`image content was fetched for ${fetched}, not for the image digest ${digest.value}`);
  if (content.value.platforms.length === 0) return fail(`image ${fetched} has no platform images to judge`);
  return content.value;
}

/** Wraps a context to know whether compiling reported any error (then the rule is not produced). */
export function tracking(ctx: CompileContext): { ctx: CompileContext; failed: () => boolean } {
  let failed = false;
  const wrapped: CompileContext = {
    name: ctx.name,
    source: ctx.source,
    error: (path, message, detail) => {
      failed = true;
      ctx.error(path, message, detail);
    },
    warning: (path, message, detail) => ctx.warning(path, message, detail),
  };
  return { ctx: wrapped, failed: () => failed };
}

type AllowDenyKind = 'registries' | 'repositories' | 'digests';

/**
 * An allow/deny rule (registries, repositories, digests): each list compiled by `compileList`, an entry in
 * both lists an error, and a rule with neither list an error (it would constrain nothing).
 */
export function compileAllowDeny<K extends AllowDenyKind, T>(
  kind: K,
  raw: unknown,
  outer: CompileContext,
  how: {
    readonly compileList: (
      ctx: CompileContext,
      raw: Record<string, unknown>,
      key: 'allow' | 'deny',
    ) => T[] | undefined;
    /** The entry as named in the overlap error, e.g. `registry "ghcr.io"`. */
    readonly describe: (value: string) => string;
    /** What makes two entries the same (e.g. case-folded hosts). */
    readonly canon?: (value: string) => string;
  },
): { kind: K; name: string; source: SourcePosition; allow?: T[]; deny?: T[] } | undefined {
  if (!isRecord(raw)) {
    outer.error([], `${kind} must be a mapping with allow and/or deny`, { expected: 'a mapping' });
    return undefined;
  }
  const { ctx, failed } = tracking(outer);
  const allow = how.compileList(ctx, raw, 'allow');
  const deny = how.compileList(ctx, raw, 'deny');
  reportOverlap(ctx, stringList(raw, 'allow'), stringList(raw, 'deny'), 'deny', how.describe, how.canon);
  if (!allow?.length && !deny?.length && !failed()) {
    ctx.error([], `the ${kind} rule has no constraints; set allow and/or deny`, {
      expected: 'allow or deny',
    });
  }
  if (failed()) return undefined;
  return {
    kind,
    name: ctx.name,
    source: ctx.source,
    ...(allow ? { allow } : {}),
    ...(deny ? { deny } : {}),
  };
}

/**
 * Deny first, then allow: how the registries and repositories rules judge `subject` (e.g.
 * `registry "ghcr.io"`) with `matches` telling whether a pattern covers it.
 */
export function judgeAllowDeny<P extends { readonly pattern: string }>(
  rule: { readonly kind: AllowDenyKind; readonly allow?: readonly P[]; readonly deny?: readonly P[] },
  subject: string,
  matches: (pattern: P) => boolean,
): RuleOutcome {
  const denied = rule.deny?.find(matches);
  if (denied) return fail(`${subject} is denied (matches "${denied.pattern}")`);
  if (rule.allow) {
    const allowed = rule.allow.find(matches);
    if (!allowed) return fail(`${subject} is not in the allowed list ${listText(rule.allow)}`);
    return pass(`${subject} is allowed (matches "${allowed.pattern}")`);
  }
  if (rule.deny) return pass(`${subject} is not in the denied list ${listText(rule.deny)}`);
  // A compiled rule always has a list; one without is a bug and must not pass.
  return fail(`the ${rule.kind} rule has no allow or deny list`);
}
