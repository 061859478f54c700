/**
 * Legacy cosign signatures: one layer of a `sha256-<hex>.sig` manifest (simple-signing payload +
 * annotations). The layer is mapped to a v0.1 Sigstore bundle (the sigstore-go
 * `bundleFromOCIImage` mapping) and verified by the same verifier as bundles, so the Rekor SET,
 * the tlog body (signature, key, payload hash: GHSA-ccxc-vr6p-4858, GHSA-whqx-f9j3-ch6m), the
 * certificate chain and the identity are all checked on this path too.
 */
import { createHash } from 'node:crypto';
import type { Bundle } from '@sigstore/bundle';
import type { SigningAuthority } from '../authority.ts';
import { SigstoreError, describeError } from '../errors.ts';
import { isObject, type JsonObject as Obj } from '../json.ts';
import { pemBlockTypes } from '../key/public-key.ts';
import { DEFAULT_LIMITS, type VerificationLimits } from '../limits.ts';
import { parseBundle, verifyBundle, type VerifiedSignature } from '../verifier.ts';
import {
  checkSimpleSigningClaims,
  parseSimpleSigning,
  SIMPLE_SIGNING_MEDIA_TYPE,
  type SimpleSigningPayload,
} from './simple-signing.ts';
import { computeDigest } from '../../oci/digest.ts';

export const ANNOTATION_SIGNATURE = 'dev.cosignproject.cosign/signature';
export const ANNOTATION_CERTIFICATE = 'dev.sigstore.cosign/certificate';
export const ANNOTATION_CHAIN = 'dev.sigstore.cosign/chain';
export const ANNOTATION_BUNDLE = 'dev.sigstore.cosign/bundle';
export const ANNOTATION_RFC3161 = 'dev.sigstore.cosign/rfc3161timestamp';

/** One signature layer, already fetched and digest-verified by the registry client. */
export interface LegacySignature {
  /** The layer blob: the exact bytes signed. */
  readonly payload: Uint8Array;
  readonly annotations: Readonly<Record<string, string>>;
  /** The layer's media type, when known; must be the simple-signing type. */
  readonly mediaType?: string;
  /** The layer's descriptor digest, when known; rechecked against the payload. */
  readonly digest?: string;
}

const B64 = /^[A-Za-z0-9+/]*={0,2}$/;

function checkSizes(sig: LegacySignature, limits: VerificationLimits): void {
  if (sig.payload.length > limits.maxPayloadBytes) {
    throw new SigstoreError(
      'LIMIT_EXCEEDED',
      `signature payload larger than ${limits.maxPayloadBytes} bytes`,
    );
  }
  checkAnnotations(sig.annotations, limits);
}

/** Layer annotations (`.sig` and `.att` alike) are strings within the size bound. */
export function checkAnnotations(
  annotations: Readonly<Record<string, string>>,
  limits: VerificationLimits,
): void {
  for (const [k, v] of Object.entries(annotations)) {
    if (typeof v !== 'string') throw new SigstoreError('BUNDLE_INVALID', `annotation ${k} is not a string`);
    if (Buffer.byteLength(v) > limits.maxAnnotationBytes) {
      throw new SigstoreError(
        'LIMIT_EXCEEDED',
        `annotation ${k} larger than ${limits.maxAnnotationBytes} bytes`,
      );
    }
  }
}

export function certificateDer(pem: string): Buffer {
  const types = pemBlockTypes(pem);
  if (types.some((t) => t.includes('PUBLIC KEY'))) {
    // GHSA-fx35-mq7g-6g98: a bare key here must never become the verifier.
    throw new SigstoreError(
      'CERTIFICATE_INVALID',
      `certificate annotation holds a bare public key, not a certificate`,
    );
  }
  if (types.length !== 1 || types[0] !== 'CERTIFICATE') {
    throw new SigstoreError(
      'CERTIFICATE_INVALID',
      `certificate annotation must hold one PEM CERTIFICATE (found ${types.join(', ') || 'none'})`,
    );
  }
  const m = /-----BEGIN CERTIFICATE-----([A-Za-z0-9+/=\s]+)-----END CERTIFICATE-----/.exec(pem);
  return Buffer.from((m?.[1] ?? '').replace(/\s+/g, ''), 'base64');
}

