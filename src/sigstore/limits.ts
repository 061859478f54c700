/**
 * Bounds on everything a signer or registry controls, enforced before any cryptography
 * (GHSA-cq38-jh5f-37mq: many tlog entries / timestamps / subjects as a CPU DoS; GHSA-vfp6-jrw2-99g9).
 */
export interface VerificationLimits {
  /** Bytes of one bundle JSON document. */
  readonly maxBundleBytes: number;
  /** Bytes of one legacy simple-signing payload or DSSE payload. */
  readonly maxPayloadBytes: number;
  /** Bytes of one annotation value (certificate, chain, Rekor bundle, RFC 3161 JSON). */
  readonly maxAnnotationBytes: number;
  readonly maxTlogEntries: number;
  readonly maxTimestamps: number;
  readonly maxInTotoSubjects: number;
  readonly maxCertificateChain: number;
  /** Signatures considered per decision (the rest are ignored, and the decision says so). */
  readonly maxCandidates: number;
  /** (authority, signature) verification attempts per decision. */
  readonly maxAttempts: number;
  /** Characters of a value matched against a regular expression (longer values never match). */
  readonly maxMatchInput: number;
}

export const DEFAULT_LIMITS: VerificationLimits = {
  maxBundleBytes: 1024 * 1024,
  maxPayloadBytes: 1024 * 1024,
  maxAnnotationBytes: 256 * 1024,
  maxTlogEntries: 32,
  maxTimestamps: 32,
  maxInTotoSubjects: 1024,
  maxCertificateChain: 10,
  maxCandidates: 64,
  maxAttempts: 256,
  maxMatchInput: 4096,
};
