/**
 * Attestations an image carries, as facts: cosign legacy `.att` attachments (one DSSE envelope per
 * layer) and Sigstore bundles with DSSE envelopes attached as OCI 1.1 referrers (API or tag-schema
 * fallback), from each source the applicable attestations rules need.
 *
 * As for signatures: fetched by the digest resolved once for the decision, every blob digest-checked
 * by the content source, every count and size bounded (`limits.signatureLayers`,
 * `limits.blob.attestation`), and any failure makes that source's candidates unavailable, so the rule
 * denies with the registry's message. Nothing here is trusted: the rule verifies.
 */
import type { AttestationFacts, Fact, ImageFacts, SourceAttestations } from '../engine/facts.ts';
import { known, unavailable } from '../engine/facts.ts';
import type { PolicySet, SignatureSource } from '../policy/model.ts';
import type { ImageReference } from '../reference/types.ts';
import type { RegistryClient } from '../registry/client.ts';
import type { ContentSource } from '../registry/content.ts';
import { DEFAULT_LIMITS } from '../registry/limits.ts';
import { requiredAttestationSources } from '../rules/attestations.ts';
import type { SignatureSourceNeed } from '../rules/signatures.ts';
import type { AttestationCandidate } from '../sigstore/legacy/cosign-attestation.ts';
import type { OpenSignatureSource, SignatureFetchOptions } from './signatures.ts';
import { readBundleReferrers } from './bundle-referrers.ts';
import { collectFromSources, readAttachmentLayers, sourceOpener } from './attachment-sources.ts';

export interface AttestationFetchOptions extends SignatureFetchOptions {
  /** The decision time, recorded with the facts for the conditions' `now`. */
  readonly now: Date;
}

export async function fetchAttestations(
  open: OpenSignatureSource,
  ref: ImageReference,
  digest: string,
  needs: readonly SignatureSourceNeed[],
  options: AttestationFetchOptions,
): Promise<Fact<AttestationFacts>> {
  const sources: SourceAttestations[] = await collectFromSources(
    open,
    ref,
    needs,
    'attestations',
    async (content, need) => {
      const [legacy, bundles] = await Promise.all([
        legacyAttestations(content, digest, need.source, options),
        bundleAttestations(content, digest, options),
      ]);
      return [...legacy, ...bundles];
    },
  );
  return known({ digest, time: options.now, sources });
}

/** cosign's `<prefix>sha256-<hex>.att` image: one DSSE envelope per layer, with annotations. */
async function legacyAttestations(
  content: ContentSource,
  digest: string,
  source: SignatureSource,
  { signal, limits }: SignatureFetchOptions,
): Promise<AttestationCandidate[]> {
  const found = await readAttachmentLayers(content, digest, 'att', source.tagPrefix, {
    signal,
    limits,
    maxBlobBytes: limits.blob.attestation,
  });
  return found.layers.map(({ layer, bytes }) => ({
    kind: 'legacy',
    source: found.source,
    attestation: {
      envelope: bytes,
      annotations: layer.annotations ?? {},
      mediaType: layer.mediaType,
      digest: layer.digest,
    },
  }));
}

/** Sigstore bundles attached to the digest as OCI 1.1 referrers; the rule keeps the DSSE ones. */
async function bundleAttestations(
  content: ContentSource,
  digest: string,
  { signal, limits }: SignatureFetchOptions,
): Promise<AttestationCandidate[]> {
  const found = await readBundleReferrers(content, digest, {
    signal,
    limits,
    maxBundleBytes: limits.blob.attestation,
    what: 'Sigstore bundles',
  });
  return found.map(({ source, bundle }) => ({ kind: 'bundle', source, bundle }));
}

export interface AttestationWiring {
  readonly offline: boolean;
  readonly registry?: RegistryClient;
  /** Where the image's own content is read from (its registry repository, or an OCI layout). */
  readonly content?: ContentSource;
  readonly signal: AbortSignal;
  /** The decision time (default: now). */
  readonly now?: Date;
}

/**
 * The facts with attestations added: only when an applicable policy has an attestations rule, only
 * from the sources those rules name, and only for the digest already resolved (never the tag again).
 */
export async function withAttestations(
  policySet: PolicySet,
  facts: ImageFacts,
  wiring: AttestationWiring,
): Promise<ImageFacts> {
  if (!facts.reference) return facts;
  const needs = requiredAttestationSources(policySet, facts.reference);
  if (needs.length === 0) return facts;
  if (!facts.digest?.available) {
    const why = facts.digest ? facts.digest.reason : 'the reference has no digest';
    return {
      ...facts,
      attestations: unavailable(`attestations cannot be looked up without the image digest: ${why}`),
    };
  }
  const { registry, content } = wiring;
  const ref = facts.reference;
  const open = sourceOpener({
    ref,
    offline: wiring.offline,
    what: 'attestations',
    ...(content ? { content } : {}),
    ...(registry ? { registry } : {}),
  });

  return {
    ...facts,
    attestations: await fetchAttestations(open, ref, facts.digest.value, needs, {
      signal: wiring.signal,
      limits: registry?.limits ?? DEFAULT_LIMITS,
      now: wiring.now ?? new Date(),
    }),
  };
}
