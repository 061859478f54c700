/**
 * Image content facts: the verified manifest (or index and its platform children), each platform's
 * config blob, and, for baseImage rules, the layer lists of the candidate base images.
 *
 * Everything is fetched by digest and content-addressed by the ContentSource; config blobs are bounded
 * by `limits.blob.config`, platforms by MAX_PLATFORMS and candidate bases by MAX_BASE_CANDIDATES. Any
 * failure about the image itself makes the whole fact unavailable (every rule needing it fails with the
 * reason); a failure about one candidate base is kept on that candidate, so the rule can say why it did
 * not count (and a base found by lineage is not made less true by another base being unreachable).
 *
 * Base candidates. A base is looked for by its reference: every concrete allowed entry (a reference with
 * a tag or digest and no wildcard) is resolved, and so is the base named by the image's
 * `org.opencontainers.image.base.name` (+ `base.digest`) annotation when it matches an allowed entry.
 * The annotation only says where to look: it is an unsigned claim, and the rule accepts a base only when
 * its layers are a prefix of the image's (see src/rules/base-image.ts).
 */
import type { Fact, ImageFacts } from '../engine/facts.ts';
import { known, unavailable } from '../engine/facts.ts';
import type { ImageManifest } from '../oci/manifest.ts';
import { parseManifestJson } from '../oci/manifest.ts';
import type { BaseImageEntry, PolicySet } from '../policy/model.ts';
import type { ImageReference } from '../reference/types.ts';
import { canonical, parseReference, withDigest } from '../reference/index.ts';
import type { ContentSource, VerifiedManifest } from '../registry/content.ts';
import {
  isIndex,
  normalizeVariant,
  platformEntries,
  resolvePlatforms,
  type PlatformSelector,
} from '../registry/index-policy.ts';
import type { RegistryClient } from '../registry/client.ts';
import { DEFAULT_LIMITS, type RegistryLimits } from '../registry/limits.ts';
import { PARALLEL_FETCHES } from '../registry/concurrency.ts';
import { mapLimit } from '../util/map-limit.ts';
import { policyApplies } from '../policy/match.ts';

/** Platforms of one index judged at most; a larger index is refused rather than half-judged. */
export const MAX_PLATFORMS = 64;
/** Distinct base references resolved per image (each costs a few registry round trips). */
export const MAX_BASE_CANDIDATES = 8;

export const BASE_NAME_ANNOTATION = 'org.opencontainers.image.base.name';
export const BASE_DIGEST_ANNOTATION = 'org.opencontainers.image.base.digest';

/** The summary of one platform image that rules read (CEL's `image` variable carries it too). */
export interface ImageAttributes {
  /** `config.config.User`, '' when unset (which runs as root). */
  readonly user: string;
  readonly labels: Readonly<Record<string, string>>;
  /** The platform manifest's annotations. */
  readonly annotations: Readonly<Record<string, string>>;
  readonly os: string;
  readonly architecture: string;
  readonly variant?: string;
  /** `config.created` as written (RFC 3339), absent when unset. */
  readonly created?: string;
  /** Layer digests, in order, as the manifest lists them. */
  readonly layers: readonly string[];
  /** `config.rootfs.diff_ids`, in order (digests of the uncompressed layers). */
  readonly diffIds: readonly string[];
  readonly layerCount: number;
  /** Config size plus the layer sizes, in bytes, as stored in the registry (compressed). */
  readonly size: number;
  readonly history: readonly unknown[];
}

/** A base image's layers for the platform being judged. */
export interface BaseLineage {
  /** The platform manifest digest of the base. */
  readonly digest: string;
  /** The index digest, when the base reference named an index. */
  readonly indexDigest?: string;
  readonly layers: readonly string[];
  readonly diffIds: readonly string[];
}

export interface BaseCandidate {
  /** The reference that was resolved (a tag, or the annotation's name pinned to its digest). */
  readonly reference: ImageReference;
  /** Why it was tried: an allowed entry naming it, or the image's base annotations. */
  readonly via: 'allowed' | 'annotation';
  readonly lineage: Fact<BaseLineage>;
}

