/**
 * The verification of one signature (a Sigstore bundle, or a legacy cosign signature mapped to one)
 * against one authority, as the sequence of its checks. @sigstore/verify does the cryptography
 * (timestamps, chain, SCTs, SET / inclusion proof, tlog body signature+digest, signature); everything
 * else here is what that library does not do. See index.ts for the list in order.
 */
import { createHash, createPublicKey, verify as cryptoVerify, type KeyObject } from 'node:crypto';
import { bundleFromJSON, type Bundle, type TransparencyLogEntry } from '@sigstore/bundle';
import { X509Certificate } from '@sigstore/core';
import {
  PolicyError,
  toSignedEntity,
  VerificationError,
  Verifier,
  type SignedEntity,
  type TrustMaterial,
} from '@sigstore/verify';
import type { HashAlgorithmName, KeylessAuthority, SigningAuthority } from './authority.ts';
import { checkInTotoEnvelope, checkMessageDigest, type Artifact } from './bundle/artifact.ts';
import { SigstoreError, describeError, isSigstoreError } from './errors.ts';
import {
  certificateIdentity,
  extendedKeyUsages,
  extensionValue,
  OID_CODE_SIGNING,
  type CertificateIdentity,
} from './identity/certificate-identity.ts';
import { verifyPrehashed } from './key/prehash.ts';
import { fingerprintOf, type PublicKey } from './key/public-key.ts';
import { DEFAULT_LIMITS, type VerificationLimits } from './limits.ts';
import { tlogBodyVerifier, type TlogBodyVerifier } from './tlog/body.ts';
import { computeDigest } from '../oci/digest.ts';

export interface TlogEvidence {
  /** Hex of the log id (sha256 of the log key for Rekor v1). */
  readonly logId: string;
  readonly logIndex: string;
  /**
   * Only when the entry's SET (inclusion promise) verified: the unsigned integratedTime of a
   * proof-only entry is not a trusted time (GHSA-xgjw-pm74-86q4) and is not reported.
   */
  readonly integratedTime?: Date;
}

export interface VerifiedSignature {
  readonly authority: string;
  /** `sha256:` of the signature bytes: the same signature is never counted twice. */
  readonly signatureId: string;
  /** `sha256:` of the SPKI of the key that verified the signature. */
  readonly keyFingerprint: string;
  readonly certificate?: CertificateIdentity & { readonly fingerprint: string };
  readonly tlog: readonly TlogEvidence[];
  /** Trusted times the certificate / key were checked at (verified SETs and RFC 3161 timestamps). */
  readonly signedAt: readonly Date[];
  /** One line: "key sha256:... " or "https://... from issuer https://...", plus tlog evidence. */
  readonly summary: string;
}

export interface VerifyOptions {
  readonly artifact: Artifact;
  readonly authority: SigningAuthority;
  /**
   * For DSSE bundles: the in-toto predicateType required (cosign v3 image signatures:
   * COSIGN_SIGN_PREDICATE_TYPE). `null` accepts any type (verify-bundle conformance).
   */
  readonly predicateType: string | null;
  readonly limits?: VerificationLimits;
}

const BUNDLE_MEDIA_TYPE =
  /^application\/vnd\.dev\.sigstore\.bundle(?:\+json;version=0\.[123]|\.v0\.3\+json)$/;

