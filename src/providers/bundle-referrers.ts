/**
 * Sigstore bundles attached to a digest as OCI 1.1 referrers (the referrers API, or the tag-schema
 * fallback inside ContentSource.referrers). Image signatures and attestations are both stored this way;
 * which bundles count for what is the rules' business (predicate type), not this reader's.
 */
import { fetchAttachmentManifest } from '../registry/attachments.ts';
import type { ContentSource } from '../registry/content.ts';
import type { RegistryLimits } from '../registry/limits.ts';

export const BUNDLE_ARTIFACT_TYPE = 'application/vnd.dev.sigstore.bundle.v0.3+json';
const BUNDLE_MEDIA_TYPE_PREFIX = 'application/vnd.dev.sigstore.bundle';

export interface BundleReferrer {
  /** `location@referrer-digest`, for decisions to say where a bundle was found. */
  readonly source: string;
  readonly bundle: Uint8Array;
}

export interface BundleReadOptions {
  readonly signal: AbortSignal;
  readonly limits: RegistryLimits;
  /** Per-bundle size bound: image signatures are small, attestations (SBOMs) can be large. */
  readonly maxBundleBytes: number;
  /** What the bundles are, for messages ("signature bundles", "Sigstore bundles"). */
  readonly what: string;
}

/** Every bundle layer of every bundle referrer of `digest`, bounded in count and size. */
export async function readBundleReferrers(
  content: ContentSource,
  digest: string,
  { signal, limits, maxBundleBytes, what }: BundleReadOptions,
): Promise<BundleReferrer[]> {
  // The registry's artifactType filter is a hint only: filter again here.
  const referrers = (await content.referrers(digest, { signal, artifactType: BUNDLE_ARTIFACT_TYPE })).filter(
    (d) => d.artifactType === BUNDLE_ARTIFACT_TYPE,
  );
  if (referrers.length > limits.signatureLayers) {
    throw new Error(
      `${referrers.length} ${what} are attached to ${digest}, more than the limit of ${limits.signatureLayers}`,
    );
  }
  const out: BundleReferrer[] = [];
  for (const referrer of referrers) {
    const manifest = await fetchAttachmentManifest(content, referrer.digest, {
      signal,
      maxLayers: limits.signatureLayers,
    });
    for (const layer of manifest.layers) {
      if (!layer.mediaType.startsWith(BUNDLE_MEDIA_TYPE_PREFIX)) continue;
      if (out.length >= limits.signatureLayers) {
        throw new Error(`more than ${limits.signatureLayers} ${what} are attached to ${digest}`);
      }
      const bundle = await content.fetchBlob(layer, { signal, maxBytes: maxBundleBytes });
      out.push({ source: `${content.location}@${referrer.digest}`, bundle });
    }
  }
  return out;
}