export interface PlatformContent {
  /** `os/architecture[/variant]`, from the config (what actually runs). */
  readonly platform: string;
  /** The platform manifest's digest. */
  readonly digest: string;
  /** The manifest JSON (verified against `digest`). */
  readonly manifest: unknown;
  /** The config JSON (verified against the manifest's config descriptor). */
  readonly config: unknown;
  readonly attributes: ImageAttributes;
  /** What the base annotations claim, if anything (a hint, never evidence). */
  readonly baseAnnotation?: { readonly name?: string; readonly digest?: string };
  /** Present when a baseImage rule needs them. */
  readonly bases?: readonly BaseCandidate[];
}

export interface ImageContent {
  /** The digest judged (the decision's). */
  readonly digest: string;
  /** The index JSON, when `digest` is an index; then `platforms` are its children. */
  readonly index?: unknown;
  readonly platforms: readonly PlatformContent[];
  /** The decision time, for conditions on age (CEL `now`). */
  readonly now: Date;
  /** Base references not resolved because of MAX_BASE_CANDIDATES. */
  readonly basesNotTried?: readonly string[];
}

/** An allowed base entry, as a baseImage rule compiles it. */
export type BaseEntry = BaseImageEntry;

export interface ContentNeeds {
  /** Allowed base entries over every applicable baseImage rule (empty: no base lookup). */
  readonly bases: readonly BaseEntry[];
}

/**
 * What the applicable policies need of the image's content (pure); undefined when no applicable policy
 * has an attributes or baseImage rule: then nothing is fetched.
 */
export function requiredContent(policySet: PolicySet, ref: ImageReference): ContentNeeds | undefined {
  let needed = false;
  const bases: BaseEntry[] = [];
  for (const policy of policySet.policies) {
    // Context unknown here: a policy whose `match` may apply is fetched for (the engine decides).
    if (!policyApplies(policy, ref)) continue;
    for (const rule of policy.rules) {
      if (rule.kind === 'attributes') needed = true;
      if (rule.kind === 'baseImage') {
        needed = true;
        bases.push(...rule.allowed);
      }
    }
  }
  return needed ? { bases } : undefined;
}

/** Opens the repository a base reference lives in, or says why it cannot be read. */
export type OpenBaseSource = (ref: ImageReference) => ContentSource | { readonly unavailable: string };

export interface ContentOptions {
  readonly signal: AbortSignal;
  readonly limits: RegistryLimits;
  readonly now: Date;
  readonly openBase: OpenBaseSource;
}

class ContentError extends Error {
  readonly code = 'IMAGE_CONTENT';
}