/** Parse bundle JSON (bytes, text or object), bounding sizes and counts before anything else. */
export function parseBundle(input: unknown, limits: VerificationLimits = DEFAULT_LIMITS): Bundle {
  let json = input;
  if (typeof input === 'string' || input instanceof Uint8Array) {
    const size = typeof input === 'string' ? Buffer.byteLength(input) : input.length;
    if (size > limits.maxBundleBytes) {
      throw new SigstoreError('LIMIT_EXCEEDED', `bundle larger than ${limits.maxBundleBytes} bytes`);
    }
    try {
      json = JSON.parse(typeof input === 'string' ? input : Buffer.from(input).toString('utf8'));
    } catch (e) {
      throw new SigstoreError('BUNDLE_INVALID', `bundle is not JSON: ${describeError(e)}`);
    }
  }
  checkCounts(json, limits);
  const mediaType = (json as { mediaType?: unknown }).mediaType;
  if (typeof mediaType !== 'string' || !BUNDLE_MEDIA_TYPE.test(mediaType)) {
    throw new SigstoreError(
      'BUNDLE_INVALID',
      `unsupported bundle mediaType ${JSON.stringify(mediaType)?.slice(0, 120)}`,
    );
  }
  try {
    return bundleFromJSON(json);
  } catch (e) {
    const fields = (e as { fields?: unknown }).fields;
    const where = Array.isArray(fields) && fields.length > 0 ? ` (${fields.slice(0, 5).join(', ')})` : '';
    throw new SigstoreError('BUNDLE_INVALID', `invalid bundle: ${describeError(e)}${where}`);
  }
}

/** GHSA-cq38-jh5f-37mq: count before decoding or verifying anything. */
function checkCounts(json: unknown, limits: VerificationLimits): void {
  if (typeof json !== 'object' || json === null || Array.isArray(json)) {
    throw new SigstoreError('BUNDLE_INVALID', 'bundle is not a JSON object');
  }
  const j = json as Record<string, Record<string, unknown> | undefined>;
  const vm = j.verificationMaterial as Record<string, unknown> | undefined;
  const count = (v: unknown): number => (Array.isArray(v) ? v.length : 0);
  const tlogs = count(vm?.tlogEntries);
  if (tlogs > limits.maxTlogEntries) {
    throw new SigstoreError(
      'LIMIT_EXCEEDED',
      `bundle has ${tlogs} transparency log entries (limit ${limits.maxTlogEntries})`,
    );
  }
  const ts = count((vm?.timestampVerificationData as Record<string, unknown> | undefined)?.rfc3161Timestamps);
  if (ts > limits.maxTimestamps) {
    throw new SigstoreError(
      'LIMIT_EXCEEDED',
      `bundle has ${ts} RFC 3161 timestamps (limit ${limits.maxTimestamps})`,
    );
  }
  const chain = count((vm?.x509CertificateChain as Record<string, unknown> | undefined)?.certificates);
  if (chain > limits.maxCertificateChain) {
    throw new SigstoreError(
      'LIMIT_EXCEEDED',
      `bundle has ${chain} certificates (limit ${limits.maxCertificateChain})`,
    );
  }
  const env = j.dsseEnvelope;
  if (env !== undefined && count(env.signatures) !== 1) {
    throw new SigstoreError(
      'BUNDLE_INVALID',
      `DSSE envelope must carry exactly one signature, found ${count(env.signatures)}`,
    );
  }
}

/** The signing material the bundle presents. */
type Presented = { kind: 'key' } | { kind: 'certificate'; cert: X509Certificate; der: Buffer };

function presentedMaterial(bundle: Bundle): Presented {
  const content = bundle.verificationMaterial.content;
  if (content.$case === 'publicKey') return { kind: 'key' };
  const raw =
    content.$case === 'certificate'
      ? content.certificate.rawBytes
      : content.x509CertificateChain.certificates[0]?.rawBytes;
  if (!raw || raw.length === 0)
    throw new SigstoreError('CERTIFICATE_INVALID', 'bundle carries an empty certificate');
  const der = Buffer.from(raw);
  if (looksLikePublicKey(der)) {
    // GHSA-fx35-mq7g-6g98: a bare key in the certificate field must never become the verifier.
    throw new SigstoreError(
      'CERTIFICATE_INVALID',
      'certificate field holds a bare public key, not a certificate',
    );
  }
  try {
    return { kind: 'certificate', cert: X509Certificate.parse(Buffer.from(der) as Buffer<ArrayBuffer>), der };
  } catch (e) {
    throw new SigstoreError('CERTIFICATE_INVALID', `certificate does not parse: ${describeError(e)}`);
  }
}

