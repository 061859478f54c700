/**
 * `attributes`: conditions on what the image is, read from its verified manifest and config: user,
 * labels, annotations, platform, creation time, layer count, size.
 *
 * A CEL `condition` can say anything (variables `config`, `manifest`, `image`, `now`; docs/cel.md); the
 * shorthands (`platforms`, `nonRoot`, `maxSize`, `maxAge`, `requiredLabels`) say the common things
 * without CEL and are ANDed with it. For an index every platform image must satisfy every constraint:
 * the index digest is what gets pinned, so the node may run any of its children.
 */
import { compileCondition, evaluateCondition, IMAGE_VARIABLES } from '../cel/index.ts';
import type { ImageFacts } from '../engine/facts.ts';
import type { RuleOutcome } from '../engine/outcome.ts';
import { fail, pass } from '../engine/outcome.ts';
import type { AttributesRule } from '../policy/model.ts';
import type { ImageContent, PlatformContent } from '../providers/image-content.ts';
import { canonical } from '../reference/index.ts';
import { isOutcome, isRecord, requireContent, tracking } from './support.ts';
import type { CompileContext, RuleKindDefinition } from './types.ts';

const PLATFORM = /^[a-z0-9_]+\/[a-z0-9_]+(?:\/[a-z0-9_.]+)?$/;
const SIZE = /^(\d+(?:\.\d+)?)\s*(B|KB|MB|GB|TB|KiB|MiB|GiB|TiB)?$/;
const SIZE_UNITS: Record<string, number> = {
  B: 1,
  KB: 1e3,
  MB: 1e6,
  GB: 1e9,
  TB: 1e12,
  KiB: 1024,
  MiB: 1024 ** 2,
  GiB: 1024 ** 3,
  TiB: 1024 ** 4,
};
const AGE = /^(\d{1,6})(d|h|m|s)$/;
const AGE_SECONDS: Record<string, number> = { d: 86400, h: 3600, m: 60, s: 1 };
const KNOWN_KEYS = ['condition', 'message', 'platforms', 'nonRoot', 'maxSize', 'maxAge', 'requiredLabels'];

/** `200MB` (SI), `190MiB` (binary) or a number of bytes (`200000000`). */
export function parseSize(value: unknown): number | undefined {
  if (typeof value === 'number') return Number.isSafeInteger(value) && value > 0 ? value : undefined;
  if (typeof value !== 'string') return undefined;
  const m = SIZE.exec(value.trim());
  if (!m) return undefined;
  const bytes = Math.floor(Number(m[1]) * (SIZE_UNITS[m[2] ?? 'B'] ?? NaN));
  return Number.isSafeInteger(bytes) && bytes > 0 ? bytes : undefined;
}

/** `90d`, `36h`, `30m`, `45s`, in seconds. */
export function parseAge(value: unknown): number | undefined {
  if (typeof value !== 'string') return undefined;
  const m = AGE.exec(value.trim());
  if (!m) return undefined;
  const seconds = Number(m[1]) * (AGE_SECONDS[m[2] ?? ''] ?? NaN);
  return seconds > 0 ? seconds : undefined;
}

