/**
 * Facts about one image: the engine's only input besides the policy set.
 *
 * Providers (the reference itself now; the registry, signatures and attestations later) fill these in.
 * A fact is either known, or explicitly unavailable with the reason; a rule that needs a fact that is
 * absent or unavailable fails with that reason. It never passes for want of information.
 */
import type { ImageContent } from '../providers/image-content.ts';
import type { ImageReference } from '../reference/types.ts';
import type { AttestationCandidate } from '../sigstore/legacy/cosign-attestation.ts';
import type { SignatureCandidate } from '../sigstore/threshold.ts';

export type Fact<T> =
  { readonly available: true; readonly value: T } | { readonly available: false; readonly reason: string };

export const known = <T>(value: T): Fact<T> => ({ available: true, value });
export const unavailable = <T = never>(reason: string): Fact<T> => ({ available: false, reason });

export interface ImageFacts {
  /** The image string exactly as written in the input. */
  readonly image: string;
  /** The parsed reference. Absent when the string did not parse; see `referenceError`. */
  readonly reference?: ImageReference;
  readonly referenceError?: string;
  /**
   * The digest of the content being judged: the one written in the reference, or the one a registry
   * resolved the tag to (computed from the manifest bytes, never taken from a header).
   */
  readonly digest?: Fact<string>;
  /**
   * Signatures found for `digest`, per signature source the applicable policies need. Absent when no
   * applicable policy has a signatures rule (they are only fetched when needed).
   */
  readonly signatures?: Fact<SignatureEvidence>;
  /**
   * The verified manifest (or index and platform children), configs and candidate base layers. Absent
   * when no applicable policy has an attributes or baseImage rule (src/providers/image-content.ts).
   */
  readonly content?: Fact<ImageContent>;
  /**
   * Attestations found for `digest` (cosign `.att` and DSSE bundle referrers), per source the applicable
   * policies' attestations rules need. Absent when no applicable policy has an attestations rule.
   */
  readonly attestations?: Fact<AttestationFacts>;
  /**
   * Where the image is being admitted (Kubernetes object kind, namespace, labels), for policies with
   * `spec.match`. Absent, or a field absent, means unknown: a `match` restriction that needs it then
   * counts as matching (the policy applies), so nothing is skipped for want of information.
   */
  readonly context?: AdmissionContext;
  /**
   * What a provider could not find out, said once for people even when no rule needed it
   * (e.g. the registry did not answer). Shown as warnings; it never changes a verdict by itself.
   */
  readonly notes?: readonly string[];
}

/**
 * The Kubernetes context of one decision: from the AdmissionReview at admission, from the manifest in
 * `portcullis check`, absent for `portcullis verify IMAGE`. Every field is optional; absent = unknown.
 */
export interface AdmissionContext {
  /** The kind of the object that carries the image (`Pod`, `Deployment`, ...). */
  readonly kind?: string;
  /** The object's namespace name (never `''`: an unknown namespace is absent). */
  readonly namespace?: string;
  /** The object's own `metadata.labels` (`{}` when it has none). */
  readonly labels?: Readonly<Record<string, string>>;
  /** The namespace's labels, read from the API server; absent when not looked up or not readable. */
  readonly namespaceLabels?: Readonly<Record<string, string>>;
}

/** The signatures found in one place (see SignatureSource in src/policy/model.ts). */
export interface SourceSignatures {
  /** `signatureSourceKey(source)`: how a rule finds the sources it names. */
  readonly key: string;
  /** For people: e.g. `ghcr.io/acme/sigs (tag prefix "x-")`. */
  readonly location: string;
  /** Unavailable with the registry's message when anything went wrong there: never an empty list. */
  readonly candidates: Fact<readonly SignatureCandidate[]>;
}

export interface SignatureEvidence {
  /** The digest the signatures were looked up for (the decision's, resolved once). */
  readonly digest: string;
  readonly sources: readonly SourceSignatures[];
}

/** The attestations found in one place (a signature source; see SignatureSource). */
export interface SourceAttestations {
  /** `signatureSourceKey(source)`. */
  readonly key: string;
  readonly location: string;
  /** Unavailable with the registry's message when anything went wrong there: never an empty list. */
  readonly candidates: Fact<readonly AttestationCandidate[]>;
}

export interface AttestationFacts {
  /** The digest the attestations were looked up for (the decision's, resolved once). */
  readonly digest: string;
  /** The decision time: CEL conditions see it as `now` (given, so a decision can be replayed). */
  readonly time: Date;
  readonly sources: readonly SourceAttestations[];
}