/** SPKI DER or PEM public key bytes (what a bare key in a certificate field looks like). */
export function looksLikePublicKey(bytes: Buffer): boolean {
  if (bytes.subarray(0, 100).toString('latin1').includes('PUBLIC KEY-----')) return true;
  try {
    createPublicKey({ key: bytes, format: 'der', type: 'spki' });
    return true;
  } catch {
    return false;
  }
}

/** Message-signature content that can verify from the artifact bytes or from its digest alone. */
class MessageContent {
  readonly signature: Buffer;
  private readonly messageDigest: Buffer;
  private readonly artifact: Artifact;
  private readonly hash: HashAlgorithmName;
  constructor(signature: Buffer, messageDigest: Buffer, artifact: Artifact, hash: HashAlgorithmName) {
    this.signature = signature;
    this.messageDigest = messageDigest;
    this.artifact = artifact;
    this.hash = hash;
  }
  compareSignature(signature: Buffer): boolean {
    return signature.length === this.signature.length && signature.equals(this.signature);
  }
  compareDigest(digest: Buffer): boolean {
    return digest.length === this.messageDigest.length && digest.equals(this.messageDigest);
  }
  verifySignature(key: KeyObject): boolean {
    try {
      if (this.artifact.kind === 'bytes') {
        const alg = key.asymmetricKeyType === 'ed25519' ? null : this.hash;
        return cryptoVerify(alg, this.artifact.bytes, key, this.signature);
      }
      return verifyPrehashed(key, this.messageDigest, this.signature, this.hash);
    } catch {
      return false;
    }
  }
}

function tlogId(entry: TransparencyLogEntry): string {
  return Buffer.from(entry.logId.keyId).toString('hex');
}