function message(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** Fetch the image's content facts. Never throws: a failure is an unavailable fact with the reason. */
export async function fetchImageContent(
  source: ContentSource,
  digest: string,
  needs: ContentNeeds,
  options: ContentOptions,
): Promise<Fact<ImageContent>> {
  try {
    const top = await source.fetchManifest(digest, { signal: options.signal });
    const resolver = new BaseResolver(needs, options);
    let index: unknown;
    const images: { manifest: VerifiedManifest; parsed: ImageManifest; listed?: PlatformSelector }[] = [];
    if (isIndex(top)) {
      index = top.json;
      const parsed = parseManifestJson(top.json, top.descriptor.mediaType, {
        digest,
        limits: options.limits.manifest,
      });
      if (parsed.kind !== 'index') throw new ContentError(`${digest} is not an image index`);
      const count = platformEntries(parsed).length;
      if (count > MAX_PLATFORMS) {
        throw new ContentError(
          `index ${digest} lists ${count} platform images; at most ${MAX_PLATFORMS} are judged`,
        );
      }
      for (const child of await resolvePlatforms(source, top, undefined, { signal: options.signal })) {
        if (child.parsed.kind !== 'image') {
          throw new ContentError(
            `child ${child.descriptor.digest} of index ${digest} is itself an index; nested indexes are not judged`,
          );
        }
        images.push({
          manifest: child.manifest,
          parsed: child.parsed,
          ...(child.descriptor.platform ? { listed: child.descriptor.platform } : {}),
        });
      }
    } else {
      const parsed = parseManifestJson(top.json, top.descriptor.mediaType, {
        digest,
        limits: options.limits.manifest,
      });
      if (parsed.kind !== 'image') throw new ContentError(`${digest} is not an image manifest`);
      images.push({ manifest: top, parsed });
    }

    const configs = await mapLimit(images, PARALLEL_FETCHES, (image) =>
      fetchConfig(source, image.parsed, image.manifest.descriptor.digest, options),
    );
    const platforms: PlatformContent[] = [];
    for (const [i, image] of images.entries()) {
      const config = configs[i]!;
      const attributes = attributesOf(image.parsed, config, image.manifest.descriptor.digest);
      const label = platformLabel(attributes);
      if (image.listed && !samePlatform(image.listed, attributes)) {
        throw new ContentError(
          `index ${digest} lists ${image.manifest.descriptor.digest} as ${platformLabel(image.listed)}, but its config says ${label}`,
        );
      }
      const annotation = baseAnnotation(image.parsed, isRecord(index) ? index : undefined);
      const bases = needs.bases.length > 0 ? await resolver.candidates(attributes, annotation) : undefined;
      platforms.push({
        platform: label,
        digest: image.manifest.descriptor.digest,
        manifest: image.manifest.json,
        config,
        attributes,
        ...(annotation ? { baseAnnotation: annotation } : {}),
        ...(bases ? { bases } : {}),
      });
    }
    const skipped = resolver.skipped();
    return known({
      digest,
      ...(index !== undefined ? { index } : {}),
      platforms,
      now: options.now,
      ...(skipped.length > 0 ? { basesNotTried: skipped } : {}),
    });
  } catch (error) {
    return unavailable(`image content of ${digest} could not be read: ${message(error)}`);
  }
}

async function fetchConfig(
  source: ContentSource,
  manifest: ImageManifest,
  manifestDigest: string,
  options: ContentOptions,
): Promise<Record<string, unknown>> {
  const max = options.limits.blob.config;
  const descriptor = manifest.config;
  if (descriptor.size > max) {
    throw new ContentError(
      `config ${descriptor.digest} of ${manifestDigest} is ${descriptor.size} bytes; the limit is ${max}`,
    );
  }
  const bytes = await source.fetchBlob(descriptor, { maxBytes: max, signal: options.signal });
  let json: unknown;
  try {
    json = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(bytes)) as unknown;
  } catch (error) {
    throw new ContentError(`config ${descriptor.digest} of ${manifestDigest} is not JSON: ${message(error)}`);
  }
  if (!isRecord(json))
    throw new ContentError(`config ${descriptor.digest} of ${manifestDigest} is not a JSON object`);
  return json;
}

function stringField(record: Record<string, unknown>, key: string, where: string): string | undefined {
  const value = record[key];
  if (value === undefined || value === null) return undefined;
  if (typeof value !== 'string') throw new ContentError(`${where}.${key} is not a string`);
  return value;
}

function stringMap(value: unknown, where: string): Record<string, string> {
  if (value === undefined || value === null) return {};
  if (!isRecord(value)) throw new ContentError(`${where} is not a mapping`);
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(value)) {
    if (typeof v !== 'string') throw new ContentError(`${where}[${JSON.stringify(k)}] is not a string`);
    out[k] = v;
  }
  return out;
}

/** The summary rules read. A config whose fields have the wrong types is refused, not guessed at. */
export function attributesOf(
  manifest: ImageManifest,
  config: Record<string, unknown>,
  manifestDigest: string,
): ImageAttributes {
  const where = `config of ${manifestDigest}`;
  const inner = config.config ?? {};
  if (!isRecord(inner)) throw new ContentError(`${where}: config.config is not a mapping`);
  const os = stringField(config, 'os', where);
  const architecture = stringField(config, 'architecture', where);
  if (!os || !architecture) throw new ContentError(`${where} does not name its os and architecture`);
  const variant = stringField(config, 'variant', where);
  const created = stringField(config, 'created', where);
  const rootfs = config.rootfs;
  const diffIds =
    isRecord(rootfs) && Array.isArray(rootfs.diff_ids)
      ? rootfs.diff_ids.map((d, i) => {
          if (typeof d !== 'string')
            throw new ContentError(`${where}: rootfs.diff_ids[${i}] is not a string`);
          return d;
        })
      : [];
  const history = config.history === undefined ? [] : config.history;
  if (!Array.isArray(history)) throw new ContentError(`${where}: history is not a list`);
  const size = manifest.layers.reduce((total, layer) => total + layer.size, manifest.config.size);
  return {
    user: stringField(inner, 'User', `${where}: config`) ?? '',
    labels: stringMap(inner.Labels, `${where}: config.Labels`),
    annotations: { ...manifest.annotations },
    os,
    architecture,
    ...(variant ? { variant } : {}),
    ...(created !== undefined ? { created } : {}),
    layers: manifest.layers.map((l) => l.digest),
    diffIds,
    layerCount: manifest.layers.length,
    size,
    history: history as unknown[],
  };
}