/** The Rekor bundle annotation → a v0.1 tlog entry (JSON form). */
export function tlogEntryJSON(annotation: string): Obj {
  let rb: unknown;
  try {
    rb = JSON.parse(annotation);
  } catch {
    throw new SigstoreError('TLOG_INVALID', 'Rekor bundle annotation is not JSON');
  }
  const set = isObject(rb) ? rb.SignedEntryTimestamp : undefined;
  const p = isObject(rb) ? rb.Payload : undefined;
  if (typeof set !== 'string' || !B64.test(set) || !isObject(p)) {
    throw new SigstoreError('TLOG_INVALID', 'Rekor bundle annotation lacks SignedEntryTimestamp or Payload');
  }
  const { body, integratedTime, logIndex, logID } = p;
  if (typeof body !== 'string' || !B64.test(body))
    throw new SigstoreError('TLOG_INVALID', 'Rekor bundle body is not base64');
  if (!Number.isSafeInteger(integratedTime) || (integratedTime as number) <= 0) {
    throw new SigstoreError('TLOG_INVALID', 'Rekor bundle integratedTime is not a positive integer');
  }
  if (!Number.isSafeInteger(logIndex) || (logIndex as number) < 0) {
    throw new SigstoreError('TLOG_INVALID', 'Rekor bundle logIndex is not a non-negative integer');
  }
  if (typeof logID !== 'string' || !/^[0-9a-f]{64}$/.test(logID)) {
    throw new SigstoreError('TLOG_INVALID', 'Rekor bundle logID is not 64 hex digits');
  }
  let decoded: unknown;
  try {
    decoded = JSON.parse(Buffer.from(body, 'base64').toString('utf8'));
  } catch {
    throw new SigstoreError('TLOG_INVALID', 'Rekor bundle body is not JSON');
  }
  const kind = isObject(decoded) ? decoded.kind : undefined;
  const version = isObject(decoded) ? decoded.apiVersion : undefined;
  if (typeof kind !== 'string' || typeof version !== 'string') {
    throw new SigstoreError('TLOG_INVALID', 'Rekor bundle body has no kind/apiVersion');
  }
  return {
    logIndex: String(logIndex),
    logId: { keyId: Buffer.from(logID, 'hex').toString('base64') },
    kindVersion: { kind, version },
    integratedTime: String(integratedTime),
    inclusionPromise: { signedEntryTimestamp: set },
    canonicalizedBody: body,
  };
}

function timestampJSON(annotation: string): Obj {
  let ts: unknown;
  try {
    ts = JSON.parse(annotation);
  } catch {
    throw new SigstoreError('TIMESTAMP_INVALID', 'RFC 3161 timestamp annotation is not JSON');
  }
  const signed = isObject(ts) ? ts.SignedRFC3161Timestamp : undefined;
  if (typeof signed !== 'string' || !B64.test(signed) || signed.length === 0) {
    throw new SigstoreError(
      'TIMESTAMP_INVALID',
      'RFC 3161 timestamp annotation lacks SignedRFC3161Timestamp',
    );
  }
  return { signedTimestamp: signed };
}

/**
 * Map a legacy signature layer (sizes already checked) to a v0.1 bundle (reference §3.5). The chain
 * annotation is ignored on purpose: only certificates of the trust root are trusted.
 */