/** Verify a parsed bundle for `options.artifact` against `options.authority`. */
export function verifyBundle(bundle: Bundle, options: VerifyOptions): VerifiedSignature {
  const limits = options.limits ?? DEFAULT_LIMITS;
  const { authority, artifact } = options;

  // 1. Counts again on the decoded form (callers may hand us a bundle they built).
  if (bundle.verificationMaterial.tlogEntries.length > limits.maxTlogEntries) {
    throw new SigstoreError(
      'LIMIT_EXCEEDED',
      `bundle has more than ${limits.maxTlogEntries} transparency log entries`,
    );
  }
  if (
    (bundle.verificationMaterial.timestampVerificationData?.rfc3161Timestamps.length ?? 0) >
    limits.maxTimestamps
  ) {
    throw new SigstoreError(
      'LIMIT_EXCEEDED',
      `bundle has more than ${limits.maxTimestamps} RFC 3161 timestamps`,
    );
  }

  // 2. Signing material: a certificate for keyless, the authority's key for keys.
  const presented = presentedMaterial(bundle);
  if (authority.kind === 'keyless' && presented.kind !== 'certificate') {
    throw new SigstoreError(
      'KEY_MISMATCH',
      'keyless authority requires a Fulcio certificate, the signature carries only a public key',
    );
  }
  const candidates = signingKeys(authority, presented);

  // 3. Artifact binding, before any cryptography.
  let content: SignedEntity['signature'];
  const bundleContent = bundle.content;
  if (bundleContent.$case === 'messageSignature') {
    const ms = bundleContent.messageSignature;
    const digestAlg = checkMessageDigest(ms.messageDigest, artifact);
    const verifyHash = authority.kind === 'key' ? authority.hashAlgorithm : digestAlg;
    content = new MessageContent(
      Buffer.from(ms.signature),
      Buffer.from(ms.messageDigest.digest),
      artifact.kind === 'bytes' ? artifact : { ...artifact, digest: Buffer.from(ms.messageDigest.digest) },
      verifyHash,
    );
  } else {
    const env = bundleContent.dsseEnvelope;
    if (env.signatures.length !== 1) {
      throw new SigstoreError(
        'BUNDLE_INVALID',
        `DSSE envelope must carry exactly one signature, found ${env.signatures.length}`,
      );
    }
    checkInTotoEnvelope(env, artifact, options.predicateType ?? undefined, limits);
    content = baseEntity(bundle).signature;
  }

  // 4. Transparency log entries: distinct, from enough distinct logs, made by this signing key.
  let tlogEntries = bundle.verificationMaterial.tlogEntries;
  const trustRoot = authority.trustRoot;
  if (!authority.tlog.required && !trustRoot) tlogEntries = [];
  checkDistinctEntries(tlogEntries);
  const logs = new Set(tlogEntries.map(tlogId));
  if (authority.tlog.required && logs.size < authority.tlog.threshold) {
    throw new SigstoreError(
      'TLOG_MISSING',
      logs.size === 0
        ? 'not in transparency log'
        : `not in enough transparency logs: ${logs.size} distinct log(s), ${authority.tlog.threshold} required`,
    );
  }

  // What each entry says signed, read once for the key choice below and the binding check.
  const bodies = tlogEntries.map((e, i) =>
    tlogBodyVerifier(Buffer.from(e.canonicalizedBody), `transparency log entry ${i + 1}`),
  );
  // With several policy keys, the log entries say which one signed: try only keys every entry names.
  let keys = candidates;
  if (authority.kind === 'key' && presented.kind === 'key' && bodies.length > 0) {
    keys = candidates.filter((k) => k !== undefined && bodies.every((b) => b.spki.equals(k.spki)));
    if (keys.length === 0) {
      throw new SigstoreError(
        'TLOG_MISMATCH',
        `transparency log entry 1 was made with a different key (${fingerprintOf((bodies[0] as TlogBodyVerifier).spki)})`,
      );
    }
  }

  let lastError: unknown;
  for (const key of keys) {
    try {
      return verifyWithKey(bundle, tlogEntries, bodies, content, key, presented, options);
    } catch (e) {
      lastError = e;
      // Only a signature failure means "maybe another of the authority's keys"; anything else is final.
      if (!isSigstoreError(e) || e.code !== 'SIGNATURE_INVALID') throw e;
    }
  }
  throw lastError ?? new SigstoreError('KEY_MISMATCH', 'no key to verify with');
}

function signingKeys(authority: SigningAuthority, presented: Presented): readonly (PublicKey | undefined)[] {
  if (authority.kind === 'keyless') return [undefined];
  if (presented.kind === 'certificate') {
    // cosign: when both a key and a certificate are present they must be the same key.
    const spki = Buffer.from(presented.cert.publicKey);
    const key = authority.keys.find((k) => k.spki.equals(spki));
    if (!key) {
      throw new SigstoreError(
        'KEY_MISMATCH',
        `signed by certificate key ${fingerprintOf(spki)}, not by a key of this authority`,
      );
    }
    return [key];
  }
  return authority.keys;
}

function checkDistinctEntries(entries: readonly TransparencyLogEntry[]): void {
  const seen = new Set<string>();
  for (const e of entries) {
    // Within one log, an index or a body appears once; the same body in two logs is two proofs.
    const id = `${tlogId(e)}/${e.logIndex}`;
    const body = `${tlogId(e)}/${createHash('sha256').update(e.canonicalizedBody).digest('hex')}`;
    if (seen.has(id) || seen.has(body)) {
      throw new SigstoreError(
        'TLOG_INVALID',
        `duplicate transparency log entry (log ${tlogId(e).slice(0, 16)}…, index ${e.logIndex})`,
      );
    }
    seen.add(id);
    seen.add(body);
  }
}

