/**
 * What a decision means for an image index (multi-platform image).
 *
 * Decision:
 * 1. The digest the workload references is the subject of every check. For `repo:tag` resolving to an
 *    index, that is the INDEX digest: signatures and attestations are looked up for the index digest
 *    (cosign `sha256-<index>.sig`, referrers of the index), and the admitted/pinned digest is the index's.
 * 2. A signature on one child never admits the index: the index digest is what is pinned, so the node may
 *    pull any child of it. Rules that look at children (e.g. "every platform must be signed" or
 *    "the platform the node will run") get them through `resolvePlatforms`, each child fetched BY DIGEST
 *    and verified against the index's descriptor (digest and size); such rules must then hold for every
 *    child they are given, never for "at least one".
 * 3. Children are looked at only when a rule asks for them (policy knob, later), or when the reference
 *    names a child digest directly, in which case that child is an ordinary image manifest and rule 1
 *    applies to it. Attestation manifests that BuildKit stores in indexes
 *    (`vnd.docker.reference.type: attestation-manifest`) are not platforms and are skipped.
 * 4. Nested indexes are not recursed into: a child that is itself an index is returned as such and a rule
 *    needing platform images fails closed on it.
 */
import type { ContentSource, Descriptor, OperationOptions, Platform, VerifiedManifest } from './content.ts';
import { parseManifestJson, type IndexManifest, type ParsedManifest } from '../oci/manifest.ts';
import { INDEX_MANIFEST_TYPES } from '../oci/media-types.ts';
import { PARALLEL_FETCHES } from './concurrency.ts';
import { RegistryError } from './errors.ts';
import { mapLimit } from '../util/map-limit.ts';

export interface PlatformSelector {
  readonly os: string;
  readonly architecture: string;
  readonly variant?: string;
}

export interface PlatformManifest {
  /** The descriptor as listed in the index (platform included). */
  readonly descriptor: Descriptor;
  /** The child manifest, fetched by digest and verified. */
  readonly manifest: VerifiedManifest;
  readonly parsed: ParsedManifest;
}

const ATTESTATION_MANIFEST = 'attestation-manifest';

/** True when the manifest is an index (OCI index or Docker manifest list). */
export function isIndex(manifest: VerifiedManifest): boolean {
  return INDEX_MANIFEST_TYPES.includes(manifest.descriptor.mediaType);
}

/** The platform entries of an index, optionally only those matching `platform` (attestation manifests skipped). */
export function platformEntries(index: IndexManifest, platform?: PlatformSelector): Descriptor[] {
  return index.manifests.filter(
    (entry) =>
      entry.annotations?.['vnd.docker.reference.type'] !== ATTESTATION_MANIFEST &&
      (platform === undefined || (entry.platform !== undefined && platformMatches(entry.platform, platform))),
  );
}

export function platformMatches(candidate: Platform, wanted: PlatformSelector): boolean {
  if (candidate.os !== wanted.os || candidate.architecture !== wanted.architecture) return false;
  if (wanted.variant === undefined) return true;
  return (
    normalizeVariant(candidate.architecture, candidate.variant) ===
    normalizeVariant(wanted.architecture, wanted.variant)
  );
}

/** arm64 without a variant means v8 (containerd's normalization). */
export function normalizeVariant(architecture: string, variant: string | undefined): string | undefined {
  if (architecture === 'arm64' && (variant === undefined || variant === '')) return 'v8';
  return variant;
}

/**
 * Fetch the children of an index (all platforms, or those matching `platform`), each by digest, verified,
 * and checked against the size the index gives for it. An index with no matching child is an error.
 */
export async function resolvePlatforms(
  source: ContentSource,
  index: VerifiedManifest,
  platform?: PlatformSelector,
  options: OperationOptions = {},
): Promise<PlatformManifest[]> {
  const parsed = parseManifestJson(index.json, index.descriptor.mediaType, {
    digest: index.descriptor.digest,
  });
  if (parsed.kind !== 'index') {
    throw new RegistryError('BAD_MANIFEST', `${index.descriptor.digest} is not an image index`, {
      registry: source.location,
    });
  }
  const entries = platformEntries(parsed, platform);
  if (entries.length === 0) {
    const wanted =
      platform === undefined
        ? 'any platform'
        : `${platform.os}/${platform.architecture}${platform.variant ? `/${platform.variant}` : ''}`;
    throw new RegistryError('NOT_FOUND', `index ${index.descriptor.digest} has no manifest for ${wanted}`, {
      registry: source.location,
    });
  }
  return mapLimit(entries, PARALLEL_FETCHES, async (descriptor) => {
    const manifest = await source.fetchManifest(descriptor.digest, options);
    if (manifest.bytes.length !== descriptor.size) {
      throw new RegistryError(
        'SIZE_MISMATCH',
        `child ${descriptor.digest} of index ${index.descriptor.digest} is ${manifest.bytes.length} bytes, the index says ${descriptor.size}`,
        { registry: source.location },
      );
    }
    const parsed = parseManifestJson(manifest.json, manifest.descriptor.mediaType, {
      digest: descriptor.digest,
    });
    return { descriptor, manifest, parsed };
  });
}
