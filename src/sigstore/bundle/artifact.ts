/**
 * Binding a signature to the artifact being judged: the checks @sigstore/verify leaves to callers.
 *
 * - message signatures: the bundle's `messageDigest` must be the artifact's digest (the library only
 *   compares it with the tlog body, so a bundle for another blob with a matching tlog entry would pass);
 * - DSSE: payloadType must be in-toto, the statement must parse, one of its (bounded) subjects must
 *   carry the artifact digest, and its predicateType must be the expected one (CVE-2022-35929,
 *   GHSA-w6c6-c85g-mmv6: unparsable payloads and wrong types are failures, never a pass).
 */
import { createHash } from 'node:crypto';
import type { HashAlgorithmName } from '../authority.ts';
import { computeDigest, parseDigest } from '../../oci/digest.ts';
import { SigstoreError, describeError } from '../errors.ts';
import type { VerificationLimits } from '../limits.ts';

export type Artifact =
  /** The digest only (an image manifest digest, `sha256:HEX` on the command line). */
  | { readonly kind: 'digest'; readonly algorithm: HashAlgorithmName; readonly digest: Buffer }
  /** The artifact bytes. */
  | { readonly kind: 'bytes'; readonly bytes: Uint8Array };

export const IN_TOTO_PAYLOAD_TYPE = 'application/vnd.in-toto+json';
export const IN_TOTO_STATEMENT_TYPES: readonly string[] = [
  'https://in-toto.io/Statement/v1',
  'https://in-toto.io/Statement/v0.1',
];
/** What cosign v3 `sign` puts in the DSSE statement of an image signature bundle. */
export const COSIGN_SIGN_PREDICATE_TYPE = 'https://sigstore.dev/cosign/sign/v1';

/** Parse `sha256:<hex>` or `sha512:<hex>` (the OCI digest rules) into a digest artifact. */
export function digestArtifact(digest: string): Artifact {
  try {
    const { algorithm, encoded } = parseDigest(digest);
    return { kind: 'digest', algorithm, digest: Buffer.from(encoded, 'hex') };
  } catch (e) {
    throw new SigstoreError('ARTIFACT_MISMATCH', describeError(e));
  }
}

export function artifactDigest(artifact: Artifact, algorithm: HashAlgorithmName): Buffer | undefined {
  if (artifact.kind === 'bytes') return createHash(algorithm).update(artifact.bytes).digest();
  return artifact.algorithm === algorithm ? artifact.digest : undefined;
}

export const describeArtifact = (artifact: Artifact): string =>
  artifact.kind === 'digest'
    ? `${artifact.algorithm}:${artifact.digest.toString('hex')}`
    : computeDigest(artifact.bytes);

const PROTO_HASH: Readonly<Record<string, HashAlgorithmName>> = {
  // Enum values as decoded by protobuf-specs (HashAlgorithm) and their JSON names.
  '1': 'sha256',
  '2': 'sha384',
  '3': 'sha512',
  SHA2_256: 'sha256',
  SHA2_384: 'sha384',
  SHA2_512: 'sha512',
};

/** Checks the bundle's messageDigest names the artifact; returns the digest algorithm. */
export function checkMessageDigest(
  messageDigest: { algorithm: unknown; digest: Buffer },
  artifact: Artifact,
): HashAlgorithmName {
  const algorithm = PROTO_HASH[String(messageDigest.algorithm)];
  if (!algorithm) {
    throw new SigstoreError(
      'UNSUPPORTED',
      `unsupported message digest algorithm ${String(messageDigest.algorithm)}`,
    );
  }
  const expected = artifactDigest(artifact, algorithm);
  if (!expected) {
    throw new SigstoreError(
      'ARTIFACT_MISMATCH',
      `signature is over a ${algorithm} digest but the artifact is identified by ${artifact.kind === 'digest' ? artifact.algorithm : 'bytes'}`,
    );
  }
  if (!expected.equals(messageDigest.digest)) {
    throw new SigstoreError(
      'ARTIFACT_MISMATCH',
      `signature is for ${algorithm}:${messageDigest.digest.toString('hex')}, not for the artifact ${describeArtifact(artifact)}`,
    );
  }
  return algorithm;
}

export interface InTotoStatement {
  readonly type: string;
  readonly predicateType: string;
  readonly subjectCount: number;
}

/** Checks a DSSE envelope's statement binds the artifact. `predicateType` undefined = any type. */
export function checkInTotoEnvelope(
  envelope: { payloadType: string; payload: Buffer },
  artifact: Artifact,
  predicateType: string | undefined,
  limits: VerificationLimits,
): InTotoStatement {
  if (envelope.payloadType !== IN_TOTO_PAYLOAD_TYPE) {
    throw new SigstoreError(
      'BUNDLE_INVALID',
      `DSSE payloadType ${JSON.stringify(envelope.payloadType.slice(0, 100))} is not ${IN_TOTO_PAYLOAD_TYPE}`,
    );
  }
  if (envelope.payload.length > limits.maxPayloadBytes) {
    throw new SigstoreError('LIMIT_EXCEEDED', `DSSE payload larger than ${limits.maxPayloadBytes} bytes`);
  }
  let statement: unknown;
  try {
    statement = JSON.parse(envelope.payload.toString('utf8'));
  } catch {
    throw new SigstoreError('BUNDLE_INVALID', 'DSSE payload is not a JSON in-toto statement');
  }
  const s = statement as Record<string, unknown>;
  if (typeof statement !== 'object' || statement === null || Array.isArray(statement)) {
    throw new SigstoreError('BUNDLE_INVALID', 'DSSE payload is not a JSON in-toto statement');
  }
  if (typeof s._type !== 'string' || !IN_TOTO_STATEMENT_TYPES.includes(s._type)) {
    throw new SigstoreError(
      'BUNDLE_INVALID',
      `in-toto statement _type ${JSON.stringify(s._type)} is not supported`,
    );
  }
  if (typeof s.predicateType !== 'string') {
    throw new SigstoreError('BUNDLE_INVALID', 'in-toto statement has no predicateType');
  }
  if (predicateType !== undefined && s.predicateType !== predicateType) {
    throw new SigstoreError(
      'ARTIFACT_MISMATCH',
      `in-toto predicateType ${JSON.stringify(s.predicateType.slice(0, 200))} is not ${JSON.stringify(predicateType)}`,
    );
  }
  if (!Array.isArray(s.subject) || s.subject.length === 0) {
    throw new SigstoreError('BUNDLE_INVALID', 'in-toto statement has no subject');
  }
  if (s.subject.length > limits.maxInTotoSubjects) {
    throw new SigstoreError(
      'LIMIT_EXCEEDED',
      `in-toto statement has more than ${limits.maxInTotoSubjects} subjects`,
    );
  }
  const algorithms =
    artifact.kind === 'digest' ? [artifact.algorithm] : (['sha256', 'sha384', 'sha512'] as const);
  const matched = s.subject.some((subject: unknown) => {
    const digests = (subject as { digest?: unknown } | null)?.digest;
    if (typeof digests !== 'object' || digests === null) return false;
    return algorithms.some((alg) => {
      const hex = (digests as Record<string, unknown>)[alg];
      const want = artifactDigest(artifact, alg);
      return typeof hex === 'string' && want !== undefined && hex.toLowerCase() === want.toString('hex');
    });
  });
  if (!matched) {
    throw new SigstoreError(
      'ARTIFACT_MISMATCH',
      `no in-toto subject has the artifact digest ${describeArtifact(artifact)}`,
    );
  }
  return { type: s._type, predicateType: s.predicateType, subjectCount: s.subject.length };
}