function verifyWithKey(
  bundle: Bundle,
  tlogEntries: TransparencyLogEntry[],
  bodies: readonly TlogBodyVerifier[],
  content: SignedEntity['signature'],
  key: PublicKey | undefined,
  presented: Presented,
  options: VerifyOptions,
): VerifiedSignature {
  const { authority } = options;
  const signingSpki = key ? key.spki : Buffer.from((presented as { cert: X509Certificate }).cert.publicKey);

  // 5. Each tlog entry must have been made with this key / certificate (GHSA-whqx, GHSA-ccxc).
  bodies.forEach((v, i) => {
    const where = `transparency log entry ${i + 1}`;
    if (!v.spki.equals(signingSpki)) {
      throw new SigstoreError(
        'TLOG_MISMATCH',
        `${where} was made with a different key (${fingerprintOf(v.spki)})`,
      );
    }
    if (presented.kind === 'certificate' && v.certificate && !v.certificate.equals(presented.der)) {
      throw new SigstoreError('TLOG_MISMATCH', `${where} holds a different certificate than the signature`);
    }
  });

  // 6. The library's checks: timestamps, chain at those times, SCTs, tlog inclusion and body, signature.
  const entity: SignedEntity = {
    ...baseEntity(bundle),
    signature: content,
    tlogEntries,
    ...(key ? { key: { $case: 'public-key' as const, hint: key.fingerprint } } : {}),
  };
  if (!authority.trustRoot) {
    // A key authority without a trust root has nothing to check log entries or TSA timestamps
    // against: they are ignored (cosign --insecure-ignore-tlog), never taken on trust.
    entity.timestamps = [];
  }
  if (authority.kind === 'key' && authority.validFor && trustedTimesOf(entity).length === 0) {
    throw new SigstoreError(
      'KEY_EXPIRED',
      'key has a validity window but the signature has no trusted signing time',
    );
  }
  const material = trustMaterialFor(authority, key);
  const verifier = new Verifier(material, {
    tlogThreshold: authority.tlog.required ? 1 : 0,
    ctlogThreshold: authority.kind === 'keyless' ? authority.ctlogThreshold : 0,
    timestampThreshold: authority.kind === 'keyless' || authority.validFor ? 1 : 0,
  });
  let signedAt: Date[];
  try {
    const signer = verifier.verify(entity);
    void signer;
    signedAt = trustedTimesOf(entity);
  } catch (e) {
    throw translate(e, entity, presented, authority);
  }

  // 7. Identity (keyless): anchored SAN + issuer, extension constraints, code-signing EKU, not a CA.
  let certificate: VerifiedSignature['certificate'];
  if (presented.kind === 'certificate' && authority.kind === 'keyless') {
    certificate = checkIdentity(presented.cert, presented.der, authority);
  }

  const tlog = tlogEntries.map((e) => ({
    logId: tlogId(e),
    logIndex: e.logIndex,
    ...(e.inclusionPromise ? { integratedTime: new Date(Number(e.integratedTime) * 1000) } : {}),
  }));
  const keyFingerprint = fingerprintOf(signingSpki);
  const who = certificate
    ? `${certificate.sans.map((s) => s.value).join(', ') || '(no SAN)'} from issuer ${certificate.issuer ?? '(none)'}`
    : `key ${keyFingerprint}`;
  const where = tlog.length
    ? `; tlog ${tlog.map((t) => `index ${t.logIndex}${t.integratedTime ? ` at ${t.integratedTime.toISOString()}` : ''}`).join(', ')}`
    : '';
  return {
    authority: authority.name,
    signatureId: computeDigest(content.signature),
    keyFingerprint,
    ...(certificate ? { certificate } : {}),
    tlog,
    signedAt,
    summary: `${who}${where}`,
  };
}

function baseEntity(bundle: Bundle): SignedEntity {
  try {
    return toSignedEntity(bundle);
  } catch (e) {
    throw new SigstoreError(
      'TIMESTAMP_INVALID',
      `timestamp or certificate does not parse: ${describeError(e)}`,
    );
  }
}

