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
import { known, unavailable } from '../engine/facts.ts';
import type { SignatureSource } from '../policy/model.ts';
import type { ImageReference } from '../reference/types.ts';
import { fetchAttachmentManifest } from '../registry/attachments.ts';
import type { ContentSource } from '../registry/content.ts';
import { cosignAttachmentTag } from '../registry/cosign.ts';
import type { RegistryLimits } from '../registry/limits.ts';
import { describeSource, type SignatureSourceNeed } from '../rules/signatures.ts';
import type { SignatureCandidate } from '../sigstore/threshold.ts';
import { readBundleReferrers } from './bundle-referrers.ts';

/** cosign v3 / sigstore-go: the artifact type of a bundle stored as a referrer. */
export { BUNDLE_ARTIFACT_TYPE } from './bundle-referrers.ts';

export interface SignatureFetchOptions {
  /** The decision's deadline. */
  readonly signal: AbortSignal;
  /** Usually `client.limits`. */
  readonly limits: RegistryLimits;
}

/** Where a source's content is read from, or why it cannot be (e.g. offline). */
export type OpenSignatureSource = (
  source: SignatureSource,
) => ContentSource | { readonly unavailable: string };

export async function fetchSignatures(
  open: OpenSignatureSource,
  ref: ImageReference,
  digest: string,
  needs: readonly SignatureSourceNeed[],
  options: SignatureFetchOptions,
): Promise<Fact<SignatureEvidence>> {
  const sources = await Promise.all(
    needs.map(async (need): Promise<SourceSignatures> => {
      const location = describeSource(need.source, ref);
      const base = { key: need.key, location };
      const content = open(need.source);
      if ('unavailable' in content) return { ...base, candidates: unavailable(content.unavailable) };
      try {
        // Both stores are independent reads under the same deadline: fetch them side by side.
        const [legacy, bundles] = await Promise.all([
          need.formats.includes('legacy') ? legacySignatures(content, digest, need.source, options) : [],
          need.formats.includes('bundle') ? bundleSignatures(content, digest, options) : [],
        ]);
        const found: SignatureCandidate[] = [...legacy, ...bundles];
        return { ...base, candidates: known(found) };
      } catch (error) {
        const message = error instanceof Error ? error.message : String(error);
        return {
          ...base,
          candidates: unavailable(`could not fetch signatures from ${location}: ${message}`),
        };
      }
    }),
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
  const tag = cosignAttachmentTag(digest, 'sig', source.tagPrefix);
  const descriptor = await content.resolveTag(tag, { signal });
  if (!descriptor) return [];
  const manifest = await fetchAttachmentManifest(content, descriptor.digest, {
    signal,
    maxLayers: limits.signatureLayers,
  });
  const out: SignatureCandidate[] = [];
  const payloads = await Promise.all(
    manifest.layers.map((layer) =>
      content.fetchBlob(layer, { signal, maxBytes: limits.blob.signaturePayload }),
    ),
  );
  for (const [index, layer] of manifest.layers.entries()) {
    const payload = payloads[index]!;
    out.push({
      kind: 'legacy',
      source: `${content.location}:${tag}`,
      signature: {
        payload,
        annotations: layer.annotations ?? {},
        mediaType: layer.mediaType,
        digest: layer.digest,
      },
    });
  }
  return out;
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