export function platformLabel(p: { os: string; architecture: string; variant?: string | undefined }): string {
  return `${p.os}/${p.architecture}${p.variant ? `/${p.variant}` : ''}`;
}

function samePlatform(listed: PlatformSelector, attributes: ImageAttributes): boolean {
  return (
    listed.os === attributes.os &&
    listed.architecture === attributes.architecture &&
    (normalizeVariant(listed.architecture, listed.variant) ?? '') ===
      (normalizeVariant(attributes.architecture, attributes.variant) ?? '')
  );
}

function baseAnnotation(
  manifest: ImageManifest,
  index: Record<string, unknown> | undefined,
): { name?: string; digest?: string } | undefined {
  const own = manifest.annotations ?? {};
  const fromIndex = index && isRecord(index.annotations) ? index.annotations : {};
  const pick = (key: string): string | undefined => {
    const value = own[key] ?? fromIndex[key];
    return typeof value === 'string' && value.length > 0 ? value : undefined;
  };
  const name = pick(BASE_NAME_ANNOTATION);
  const digest = pick(BASE_DIGEST_ANNOTATION);
  if (name === undefined && digest === undefined) return undefined;
  return { ...(name !== undefined ? { name } : {}), ...(digest !== undefined ? { digest } : {}) };
}

/** The annotation's base as a reference (pinned to base.digest when that is a valid digest), or none. */
export function annotatedBase(
  annotation: { name?: string; digest?: string } | undefined,
): ImageReference | undefined {
  if (!annotation?.name) return undefined;
  try {
    const ref = parseReference(annotation.name);
    if (annotation.digest === undefined) return ref;
    try {
      return withDigest(ref, annotation.digest);
    } catch {
      return ref;
    }
  } catch {
    return undefined;
  }
}

interface ResolvedBase {
  readonly manifest: VerifiedManifest;
  readonly source: ContentSource;
}

/** Resolves candidate bases once per image (a base shared by every platform is fetched once). */
class BaseResolver {
  readonly #needs: ContentNeeds;
  readonly #options: ContentOptions;
  readonly #tops = new Map<string, Promise<ResolvedBase>>();
  readonly #lineages = new Map<string, Promise<Fact<BaseLineage>>>();
  readonly #skipped = new Set<string>();

  constructor(needs: ContentNeeds, options: ContentOptions) {
    this.#needs = needs;
    this.#options = options;
  }

  skipped(): string[] {
    return [...this.#skipped];
  }

  async candidates(
    attributes: ImageAttributes,
    annotation: { name?: string; digest?: string } | undefined,
  ): Promise<BaseCandidate[]> {
    const wanted = new Map<string, { reference: ImageReference; via: 'allowed' | 'annotation' }>();
    const hinted = annotatedBase(annotation);
    // The annotated base first: it names the exact base the image was built from.
    if (hinted && this.#needs.bases.some((b) => b.pattern.matches(hinted))) {
      wanted.set(canonical(hinted), { reference: hinted, via: 'annotation' });
    }
    for (const entry of this.#needs.bases) {
      if (!entry.reference) continue;
      const key = canonical(entry.reference);
      if (!wanted.has(key)) wanted.set(key, { reference: entry.reference, via: 'allowed' });
    }
    const out: BaseCandidate[] = [];
    for (const [key, { reference, via }] of wanted) {
      if (!this.#tops.has(key) && this.#tops.size >= MAX_BASE_CANDIDATES) {
        this.#skipped.add(key);
        continue;
      }
      out.push({ reference, via, lineage: await this.#lineage(key, reference, attributes) });
    }
    return out;
  }

  #lineage(key: string, reference: ImageReference, attributes: ImageAttributes): Promise<Fact<BaseLineage>> {
    const platform = platformLabel(attributes);
    const cacheKey = `${key}|${platform}`;
    let found = this.#lineages.get(cacheKey);
    if (!found) {
      found = this.#resolveLineage(key, reference, attributes).then(
        (value) => known(value),
        (error: unknown) => unavailable<BaseLineage>(message(error)),
      );
      this.#lineages.set(cacheKey, found);
    }
    return found;
  }

  #top(key: string, reference: ImageReference): Promise<ResolvedBase> {
    let top = this.#tops.get(key);
    if (!top) {
      top = (async () => {
        const source = this.#options.openBase(reference);
        if ('unavailable' in source) throw new ContentError(source.unavailable);
        const signal = this.#options.signal;
        const digest = reference.digest ?? (await source.resolve(reference, { signal })).digest;
        return { manifest: await source.fetchManifest(digest, { signal }), source };
      })();
      // Handled by #lineage; this keeps an early rejection from being reported as unhandled.
      top.catch(() => undefined);
      this.#tops.set(key, top);
    }
    return top;
  }