function compile(raw: unknown, outer: CompileContext): AttributesRule | undefined {
  if (!isRecord(raw)) {
    outer.error([], 'attributes must be a mapping with a condition and/or shorthands', {
      expected: 'a mapping',
    });
    return undefined;
  }
  const { ctx, failed } = tracking(outer);
  for (const key of Object.keys(raw)) {
    if (!KNOWN_KEYS.includes(key)) ctx.error([key], `unknown field ${JSON.stringify(key)} in attributes`);
  }
  const rule: {
    -readonly [K in keyof AttributesRule]?: AttributesRule[K];
  } = { kind: 'attributes', name: ctx.name, source: ctx.source };

  if (raw.condition !== undefined) {
    if (typeof raw.condition !== 'string') {
      ctx.error(['condition'], 'condition must be a CEL expression (a string)', { expected: 'a string' });
    } else {
      const compiled = compileCondition(raw.condition, { variables: IMAGE_VARIABLES });
      if (compiled.ok) rule.condition = compiled.program;
      else {
        for (const e of compiled.errors) {
          ctx.error(['condition'], `${e.message} (line ${e.line}, column ${e.column} of the expression)`, {
            found: JSON.stringify(raw.condition),
            offset: e.offset,
          });
        }
      }
    }
  }
  if (raw.message !== undefined) {
    if (typeof raw.message !== 'string' || raw.message.length === 0) {
      ctx.error(['message'], 'message must be a non-empty string', { expected: 'a string' });
    } else if (raw.condition === undefined) {
      ctx.error(['message'], 'message is shown when the condition is false; give a condition too');
    } else rule.message = raw.message;
  }
  if (raw.platforms !== undefined) {
    const list = Array.isArray(raw.platforms) ? raw.platforms : undefined;
    if (!list || list.length === 0) {
      ctx.error(['platforms'], 'platforms must be a non-empty list such as [linux/amd64, linux/arm64]');
    } else {
      list.forEach((p, i) => {
        if (typeof p !== 'string' || !PLATFORM.test(p)) {
          ctx.error(['platforms', i], `invalid platform ${JSON.stringify(p)}`, {
            found: JSON.stringify(p),
            expected: 'os/architecture or os/architecture/variant, e.g. linux/arm64/v8',
          });
        }
      });
      rule.platforms = list.filter((p): p is string => typeof p === 'string');
    }
  }
  if (raw.nonRoot !== undefined) {
    if (typeof raw.nonRoot !== 'boolean') ctx.error(['nonRoot'], 'nonRoot must be true or false');
    else if (raw.nonRoot) rule.nonRoot = true;
  }
  if (raw.maxSize !== undefined) {
    const bytes = parseSize(raw.maxSize);
    if (bytes === undefined) {
      ctx.error(['maxSize'], `invalid size ${JSON.stringify(raw.maxSize)}`, {
        found: JSON.stringify(raw.maxSize),
        expected: 'a positive size such as 200MB, 190MiB or 200000000 (bytes)',
      });
    } else rule.maxSizeBytes = bytes;
  }
  if (raw.maxAge !== undefined) {
    const seconds = parseAge(raw.maxAge);
    if (seconds === undefined) {
      ctx.error(['maxAge'], `invalid age ${JSON.stringify(raw.maxAge)}`, {
        found: JSON.stringify(raw.maxAge),
        expected: 'a positive duration in d, h, m or s, such as 90d',
      });
    } else rule.maxAgeSeconds = seconds;
  }
  if (raw.requiredLabels !== undefined) {
    const list = Array.isArray(raw.requiredLabels) ? raw.requiredLabels : undefined;
    if (!list || list.length === 0)
      ctx.error(['requiredLabels'], 'requiredLabels must be a non-empty list of label keys');
    else {
      list.forEach((l, i) => {
        if (typeof l !== 'string' || l.length === 0)
          ctx.error(['requiredLabels', i], 'a label key must be a non-empty string');
      });
      rule.requiredLabels = list.filter((l): l is string => typeof l === 'string');
    }
  }
  const constrains =
    rule.condition ??
    rule.platforms ??
    rule.nonRoot ??
    rule.maxSizeBytes ??
    rule.maxAgeSeconds ??
    rule.requiredLabels;
  if (constrains === undefined && !failed()) {
    ctx.error(
      [],
      'the attributes rule has no constraints; set condition, platforms, nonRoot, maxSize, maxAge or requiredLabels',
      {
        expected: 'at least one constraint',
      },
    );
  }
  if (failed()) return undefined;
  return rule as AttributesRule;
}

const ROOT_USERS = new Set(['', 'root', '0']);

/** The user part of `user[:group]`; numeric ids compare as numbers (`00` is uid 0). */
function runsAsRoot(user: string): boolean {
  const name = (user.split(':')[0] ?? '').trim();
  if (ROOT_USERS.has(name)) return true;
  return /^\d+$/.test(name) && Number(name) === 0;
}

function formatBytes(bytes: number): string {
  if (bytes >= 1e6) return `${(bytes / 1e6).toFixed(1)} MB (${bytes} bytes)`;
  return `${bytes} bytes`;
}