function toBundle(sig: LegacySignature, limits: VerificationLimits): Bundle {
  // Go's base64 decoder skips line breaks; some signers wrap long (RSA) signatures.
  const signature = sig.annotations[ANNOTATION_SIGNATURE]?.replace(/[\r\n]/g, '');
  if (typeof signature !== 'string' || signature.length === 0 || !B64.test(signature)) {
    throw new SigstoreError(
      'BUNDLE_INVALID',
      `signature layer has no base64 ${ANNOTATION_SIGNATURE} annotation`,
    );
  }
  const certPem = sig.annotations[ANNOTATION_CERTIFICATE];
  const rekor = sig.annotations[ANNOTATION_BUNDLE];
  const rfc3161 = sig.annotations[ANNOTATION_RFC3161];
  const material: Obj = {
    ...(certPem
      ? { x509CertificateChain: { certificates: [{ rawBytes: certificateDer(certPem).toString('base64') }] } }
      : { publicKey: { hint: '' } }),
    tlogEntries: rekor ? [tlogEntryJSON(rekor)] : [],
    ...(rfc3161 ? { timestampVerificationData: { rfc3161Timestamps: [timestampJSON(rfc3161)] } } : {}),
  };
  const json = {
    mediaType: 'application/vnd.dev.sigstore.bundle+json;version=0.1',
    verificationMaterial: material,
    messageSignature: {
      messageDigest: {
        algorithm: 'SHA2_256',
        digest: createHash('sha256').update(sig.payload).digest('base64'),
      },
      signature,
    },
  };
  return parseBundle(json, limits);
}

export interface VerifiedLegacySignature extends VerifiedSignature {
  readonly payload: SimpleSigningPayload;
}

/** A layer checked and mapped to a bundle once, to verify against any number of authorities. */
export interface PreparedLegacySignature {
  /** The layer blob: the exact bytes signed. */
  readonly bytes: Uint8Array;
  readonly payload: SimpleSigningPayload;
  readonly bundle: Bundle;
}

/**
 * Everything about one legacy layer that does not depend on the authority: sizes, media type, the
 * payload digest, the simple-signing claims for `imageDigest` (`sha256:<hex>`, the digest being
 * admitted), and the mapping to a bundle.
 */
export function prepareLegacySignature(
  sig: LegacySignature,
  imageDigest: string,
  limits: VerificationLimits = DEFAULT_LIMITS,
): PreparedLegacySignature {
  checkSizes(sig, limits);
  if (sig.mediaType !== undefined && sig.mediaType !== SIMPLE_SIGNING_MEDIA_TYPE) {
    throw new SigstoreError(
      'BUNDLE_INVALID',
      `signature layer media type ${JSON.stringify(sig.mediaType.slice(0, 100))} is not ${SIMPLE_SIGNING_MEDIA_TYPE}`,
    );
  }
  if (sig.digest !== undefined) {
    const actual = computeDigest(sig.payload);
    if (actual !== sig.digest) {
      throw new SigstoreError(
        'BUNDLE_INVALID',
        `signature payload digest is ${actual}, the layer says ${sig.digest}`,
      );
    }
  }
  const payload = parseSimpleSigning(sig.payload);
  checkSimpleSigningClaims(payload, imageDigest);
  return { bytes: sig.payload, payload, bundle: toBundle(sig, limits) };
}

/** Verify a prepared layer against `authority`. */
export function verifyPreparedLegacySignature(
  prepared: PreparedLegacySignature,
  authority: SigningAuthority,
  limits: VerificationLimits = DEFAULT_LIMITS,
): VerifiedLegacySignature {
  try {
    const verified = verifyBundle(prepared.bundle, {
      artifact: { kind: 'bytes', bytes: prepared.bytes },
      authority,
      predicateType: null,
      limits,
    });
    return { ...verified, payload: prepared.payload };
  } catch (e) {
    if (e instanceof SigstoreError) throw e;
    throw new SigstoreError('SIGNATURE_INVALID', `signature invalid: ${describeError(e)}`);
  }
}

/**
 * Verify one legacy cosign signature of `imageDigest` (`sha256:<hex>`, the digest being admitted)
 * against `authority`.
 */
export function verifyLegacySignature(
  sig: LegacySignature,
  imageDigest: string,
  authority: SigningAuthority,
  limits: VerificationLimits = DEFAULT_LIMITS,
): VerifiedLegacySignature {
  return verifyPreparedLegacySignature(prepareLegacySignature(sig, imageDigest, limits), authority, limits);
}