function trustMaterialFor(authority: SigningAuthority, key: PublicKey | undefined): TrustMaterial {
  const root = authority.trustRoot?.material;
  const base: TrustMaterial = root ?? {
    certificateAuthorities: [],
    timestampAuthorities: [],
    tlogs: [],
    ctlogs: [],
    publicKey: () => {
      throw new VerificationError({ code: 'PUBLIC_KEY_ERROR', message: 'no key' });
    },
  };
  if (authority.kind === 'keyless' || !key) return { ...base, publicKey: noKeys };
  const window = authority.validFor;
  // The bundle's key hint is untrusted and ignored: the authority's key is the verifier.
  return {
    ...base,
    publicKey: () => ({
      publicKey: key.key,
      validFor: (date: Date) =>
        (window?.start === undefined || date >= window.start) &&
        (window?.end === undefined || date <= window.end),
    }),
  };
}

const noKeys = (): never => {
  throw new VerificationError({
    code: 'PUBLIC_KEY_ERROR',
    message: 'keyless authority accepts no bare keys',
  });
};

/**
 * The times the library checked the key / certificate at: RFC 3161 times and the integratedTime of
 * entries whose SET verified. A proof-only entry's integratedTime is unsigned (GHSA-xgjw-pm74-86q4).
 */
function trustedTimesOf(entity: SignedEntity): Date[] {
  const out: Date[] = [];
  for (const t of entity.timestamps) {
    if (t.$case === 'timestamp-authority') out.push(t.timestamp.signingTime);
    else if (t.tlogEntry.inclusionPromise) out.push(new Date(Number(t.tlogEntry.integratedTime) * 1000));
  }
  return out;
}

function translate(
  e: unknown,
  entity: SignedEntity,
  presented: Presented,
  authority: SigningAuthority,
): SigstoreError {
  if (isSigstoreError(e)) return e;
  if (e instanceof PolicyError)
    return new SigstoreError('IDENTITY_MISMATCH', `identity mismatch: ${e.message}`);
  if (!(e instanceof VerificationError)) {
    return new SigstoreError('BUNDLE_INVALID', `malformed bundle: ${describeError(e)}`, { cause: e });
  }
  const msg = e.message;
  switch (e.code) {
    case 'SIGNATURE_ERROR':
      return new SigstoreError('SIGNATURE_INVALID', `signature invalid: ${msg}`);
    case 'CERTIFICATE_ERROR': {
      if (presented.kind === 'certificate') {
        const times = trustedTimesOf(entity);
        const bad = times.find((t) => !presented.cert.validForDate(t));
        if (bad) {
          return new SigstoreError(
            'CERTIFICATE_EXPIRED',
            `certificate expired at signing time: valid ${presented.cert.notBefore.toISOString()} to ${presented.cert.notAfter.toISOString()}, signed at ${bad.toISOString()}`,
          );
        }
        // The library wraps the per-CA failure; an intermediate or root outside its validity at the
        // signing time shows only there (GHSA-wfqv-66vq-46rm).
        const inner = (e as { cause?: unknown }).cause;
        const detail = inner instanceof Error ? inner.message : msg;
        if (detail.includes('expired')) {
          return new SigstoreError(
            'CERTIFICATE_EXPIRED',
            `certificate expired at signing time: a certificate of the chain (${detail})`,
          );
        }
        // Which root it was checked against, and the library's reason (no path, name chaining...).
        if (inner instanceof Error && authority.trustRoot) {
          return new SigstoreError(
            'CERTIFICATE_INVALID',
            `certificate invalid: ${msg} to trust root ${authority.trustRoot.name} (${detail})`,
          );
        }
      }
      return new SigstoreError('CERTIFICATE_INVALID', `certificate invalid: ${msg}`);
    }
    case 'PUBLIC_KEY_ERROR':
      if (authority.kind === 'key' && msg.includes('not valid for timestamp')) {
        return new SigstoreError('KEY_EXPIRED', `key not valid at signing time: ${msg}`);
      }
      return new SigstoreError('KEY_MISMATCH', `key not trusted: ${msg}`);
    case 'TLOG_ERROR':
    case 'TLOG_MISSING_INCLUSION_ERROR':
      return new SigstoreError('TLOG_MISSING', `not in transparency log: ${msg}`);
    case 'TLOG_BODY_ERROR':
      return new SigstoreError(
        'TLOG_MISMATCH',
        `transparency log entry does not match the signature: ${msg}`,
      );
    case 'TLOG_INCLUSION_PROMISE_ERROR':
    case 'TLOG_INCLUSION_PROOF_ERROR': {
      const unknown = logOutsideTrustRoot(entity.tlogEntries, authority);
      return new SigstoreError(
        'TLOG_INVALID',
        `transparency log entry invalid: ${msg}${unknown ? ` (${unknown})` : ''}`,
      );
    }
    case 'TIMESTAMP_ERROR':
      if (trustedTimesOf(entity).length === 0) {
        return new SigstoreError(
          authority.tlog.required ? 'TLOG_MISSING' : 'TIMESTAMP_INVALID',
          authority.tlog.required
            ? 'not in transparency log: no entry with a signed integration time and no RFC 3161 timestamp'
            : 'no trusted signing time (no signed transparency log time, no RFC 3161 timestamp)',
        );
      }
      return new SigstoreError('TIMESTAMP_INVALID', `timestamp invalid: ${msg}`);
    default:
      return new SigstoreError('SIGNATURE_INVALID', `verification failed: ${msg}`);
  }
}

