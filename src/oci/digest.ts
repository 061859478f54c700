/**
 * Digests (`algorithm:encoded`, OCI image-spec descriptor.md). Only sha256 and sha512 can be verified;
 * a digest we cannot recompute is never accepted as identity.
 */
import { createHash, type Hash } from 'node:crypto';

export type DigestAlgorithm = 'sha256' | 'sha512';

const ENCODED_LENGTH: Readonly<Record<DigestAlgorithm, number>> = { sha256: 64, sha512: 128 };
/** OCI digest grammar; separators are mandatory between groups, so matching is linear. */
const DIGEST_GRAMMAR = /^[a-z0-9]+(?:[+._-][a-z0-9]+)*:[a-zA-Z0-9=_-]+$/;
const LOWER_HEX = /^[a-f0-9]+$/;
const MAX_DIGEST_LENGTH = 256;

export class DigestError extends Error {
  readonly code = 'BAD_DIGEST';
  readonly digest: string;
  constructor(digest: string, detail: string) {
    super(`invalid digest ${JSON.stringify(digest.slice(0, 100))}: ${detail}`);
    this.name = 'DigestError';
    this.digest = digest;
  }
}

/** True when `value` matches the OCI digest grammar (any algorithm; see `parseDigest` for verifiable ones). */
export function isDigestGrammar(value: unknown): value is string {
  return typeof value === 'string' && value.length <= MAX_DIGEST_LENGTH && DIGEST_GRAMMAR.test(value);
}

/**
 * A digest acceptable in a descriptor: the OCI grammar, and for the registered algorithms (sha256,
 * sha512) exactly their encoding. Unregistered algorithms pass here but can never be fetched or verified.
 */
export function isDescriptorDigest(value: unknown): value is string {
  if (!isDigestGrammar(value)) return false;
  const algorithm = value.slice(0, value.indexOf(':'));
  return algorithm === 'sha256' || algorithm === 'sha512' ? isVerifiableDigest(value) : true;
}

/** Split and check a digest we must be able to verify: sha256 (64 hex) or sha512 (128 hex), lower-case. */
export function parseDigest(digest: string): { algorithm: DigestAlgorithm; encoded: string } {
  if (!isDigestGrammar(digest)) throw new DigestError(digest, 'expected algorithm:hex');
  const colon = digest.indexOf(':');
  const algorithm = digest.slice(0, colon);
  const encoded = digest.slice(colon + 1);
  if (algorithm !== 'sha256' && algorithm !== 'sha512') {
    throw new DigestError(
      digest,
      `unsupported algorithm ${JSON.stringify(algorithm)} (sha256 and sha512 are supported)`,
    );
  }
  if (encoded.length !== ENCODED_LENGTH[algorithm] || !LOWER_HEX.test(encoded)) {
    throw new DigestError(
      digest,
      `${algorithm} needs ${ENCODED_LENGTH[algorithm]} lower-case hex characters`,
    );
  }
  return { algorithm, encoded };
}

export function isVerifiableDigest(value: unknown): value is string {
  if (!isDigestGrammar(value)) return false;
  try {
    parseDigest(value);
    return true;
  } catch {
    return false;
  }
}

/** Incremental digest of streamed bytes. */
export interface Digester {
  readonly algorithm: DigestAlgorithm;
  update(chunk: Uint8Array): void;
  /** `algorithm:hex`; call once. */
  digest(): string;
}

export function createDigester(algorithm: DigestAlgorithm): Digester {
  const hash: Hash = createHash(algorithm);
  return {
    algorithm,
    update: (chunk) => void hash.update(chunk),
    digest: () => `${algorithm}:${hash.digest('hex')}`,
  };
}

export function computeDigest(bytes: Uint8Array, algorithm: DigestAlgorithm = 'sha256'): string {
  return `${algorithm}:${createHash(algorithm).update(bytes).digest('hex')}`;
}
