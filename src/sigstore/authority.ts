/**
 * Signature authorities: who may sign. The policy language names these; `compileAuthority` turns a
 * declarative spec (PEM strings, pattern strings) into the checked, compiled form the verifiers use,
 * failing with AUTHORITY_INVALID / KEY_INVALID on anything inconsistent.
 *
 * - `key`: one or more public keys (a signature by any one satisfies the authority once).
 * - `keyless`: Fulcio certificates chained to a trust root, with an identity (issuer + subject) and
 *   optional certificate extension constraints. Transparency-log proof is required by default.
 * - `static`: passes or fails by itself, with a message.
 */
import { SigstoreError } from './errors.ts';
import { compileMatcher, type StringMatchSpec, type StringMatcher } from './identity/matcher.ts';
import { DEFAULT_LIMITS } from './limits.ts';
import { parsePublicKeyPem, type PublicKey } from './key/public-key.ts';
import type { TrustRoot } from './trust/trusted-root.ts';

export type { StringMatchSpec, StringMatcher } from './identity/matcher.ts';

export type HashAlgorithmName = 'sha256' | 'sha384' | 'sha512';

export interface TlogSpec {
  /** Default: true for keyless, false for keys (cosign `--insecure-ignore-tlog` semantics, opt-in per authority). */
  readonly required?: boolean;
  /** Distinct transparency logs that must include the signature. Default 1. */
  readonly threshold?: number;
}

/** Where an authority's signatures are looked up (used by the registry side, carried through here). */
export interface SignatureSourceSpec {
  /** Another repository holding the signatures (cosign `COSIGN_REPOSITORY`), e.g. `ghcr.io/acme/signatures`. */
  readonly repository?: string;
  /** Prefix of legacy `.sig` tags (cosign `--attachment-tag-prefix`). */
  readonly tagPrefix?: string;
}

export interface ValidityWindow {
  readonly start?: Date;
  readonly end?: Date;
}

export interface KeyAuthoritySpec {
  readonly kind: 'key';
  readonly name: string;
  /** PEM `PUBLIC KEY` blocks (ECDSA P-256/P-384/P-521, RSA ≥ 2048, Ed25519). */
  readonly keys: readonly string[];
  /** Digest the signature was made over (cosign `--signature-digest-algorithm`). Default sha256. */
  readonly hashAlgorithm?: HashAlgorithmName;
  /** The key is trusted only for signatures whose trusted time falls inside this window. */
  readonly validFor?: ValidityWindow;
  readonly tlog?: TlogSpec;
  /** Rekor keys (and TSAs) to check the log entries and timestamps against. Needed when tlog is required. */
  readonly trustRoot?: TrustRoot;
  readonly signatures?: SignatureSourceSpec;
}

export interface IdentitySpec {
  readonly issuer: StringMatchSpec;
  readonly subject: StringMatchSpec;
}

export interface ExtensionConstraintSpec {
  /** Dotted OID, e.g. `1.3.6.1.4.1.57264.1.12` (source repository URI). */
  readonly oid: string;
  readonly value: StringMatchSpec;
}

export interface KeylessAuthoritySpec {
  readonly kind: 'keyless';
  readonly name: string;
  /** Any one of these must match. */
  readonly identities: readonly IdentitySpec[];
  /** All of these must match. */
  readonly extensions?: readonly ExtensionConstraintSpec[];
  readonly trustRoot: TrustRoot;
  readonly tlog?: TlogSpec;
  /** Distinct CT logs whose SCT must be embedded. Default 1. */
  readonly ctlogThreshold?: number;
  readonly signatures?: SignatureSourceSpec;
}

export interface StaticAuthoritySpec {
  readonly kind: 'static';
  readonly name: string;
  readonly action: 'pass' | 'fail';
  readonly message?: string;
}

export type AuthoritySpec = KeyAuthoritySpec | KeylessAuthoritySpec | StaticAuthoritySpec;

export interface TlogPolicy {
  readonly required: boolean;
  readonly threshold: number;
}

export interface KeyAuthority {
  readonly kind: 'key';
  readonly name: string;
  readonly keys: readonly PublicKey[];
  readonly hashAlgorithm: HashAlgorithmName;
  readonly validFor?: ValidityWindow;
  readonly tlog: TlogPolicy;
  readonly trustRoot?: TrustRoot;
  readonly signatures?: SignatureSourceSpec;
}

export interface CompiledIdentity {
  readonly issuer: StringMatcher;
  readonly subject: StringMatcher;
}

export interface CompiledExtensionConstraint {
  readonly oid: string;
  readonly value: StringMatcher;
}

export interface KeylessAuthority {
  readonly kind: 'keyless';
  readonly name: string;
  readonly identities: readonly CompiledIdentity[];
  readonly extensions: readonly CompiledExtensionConstraint[];
  readonly trustRoot: TrustRoot;
  readonly tlog: TlogPolicy;
  readonly ctlogThreshold: number;
  readonly signatures?: SignatureSourceSpec;
}

export interface StaticAuthority {
  readonly kind: 'static';
  readonly name: string;
  readonly action: 'pass' | 'fail';
  readonly message: string;
}

export type Authority = KeyAuthority | KeylessAuthority | StaticAuthority;
export type SigningAuthority = KeyAuthority | KeylessAuthority;

const OID = /^[0-2](?:\.(?:0|[1-9]\d{0,9})){1,30}$/;
const MAX_KEYS = 32;
const MAX_IDENTITIES = 64;