/**
 * The library says only that a promise or proof did not verify; when the cause is an entry from a log
 * the authority's trust root does not list, say so (the fix is in the policy, not the signature).
 */
function logOutsideTrustRoot(
  entries: readonly TransparencyLogEntry[],
  authority: SigningAuthority,
): string | undefined {
  const root = authority.trustRoot;
  if (!root) return undefined;
  const foreign = entries.find((e) => !root.material.tlogs.some((l) => l.logID.equals(e.logId.keyId)));
  return foreign ? `log ${tlogId(foreign)} is not in trust root ${root.name}` : undefined;
}

function checkIdentity(
  cert: X509Certificate,
  der: Buffer,
  authority: KeylessAuthority,
): VerifiedSignature['certificate'] {
  const id = certificateIdentity(cert);
  const got = `got ${id.sans.map((s) => s.value).join(', ') || '(no SAN)'} from issuer ${id.issuer ?? '(none)'}`;
  const ok = authority.identities.some(
    (m) => m.issuer.matches(id.issuer) && id.sans.some((s) => s.type !== 'dns' && m.subject.matches(s.value)),
  );
  if (!ok) throw new SigstoreError('IDENTITY_MISMATCH', `identity mismatch: ${got}`);
  for (const c of authority.extensions) {
    const v = extensionValue(cert, c.oid);
    if (!c.value.matches(v)) {
      throw new SigstoreError(
        'IDENTITY_MISMATCH',
        `identity mismatch: certificate extension ${c.oid} is ${v === undefined ? 'absent' : JSON.stringify(v)}, expected ${c.value.description}`,
      );
    }
  }
  const ekus = extendedKeyUsages(cert);
  if (!ekus?.includes(OID_CODE_SIGNING)) {
    throw new SigstoreError(
      'CERTIFICATE_INVALID',
      'certificate invalid: not issued for code signing (extended key usage)',
    );
  }
  if (cert.isCA || cert.extBasicConstraints?.isCA) {
    throw new SigstoreError('CERTIFICATE_INVALID', 'certificate invalid: signing certificate is a CA');
  }
  return { ...id, fingerprint: computeDigest(der) };
}
