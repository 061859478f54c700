/**
 * Typed failures of signature verification. Every failure carries a stable `code` (what callers branch
 * on) and a one-line message meant for humans (shown verbatim in decisions).
 */
export type SigstoreErrorCode =
  /** trusted_root.json unreadable, malformed, or missing something a verifier needs. */
  | 'TRUST_ROOT_INVALID'
  /** The default (public-good) trust root cannot be loaded offline. */
  | 'TRUST_ROOT_UNAVAILABLE'
  /** A policy key is not a usable PEM public key. */
  | 'KEY_INVALID'
  /** An authority definition is inconsistent (bad pattern, missing trust root...). */
  | 'AUTHORITY_INVALID'
  /** A bundle, annotation or payload is malformed. */
  | 'BUNDLE_INVALID'
  /** A count or size controlled by the registry or signer exceeds our bounds (checked before crypto). */
  | 'LIMIT_EXCEEDED'
  /** The signature does not verify over the payload with the signing key. */
  | 'SIGNATURE_INVALID'
  /** The signing key is not the one the authority trusts. */
  | 'KEY_MISMATCH'
  /** The certificate does not chain to the trust root, or breaks a certificate rule (EKU, CA leaf...). */
  | 'CERTIFICATE_INVALID'
  /** A policy key was used outside its validity window (or with no trusted time to check it against). */
  | 'KEY_EXPIRED'
  /** The certificate (or its chain) was not valid at the trusted signing time. */
  | 'CERTIFICATE_EXPIRED'
  /** The certificate identity (SAN, issuer, extensions) is not one the authority accepts. */
  | 'IDENTITY_MISMATCH'
  /** No (or too few distinct) transparency log entries where they are required. */
  | 'TLOG_MISSING'
  /** A transparency log entry does not verify (SET, inclusion proof, checkpoint). */
  | 'TLOG_INVALID'
  /** A transparency log entry is valid but describes another signature, key or artifact. */
  | 'TLOG_MISMATCH'
  /** Signed timestamps missing or invalid. */
  | 'TIMESTAMP_INVALID'
  /** The signature is valid but covers something other than the artifact being judged. */
  | 'ARTIFACT_MISMATCH'
  /** The format is valid but not supported (e.g. Rekor kind `rekord`). */
  | 'UNSUPPORTED';

export class SigstoreError extends Error {
  readonly code: SigstoreErrorCode;
  constructor(code: SigstoreErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'SigstoreError';
    this.code = code;
  }
}

export const isSigstoreError = (e: unknown): e is SigstoreError => e instanceof SigstoreError;

/** Failure codes, most telling first: the reason a user can act on. */
const ACTIONABLE_FIRST: readonly SigstoreErrorCode[] = [
  'IDENTITY_MISMATCH',
  'CERTIFICATE_EXPIRED',
  'KEY_EXPIRED',
  'TLOG_MISSING',
  'TLOG_MISMATCH',
  'TLOG_INVALID',
  'ARTIFACT_MISMATCH',
  'SIGNATURE_INVALID',
  'CERTIFICATE_INVALID',
  'TIMESTAMP_INVALID',
  'KEY_MISMATCH',
  'UNSUPPORTED',
  'LIMIT_EXCEEDED',
  'BUNDLE_INVALID',
];

/**
 * Of the failures of several signatures against one authority, the one to show: the most telling
 * code wins, the first listed on a tie; items without a known code come last. `items` is non-empty.
 */
export function mostTelling<T>(items: readonly T[], codeOf: (item: T) => string | undefined): T {
  const rank = (item: T): number => {
    const i = (ACTIONABLE_FIRST as readonly string[]).indexOf(codeOf(item) ?? '');
    return i === -1 ? ACTIONABLE_FIRST.length : i;
  };
  return items.reduce((a, b) => (rank(b) < rank(a) ? b : a));
}

/** A short description of anything thrown, for messages (never a stack). */
export function describeError(e: unknown): string {
  if (e instanceof Error) return e.message;
  return String(e);
}
