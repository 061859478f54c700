/**
 * Legacy cosign attestations: one layer of a `sha256-<hex>.att` manifest, whose blob is a DSSE
 * envelope (`application/vnd.dsse.envelope.v1+json`) and whose annotations carry the certificate and
 * the Rekor bundle as for `.sig` layers (the signature annotation is empty: the signature is inside
 * the envelope). The layer is mapped to a v0.1 Sigstore bundle with a `dsseEnvelope`, so the same
 * verifier checks PAE, the tlog body, the certificate chain and the identity as for bundles.
 *
 * RFC 3161 timestamps on `.att` layers cover the whole envelope, not the signature bytes a bundle
 * timestamp covers (reference §1a), so they do not carry over: they are dropped, never trusted.
 */
import { SigstoreError } from '../errors.ts';
import { isObject, type JsonObject } from '../json.ts';
import { DEFAULT_LIMITS, type VerificationLimits } from '../limits.ts';
import {
  ANNOTATION_BUNDLE,
  ANNOTATION_CERTIFICATE,
  certificateDer,
  checkAnnotations,
  tlogEntryJSON,
} from './cosign-signature.ts';
import { computeDigest } from '../../oci/digest.ts';

export const DSSE_ENVELOPE_MEDIA_TYPE = 'application/vnd.dsse.envelope.v1+json';

/** One `.att` layer, already fetched and digest-checked by the registry client. */
export interface LegacyAttestation {
  /** The layer blob: the DSSE envelope JSON. */
  readonly envelope: Uint8Array;
  readonly annotations: Readonly<Record<string, string>>;
  readonly mediaType?: string;
  /** The layer's descriptor digest, when known; rechecked against the envelope. */
  readonly digest?: string;
}

/** An attestation as the attestation provider found it. */
export type AttestationCandidate =
  /** A Sigstore bundle with a DSSE envelope (bytes, JSON text or parsed JSON), from an OCI referrer. */
  | { readonly kind: 'bundle'; readonly source: string; readonly bundle: unknown }
  /** One layer of a legacy cosign `.att` manifest. */
  | { readonly kind: 'legacy'; readonly source: string; readonly attestation: LegacyAttestation };

const B64 = /^[A-Za-z0-9+/]*={0,2}$/;

/** Map a `.att` layer to the JSON of a v0.1 bundle (parse it with parseBundle). */
export function legacyAttestationToBundleJSON(
  att: LegacyAttestation,
  limits: VerificationLimits = DEFAULT_LIMITS,
): JsonObject {
  if (att.mediaType !== undefined && att.mediaType !== DSSE_ENVELOPE_MEDIA_TYPE) {
    throw new SigstoreError(
      'BUNDLE_INVALID',
      `attestation layer media type ${JSON.stringify(att.mediaType.slice(0, 100))} is not ${DSSE_ENVELOPE_MEDIA_TYPE}`,
    );
  }
  if (att.envelope.length > limits.maxBundleBytes) {
    throw new SigstoreError(
      'LIMIT_EXCEEDED',
      `attestation envelope larger than ${limits.maxBundleBytes} bytes`,
    );
  }
  if (att.digest !== undefined) {
    const actual = computeDigest(att.envelope);
    if (actual !== att.digest) {
      throw new SigstoreError(
        'BUNDLE_INVALID',
        `attestation envelope digest is ${actual}, the layer says ${att.digest}`,
      );
    }
  }
  checkAnnotations(att.annotations, limits);
  let env: unknown;
  try {
    env = JSON.parse(Buffer.from(att.envelope).toString('utf8'));
  } catch {
    throw new SigstoreError('BUNDLE_INVALID', 'attestation layer is not a JSON DSSE envelope');
  }
  if (
    !isObject(env) ||
    typeof env.payloadType !== 'string' ||
    typeof env.payload !== 'string' ||
    !B64.test(env.payload)
  ) {
    throw new SigstoreError(
      'BUNDLE_INVALID',
      'attestation layer is not a DSSE envelope (payloadType, base64 payload)',
    );
  }
  const signatures = Array.isArray(env.signatures) ? env.signatures : [];
  if (signatures.length !== 1) {
    throw new SigstoreError(
      'BUNDLE_INVALID',
      `DSSE envelope must carry exactly one signature, found ${signatures.length}`,
    );
  }
  const sig = signatures[0] as unknown;
  if (!isObject(sig) || typeof sig.sig !== 'string' || sig.sig.length === 0 || !B64.test(sig.sig)) {
    throw new SigstoreError('BUNDLE_INVALID', 'DSSE envelope signature is not base64');
  }
  const certPem = att.annotations[ANNOTATION_CERTIFICATE];
  const rekor = att.annotations[ANNOTATION_BUNDLE];
  return {
    mediaType: 'application/vnd.dev.sigstore.bundle+json;version=0.1',
    verificationMaterial: {
      ...(certPem
        ? {
            x509CertificateChain: {
              certificates: [{ rawBytes: certificateDer(certPem).toString('base64') }],
            },
          }
        : { publicKey: { hint: '' } }),
      tlogEntries: rekor ? [tlogEntryJSON(rekor)] : [],
    },
    dsseEnvelope: {
      payload: env.payload,
      payloadType: env.payloadType,
      signatures: [{ sig: sig.sig, keyid: typeof sig.keyid === 'string' ? sig.keyid : '' }],
    },
  };
}