export function compileAuthority(
  spec: AuthoritySpec,
  maxMatchInput = DEFAULT_LIMITS.maxMatchInput,
): Authority {
  const where = `authority ${JSON.stringify(spec.name)}`;
  if (typeof spec.name !== 'string' || spec.name.length === 0) {
    throw new SigstoreError('AUTHORITY_INVALID', 'authority: name must be a non-empty string');
  }
  switch (spec.kind) {
    case 'key':
      return compileKeyAuthority(spec, where);
    case 'keyless':
      return compileKeylessAuthority(spec, where, maxMatchInput);
    case 'static':
      if (spec.action !== 'pass' && spec.action !== 'fail') {
        throw new SigstoreError('AUTHORITY_INVALID', `${where}: static action must be "pass" or "fail"`);
      }
      return {
        kind: 'static',
        name: spec.name,
        action: spec.action,
        message:
          spec.message ?? (spec.action === 'pass' ? 'static authority passes' : 'static authority fails'),
      };
    default:
      throw new SigstoreError(
        'AUTHORITY_INVALID',
        `${where}: unknown kind ${JSON.stringify((spec as { kind: unknown }).kind)}`,
      );
  }
}

function compileTlog(spec: TlogSpec | undefined, defaultRequired: boolean, where: string): TlogPolicy {
  const threshold = spec?.threshold ?? 1;
  if (!Number.isInteger(threshold) || threshold < 1 || threshold > 8) {
    throw new SigstoreError('AUTHORITY_INVALID', `${where}: tlog threshold must be an integer from 1 to 8`);
  }
  return { required: spec?.required ?? defaultRequired, threshold };
}

function compileKeyAuthority(spec: KeyAuthoritySpec, where: string): KeyAuthority {
  if (!Array.isArray(spec.keys) || spec.keys.length === 0 || spec.keys.length > MAX_KEYS) {
    throw new SigstoreError('AUTHORITY_INVALID', `${where}: needs 1 to ${MAX_KEYS} public keys`);
  }
  const keys = spec.keys.map((pem, i) => parsePublicKeyPem(pem, `${where} key ${i + 1}`));
  const hashAlgorithm = spec.hashAlgorithm ?? 'sha256';
  if (!['sha256', 'sha384', 'sha512'].includes(hashAlgorithm)) {
    throw new SigstoreError('AUTHORITY_INVALID', `${where}: hash algorithm must be sha256, sha384 or sha512`);
  }
  const tlog = compileTlog(spec.tlog, false, where);
  if (tlog.required && !spec.trustRoot) {
    throw new SigstoreError(
      'AUTHORITY_INVALID',
      `${where}: transparency log required but no trust root given`,
    );
  }
  const v = spec.validFor;
  if (v && v.start && v.end && v.end < v.start) {
    throw new SigstoreError('AUTHORITY_INVALID', `${where}: validity window ends before it starts`);
  }
  return {
    kind: 'key',
    name: spec.name,
    keys,
    hashAlgorithm,
    tlog,
    ...(v ? { validFor: v } : {}),
    ...(spec.trustRoot ? { trustRoot: spec.trustRoot } : {}),
    ...(spec.signatures ? { signatures: spec.signatures } : {}),
  };
}

function compileKeylessAuthority(
  spec: KeylessAuthoritySpec,
  where: string,
  maxInput: number,
): KeylessAuthority {
  if (
    !Array.isArray(spec.identities) ||
    spec.identities.length === 0 ||
    spec.identities.length > MAX_IDENTITIES
  ) {
    throw new SigstoreError(
      'AUTHORITY_INVALID',
      `${where}: needs 1 to ${MAX_IDENTITIES} identities (issuer and subject)`,
    );
  }
  if (!spec.trustRoot) throw new SigstoreError('AUTHORITY_INVALID', `${where}: keyless needs a trust root`);
  if (spec.trustRoot.material.certificateAuthorities.length === 0) {
    throw new SigstoreError(
      'AUTHORITY_INVALID',
      `${where}: trust root ${spec.trustRoot.name} has no certificate authorities`,
    );
  }
  const identities = spec.identities.map((id, i) => {
    if (!id || !id.issuer || !id.subject) {
      throw new SigstoreError(
        'AUTHORITY_INVALID',
        `${where} identity ${i + 1}: needs both issuer and subject`,
      );
    }
    return {
      issuer: compileMatcher(id.issuer, `${where} identity ${i + 1} issuer`, maxInput),
      subject: compileMatcher(id.subject, `${where} identity ${i + 1} subject`, maxInput),
    };
  });
  const extensions = (spec.extensions ?? []).map((c, i) => {
    if (typeof c.oid !== 'string' || !OID.test(c.oid)) {
      throw new SigstoreError(
        'AUTHORITY_INVALID',
        `${where} extension ${i + 1}: ${JSON.stringify(c.oid)} is not a dotted OID`,
      );
    }
    return { oid: c.oid, value: compileMatcher(c.value, `${where} extension ${c.oid}`, maxInput) };
  });
  const ctlogThreshold = spec.ctlogThreshold ?? 1;
  if (!Number.isInteger(ctlogThreshold) || ctlogThreshold < 0 || ctlogThreshold > 8) {
    throw new SigstoreError('AUTHORITY_INVALID', `${where}: ctlog threshold must be an integer from 0 to 8`);
  }
  return {
    kind: 'keyless',
    name: spec.name,
    identities,
    extensions,
    trustRoot: spec.trustRoot,
    tlog: compileTlog(spec.tlog, true, where),
    ctlogThreshold,
    ...(spec.signatures ? { signatures: spec.signatures } : {}),
  };
}
