/**
 * `baseImage`: the image must be built on an approved base, proven by layer lineage.
 *
 * A base is found when its layers, resolved from the registry for the image's platform, are a prefix of
 * the image's layers: by layer digest (same compressed blobs, the usual `FROM` result), or by diff_id
 * (the digests of the uncompressed layers in the configs: the same content recompressed, as buildah and
 * podman commit do). Container runtimes check each layer against its diff_id when unpacking, so a config
 * that lies about diff_ids does not run.
 *
 * The `org.opencontainers.image.base.name`/`base.digest` annotations are an unsigned claim. They are used
 * only to decide WHICH base to resolve (e.g. which image under an allowed glob, and which older digest
 * of an allowed tag); they are never evidence on their own, signed image or not: a signature says who
 * built the image, not that the builder's annotation is true, and lineage is cheap to check. A base with
 * no layers (scratch) proves nothing and never matches.
 *
 * For an index, every platform image must have an approved base.
 */
import type { ImageFacts } from '../engine/facts.ts';
import type { RuleOutcome } from '../engine/outcome.ts';
import { fail, pass } from '../engine/outcome.ts';
import type { BaseImageEntry, BaseImageRule } from '../policy/model.ts';
import type { BaseCandidate, PlatformContent } from '../providers/image-content.ts';
import { annotatedBase, MAX_BASE_CANDIDATES } from '../providers/image-content.ts';
import { canonical, compileImagePattern, parseReference } from '../reference/index.ts';
import {
  isOutcome,
  isRecord,
  listText,
  patternIssue,
  requireContent,
  stringList,
  tracking,
  warnDuplicates,
} from './support.ts';
import type { CompileContext, RuleKindDefinition } from './types.ts';

function compile(raw: unknown, outer: CompileContext): BaseImageRule | undefined {
  if (!isRecord(raw)) {
    outer.error([], 'baseImage must be a mapping with allowed: [base image references or patterns]', {
      expected: 'a mapping',
    });
    return undefined;
  }
  const { ctx, failed } = tracking(outer);
  for (const key of Object.keys(raw)) {
    if (key !== 'allowed') ctx.error([key], `unknown field ${JSON.stringify(key)} in baseImage`);
  }
  const items = stringList(raw, 'allowed');
  if (!items || items.length === 0) {
    ctx.error(['allowed'], 'baseImage needs allowed: a non-empty list of base image references or patterns');
    return undefined;
  }
  const allowed: BaseImageEntry[] = [];
  let concrete = 0;
  for (const { value, index } of items) {
    let pattern;
    try {
      pattern = compileImagePattern(value);
    } catch (error) {
      const { message, detail } = patternIssue('base image pattern', value, error);
      ctx.error(['allowed', index], message, detail);
      continue;
    }
    let reference;
    if (!value.includes('*')) {
      try {
        const ref = parseReference(value);
        if (ref.tag !== undefined || ref.digest !== undefined) reference = ref;
      } catch {
        // A pattern that is not a reference (it only matches the annotation hint).
      }
    }
    if (reference) concrete++;
    allowed.push({ pattern, ...(reference ? { reference } : {}) });
  }
  warnDuplicates(ctx, items, 'allowed');
  if (concrete > MAX_BASE_CANDIDATES) {
    ctx.warning(
      ['allowed'],
      `${concrete} concrete base references are listed; only ${MAX_BASE_CANDIDATES} bases are resolved per image (the annotated base first)`,
    );
  }
  if (failed()) return undefined;
  return { kind: 'baseImage', name: ctx.name, source: ctx.source, allowed };
}

function isPrefix(base: readonly string[], image: readonly string[]): boolean {
  return base.length > 0 && base.length <= image.length && base.every((d, i) => image[i] === d);
}

interface Found {
  readonly candidate: BaseCandidate;
  readonly entry: BaseImageEntry;
  readonly by: 'layer digest' | 'diff_id';
  readonly count: number;
}

function judgePlatform(rule: BaseImageRule, p: PlatformContent): { found?: Found; why: string[] } {
  const why: string[] = [];
  const a = p.attributes;
  for (const candidate of p.bases ?? []) {
    const entry = rule.allowed.find((e) => e.pattern.matches(candidate.reference));
    if (!entry) continue; // another rule's base
    const name = canonical(candidate.reference);
    if (!candidate.lineage.available) {
      why.push(`${name} could not be resolved: ${candidate.lineage.reason}`);
      continue;
    }
    const base = candidate.lineage.value;
    if (base.layers.length === 0) {
      why.push(`${name} (${base.digest}) has no layers, which proves nothing`);
    } else if (isPrefix(base.layers, a.layers)) {
      return { found: { candidate, entry, by: 'layer digest', count: base.layers.length }, why };
    } else if (
      isPrefix(base.diffIds, a.diffIds) &&
      base.diffIds.length === base.layers.length &&
      a.diffIds.length === a.layers.length
    ) {
      return { found: { candidate, entry, by: 'diff_id', count: base.diffIds.length }, why };
    } else {
      why.push(
        `${name} (${base.digest}): its ${base.layers.length} layers are not the first layers of the image`,
      );
    }
  }
  return { why };
}

function evaluate(rule: BaseImageRule, facts: ImageFacts): RuleOutcome {
  const content = requireContent(facts, 'manifest, config, base layers');
  if (isOutcome(content)) return content;
  const platforms = content.platforms;
  const found: string[] = [];
  const failures: string[] = [];
  for (const p of platforms) {
    if (!p.bases) {
      failures.push(`${p.platform}: base images were not resolved`);
      continue;
    }
    const result = judgePlatform(rule, p);
    if (result.found) {
      const f = result.found;
      const base = f.candidate.lineage.available ? f.candidate.lineage.value : undefined;
      const at = base ? ` at ${base.digest}${base.indexDigest ? ` (index ${base.indexDigest})` : ''}` : '';
      found.push(
        `${p.platform}: approved base ${canonical(f.candidate.reference)}${at} (allowed by "${f.entry.pattern.pattern}"): its ${f.count} layers are the first of the image's ${p.attributes.layerCount}, compared by ${f.by}`,
      );
      continue;
    }
    const claim = annotatedBase(p.baseAnnotation);
    const notes = [...result.why];
    if (claim && !rule.allowed.some((e) => e.pattern.matches(claim))) {
      notes.unshift(
        `the image's base annotation names ${canonical(claim)}, which is not in the allowed list`,
      );
    } else if (claim && result.why.length > 0) {
      notes.push('the base annotation is a claim, not evidence');
    }
    const skipped = content.basesNotTried ?? [];
    if (skipped.length > 0) notes.push(`not tried (limit ${MAX_BASE_CANDIDATES}): ${skipped.join(', ')}`);
    const tried = notes.length > 0 ? `: ${notes.join('; ')}` : '';
    failures.push(
      `${p.platform} (${p.digest}): no approved base ${listText(rule.allowed.map((e) => e.pattern))} found by layer lineage${tried}`,
    );
  }
  if (failures.length > 0) return fail(failures.join(' | '));
  return pass(found.join(' | '));
}

export const baseImage: RuleKindDefinition<BaseImageRule> = { kind: 'baseImage', compile, evaluate };