/** CEL `image`: the reference and digest, with the platform image's summary. */
function imageBinding(facts: ImageFacts, content: ImageContent, p: PlatformContent): Record<string, unknown> {
  const ref = facts.reference;
  const a = p.attributes;
  return {
    reference: ref ? canonical(ref) : facts.image,
    ...(ref ? { registry: ref.registry, repository: ref.repository } : {}),
    ...(ref?.tag !== undefined ? { tag: ref.tag } : {}),
    digest: content.digest,
    platformDigest: p.digest,
    platform: p.platform,
    user: a.user,
    labels: a.labels,
    annotations: a.annotations,
    os: a.os,
    architecture: a.architecture,
    ...(a.variant ? { variant: a.variant } : {}),
    ...(a.created !== undefined ? { created: a.created } : {}),
    layers: a.layers,
    layerCount: a.layerCount,
    size: a.size,
  };
}

/** The failures of one platform image (empty: it satisfies the rule). */
function checkPlatform(
  rule: AttributesRule,
  facts: ImageFacts,
  content: ImageContent,
  p: PlatformContent,
): string[] {
  const a = p.attributes;
  const problems: string[] = [];
  if (rule.platforms) {
    const ok = rule.platforms.some((want) => {
      const [os, architecture, variant] = want.split('/');
      if (os !== a.os || architecture !== a.architecture) return false;
      // No variant written: any variant. arm64 without a variant is v8 (containerd's normalization).
      const norm = (v: string | undefined): string => (a.architecture === 'arm64' && !v ? 'v8' : (v ?? ''));
      return variant === undefined || norm(variant) === norm(a.variant);
    });
    if (!ok)
      problems.push(`platform ${p.platform} is not in the allowed list [${rule.platforms.join(', ')}]`);
  }
  if (rule.nonRoot && runsAsRoot(a.user)) {
    problems.push(
      a.user === '' ? 'it runs as root (no user is set)' : `it runs as root (user ${JSON.stringify(a.user)})`,
    );
  }
  if (rule.requiredLabels) {
    const missing = rule.requiredLabels.filter((l) => !a.labels[l]);
    if (missing.length > 0) problems.push(`required labels missing or empty: ${missing.join(', ')}`);
  }
  if (rule.maxSizeBytes !== undefined && a.size > rule.maxSizeBytes) {
    problems.push(`it is ${formatBytes(a.size)}, over the limit of ${formatBytes(rule.maxSizeBytes)}`);
  }
  if (rule.maxAgeSeconds !== undefined) {
    const created = a.created === undefined ? NaN : Date.parse(a.created);
    if (Number.isNaN(created)) {
      problems.push(
        a.created === undefined
          ? 'its creation time is not set'
          : `its creation time ${JSON.stringify(a.created)} is not a valid time`,
      );
    } else {
      const age = (content.now.getTime() - created) / 1000;
      if (age > rule.maxAgeSeconds) {
        problems.push(
          `it was created ${a.created}, more than ${Math.round(rule.maxAgeSeconds / 86400)} days (${rule.maxAgeSeconds} s) ago`,
        );
      } else if (age < -300) {
        // A creation time in the future cannot be judged for age (and is a sign of a forged config).
        problems.push(`its creation time ${a.created} is in the future`);
      }
    }
  }
  if (rule.condition) {
    const result = evaluateCondition(
      rule.condition,
      { config: p.config, manifest: p.manifest, image: imageBinding(facts, content, p) },
      { now: content.now },
    );
    if (!result.ok) problems.push(result.error);
    else if (!result.value) {
      const expression = rule.condition.expression.replace(/\s+/g, ' ').trim();
      problems.push(
        rule.message
          ? `${rule.message} (condition \`${expression}\` is false)`
          : `condition \`${expression}\` is false`,
      );
    }
  }
  return problems;
}

function evaluate(rule: AttributesRule, facts: ImageFacts): RuleOutcome {
  const content = requireContent(facts, 'manifest and config');
  if (isOutcome(content)) return content;
  const platforms = content.platforms;
  const failures: string[] = [];
  for (const p of platforms) {
    const problems = checkPlatform(rule, facts, content, p);
    if (problems.length > 0) failures.push(`${p.platform} (${p.digest}): ${problems.join('; ')}`);
  }
  if (failures.length > 0) return fail(failures.join(' | '));
  const which =
    platforms.length === 1
      ? platforms[0]!.platform
      : `all ${platforms.length} platforms (${platforms.map((p) => p.platform).join(', ')})`;
  return pass(`${which}: every image attribute constraint holds`);
}

export const attributes: RuleKindDefinition<AttributesRule> = { kind: 'attributes', compile, evaluate };
