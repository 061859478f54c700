/**
 * Sigstore bundles attached to a digest as OCI 1.1 referrers (the referrers API, or the tag-schema
 * fallback inside ContentSource.referrers). Image signatures and attestations are both stored this way;
 * which bundles count for what is the rules' business (predicate type), not this reader's.
 */
import { SIGSTORE_BUNDLE_PREFIX, SIGSTORE_BUNDLE_V03 } from '../oci/media-types.ts';
import { fetchAttachmentManifest } from '../registry/attachments.ts';
import type { ContentSource } from '../registry/content.ts';
import type { RegistryLimits } from '../registry/limits.ts';
import { PARALLEL_FETCHES } from '../registry/concurrency.ts';
import { mapLimit } from '../util/map-limit.ts';

export { SIGSTORE_BUNDLE_V03 as BUNDLE_ARTIFACT_TYPE };

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
  const referrers = (await content.referrers(digest, { signal, artifactType: SIGSTORE_BUNDLE_V03 })).filter(
    (d) => d.artifactType === SIGSTORE_BUNDLE_V03,
  );
  if (referrers.length > limits.signatureLayers) {
    throw new Error(
      `${referrers.length} ${what} are attached to ${digest}, more than the limit of ${limits.signatureLayers}`,
    );
  }
  const manifests = await mapLimit(referrers, PARALLEL_FETCHES, (referrer) =>
    fetchAttachmentManifest(content, referrer.digest, { signal, maxLayers: limits.signatureLayers }),
  );
  // Counted over every referrer before any bundle is downloaded.
  const wanted = referrers.flatMap((referrer, i) =>
    manifests[i]!.layers.filter((layer) => layer.mediaType.startsWith(SIGSTORE_BUNDLE_PREFIX)).map(
      (layer) => ({ referrer, layer }),
    ),
  );
  if (wanted.length > limits.signatureLayers) {
    throw new Error(
      `${wanted.length} ${what} are attached to ${digest}, more than the limit of ${limits.signatureLayers}`,
    );
  }
  return mapLimit(wanted, PARALLEL_FETCHES, async ({ referrer, layer }) => ({
    source: `${content.location}@${referrer.digest}`,
    bundle: await content.fetchBlob(layer, { signal, maxBytes: maxBundleBytes }),
  }));
}
