/**
 * Signatures an image carries, as facts: cosign legacy `.sig` attachments and Sigstore bundles attached
 * as OCI 1.1 referrers, from each signature source the applicable policies need.
 *
 * Everything is fetched by the digest resolved once for the decision (never the tag again), every blob
 * is digest-checked by the content source, and every count and size is bounded by the registry limits.
 * Any failure makes that source's candidates unavailable with the registry's message, so the rule that
 * needs them fails with it: an error is never read as "no signatures" nor as a pass.
 */
import type { Fact, SignatureEvidence, SourceSignatures } from '../engine/facts.ts';
import { known } from '../engine/facts.ts';
import type { SignatureSource } from '../policy/model.ts';
import type { ImageReference } from '../reference/types.ts';
import type { ContentSource } from '../registry/content.ts';
import type { RegistryLimits } from '../registry/limits.ts';
import type { SignatureSourceNeed } from '../rules/signatures.ts';
import type { SignatureCandidate } from '../sigstore/threshold.ts';
import { readBundleReferrers } from './bundle-referrers.ts';
import { collectFromSources, readAttachmentLayers, type OpenSignatureSource } from './attachment-sources.ts';

/** cosign v3 / sigstore-go: the artifact type of a bundle stored as a referrer. */
export { BUNDLE_ARTIFACT_TYPE } from './bundle-referrers.ts';

export interface SignatureFetchOptions {
  /** The decision's deadline. */
  readonly signal: AbortSignal;
  /** Usually `client.limits`. */
  readonly limits: RegistryLimits;
}

export type { OpenSignatureSource } from './attachment-sources.ts';

export async function fetchSignatures(
  open: OpenSignatureSource,
  ref: ImageReference,
  digest: string,
  needs: readonly SignatureSourceNeed[],
  options: SignatureFetchOptions,
): Promise<Fact<SignatureEvidence>> {
  const sources: SourceSignatures[] = await collectFromSources(
    open,
    ref,
    needs,
    'signatures',
    async (content, need) => {
      // Both stores are independent reads under the same deadline: fetch them side by side.
      const [legacy, bundles] = await Promise.all([
        need.formats.includes('legacy') ? legacySignatures(content, digest, need.source, options) : [],
        need.formats.includes('bundle') ? bundleSignatures(content, digest, options) : [],
      ]);
      return [...legacy, ...bundles];
    },
  );
  return known({ digest, sources });
}

/** cosign's `<prefix>sha256-<hex>.sig` image: one simple-signing payload per layer, with annotations. */
async function legacySignatures(
  content: ContentSource,
  digest: string,
  source: SignatureSource,
  { signal, limits }: SignatureFetchOptions,
): Promise<SignatureCandidate[]> {
  const found = await readAttachmentLayers(content, digest, 'sig', source.tagPrefix, {
    signal,
    limits,
    maxBlobBytes: limits.blob.signaturePayload,
  });
  return found.layers.map(({ layer, bytes }) => ({
    kind: 'legacy',
    source: found.source,
    signature: {
      payload: bytes,
      annotations: layer.annotations ?? {},
      mediaType: layer.mediaType,
      digest: layer.digest,
    },
  }));
}

/** Sigstore bundles attached to the digest as OCI 1.1 referrers (API or tag-schema fallback). */
async function bundleSignatures(
  content: ContentSource,
  digest: string,
  { signal, limits }: SignatureFetchOptions,
): Promise<SignatureCandidate[]> {
  const found = await readBundleReferrers(content, digest, {
    signal,
    limits,
    maxBundleBytes: limits.blob.bundle,
    what: 'signature bundles',
  });
  return found.map(({ source, bundle }) => ({ kind: 'bundle', source, bundle }));
}