  async #resolveLineage(
    key: string,
    reference: ImageReference,
    attributes: ImageAttributes,
  ): Promise<BaseLineage> {
    const { manifest, source } = await this.#top(key, reference);
    const signal = this.#options.signal;
    let platformManifest = manifest;
    let indexDigest: string | undefined;
    if (isIndex(manifest)) {
      indexDigest = manifest.descriptor.digest;
      const selector: PlatformSelector = {
        os: attributes.os,
        architecture: attributes.architecture,
        ...(attributes.variant ? { variant: attributes.variant } : {}),
      };
      const [child] = await resolvePlatforms(source, manifest, selector, { signal });
      if (!child) throw new ContentError(`no manifest for ${platformLabel(attributes)}`);
      platformManifest = child.manifest;
    }
    const parsed = parseManifestJson(platformManifest.json, platformManifest.descriptor.mediaType, {
      digest: platformManifest.descriptor.digest,
      limits: this.#options.limits.manifest,
    });
    if (parsed.kind !== 'image') {
      throw new ContentError(`${platformManifest.descriptor.digest} is a nested index, not an image`);
    }
    const config = await fetchConfig(source, parsed, platformManifest.descriptor.digest, this.#options);
    const base = attributesOf(parsed, config, platformManifest.descriptor.digest);
    return {
      digest: platformManifest.descriptor.digest,
      ...(indexDigest ? { indexDigest } : {}),
      layers: base.layers,
      diffIds: base.diffIds,
    };
  }
}

export interface WithContentOptions {
  readonly offline: boolean;
  readonly signal: AbortSignal;
  /** For bases (and the image itself when `content` is absent). */
  readonly registry?: RegistryClient;
  /** Where the image's own manifests and blobs are read (its repository, or its OCI layout). */
  readonly content?: ContentSource;
  /** The decision time. */
  readonly now: Date;
}

/** Adds `content` to the facts when an applicable policy needs it (the wiring's one call). */
export async function withImageContent(
  policySet: PolicySet,
  facts: ImageFacts,
  options: WithContentOptions,
): Promise<ImageFacts> {
  if (!facts.reference) return facts;
  const needs = requiredContent(policySet, facts.reference);
  if (!needs) return facts;
  if (!facts.digest?.available) {
    const why = facts.digest ? facts.digest.reason : 'the reference has no digest';
    return {
      ...facts,
      content: unavailable(`the image content cannot be read without the image digest: ${why}`),
    };
  }
  const registry = options.registry;
  let source = options.content;
  if (!source) {
    if (options.offline || !registry) {
      const why = options.offline ? '--offline prevents fetching it' : 'no registry client is configured';
      return {
        ...facts,
        content: unavailable(`the image manifest and config are in the registry, and ${why}`),
      };
    }
    source = registry.repository(facts.reference.registry, facts.reference.repository);
  }
  const openBase: OpenBaseSource = (ref) => {
    if (options.offline)
      return { unavailable: 'base images are in a registry, and --offline prevents fetching them' };
    if (!registry)
      return { unavailable: 'base images are in a registry, and no registry client is configured' };
    return registry.repository(ref.registry, ref.repository);
  };
  const content = await fetchImageContent(source, facts.digest.value, needs, {
    signal: options.signal,
    limits: registry?.limits ?? DEFAULT_LIMITS,
    now: options.now,
    openBase,
  });
  return { ...facts, content };
}
