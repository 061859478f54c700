/**
 * Sigstore / cosign signature verification, over bytes already fetched and digest-checked by the
 * registry client (no I/O here besides reading trust-root and key files on request).
 *
 * Entry points
 *   loadTrustedRoot(json | path) / loadPublicGoodTrustRoot()   trust roots (strict; public-good offline)
 *   compileAuthority(spec)                                     key | keyless | static authorities
 *   verifyBundle(parseBundle(bytes), {artifact, authority})    one Sigstore bundle (v0.1–v0.3)
 *   verifyLegacySignature(layer, imageDigest, authority)       one legacy cosign `.sig` layer
 *   evaluateAuthorities({authorities, threshold, candidates})  k-of-n over an image's signatures
 *   verifyBundleCommand(args)                                  `portcullis verify-bundle` (conformance)
 *
 * Checks, in order, for one signature against one authority (any failure ends it, with a typed code):
 *   0. Trust root at load: known media type; every log / CA / TSA has `validFor.start`; keys parse
 *      and match their `keyDetails`; certificates parse.
 *   1. Bounds before crypto: bundle/payload/annotation sizes; ≤ 32 tlog entries, ≤ 32 timestamps,
 *      ≤ 10 chain certificates, exactly one DSSE signature, ≤ 1024 in-toto subjects.
 *   2. Structure: bundle media type and @sigstore/bundle validation (v0.1 needs SETs, v0.2+ proofs).
 *      Legacy: layer media type is simple-signing, sha256(payload) == layer digest,
 *      `critical.type` == "cosign container image signature", `critical.image.docker-manifest-digest`
 *      == the admitted digest; then the layer is mapped to a v0.1 bundle (chain annotation ignored).
 *   3. Signing material: keyless needs a certificate; a bare public key in a certificate field is
 *      refused (GHSA-fx35-mq7g-6g98); with a key authority a certificate's key must be that key; a
 *      bundle's key hint is never trusted.
 *   4. Artifact binding: messageDigest == the artifact digest; DSSE payloadType is in-toto, the
 *      statement parses, a subject carries the artifact digest, predicateType is the required one.
 *   5. Transparency log: entries distinct (log+index, body); distinct logs ≥ threshold when required
 *      ("not in transparency log"); each entry's body was made by the signing key/certificate
 *      (GHSA-whqx-f9j3-ch6m, GHSA-ccxc-vr6p-4858); unsupported kinds (rekord) refused.
 *   6. @sigstore/verify: RFC 3161 timestamps; trusted times = those + integratedTime of entries whose
 *      SET verified (a proof-only entry's time is not trusted, GHSA-xgjw-pm74-86q4); certificate
 *      chain to the trust root valid at every trusted time ("certificate expired at signing time");
 *      SCTs; SET / inclusion proof + checkpoint; tlog body signature and digest; the signature over
 *      the payload (PAE for DSSE, UTF-8 lengths: GHSA-jfc7-64v2-mr8c). Key validity windows are
 *      checked at the trusted times, and need one (GHSA-wqqc-jjcq-vfxm).
 *   7. Identity (keyless): issuer and a SAN (URI, email, username) match one identity, patterns
 *      anchored `^(?:…)$` with bounded input; every extension constraint (by OID) matches; the
 *      certificate has the code-signing EKU and is not a CA.
 *   8. Thresholds: an authority counts once, a signature (by signature bytes) satisfies at most one
 *      authority (maximum matching); candidates and attempts bounded; the decision names what
 *      satisfied each authority (key fingerprint or SAN + issuer, tlog index + time) or why not.
 */
export * from './errors.ts';
export * from './limits.ts';
export * from './authority.ts';
export { loadTrustedRoot, type TrustRoot } from './trust/trusted-root.ts';
export { loadPublicGoodTrustRoot } from './trust/public-good.ts';
export { parsePublicKeyPem, fingerprintOf, type PublicKey, type KeyAlgorithm } from './key/public-key.ts';
export {
  COSIGN_SIGN_PREDICATE_TYPE,
  IN_TOTO_PAYLOAD_TYPE,
  digestArtifact,
  type Artifact,
} from './bundle/artifact.ts';
export {
  parseBundle,
  verifyBundle,
  type VerifiedSignature,
  type VerifyOptions,
  type TlogEvidence,
} from './verifier.ts';
export {
  ANNOTATION_BUNDLE,
  ANNOTATION_CERTIFICATE,
  ANNOTATION_CHAIN,
  ANNOTATION_RFC3161,
  ANNOTATION_SIGNATURE,
  verifyLegacySignature,
  type LegacySignature,
  type VerifiedLegacySignature,
} from './legacy/cosign-signature.ts';
export {
  SIMPLE_SIGNING_MEDIA_TYPE,
  parseSimpleSigning,
  type SimpleSigningPayload,
} from './legacy/simple-signing.ts';
export { parseContainersSignature } from './legacy/containers-signature.ts';
export {
  evaluateAuthorities,
  type AuthorityDecision,
  type AuthorityResult,
  type EvaluationInput,
  type FailureCode,
  type SignatureCandidate,
} from './threshold.ts';
export { verifyBundleCommand, type VerifyBundleArgs, type VerifyBundleResult } from './conformance.ts';
