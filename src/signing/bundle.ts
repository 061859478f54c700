/**
 * Key-signed Sigstore bundles (v0.3) for an image, with no transparency-log entry and no timestamp.
 *
 * - message-signature: the signature is over the image manifest bytes, `messageDigest` = its digest.
 * - dsse: what cosign v3 `sign` writes for images: an in-toto v1 statement whose only subject is the
 *   image digest, predicateType `https://sigstore.dev/cosign/sign/v1`, empty predicate, in a DSSE
 *   envelope signed over PAE (cosign v3 `verify` checks bundles this way: in-toto subject digest).
 *
 * The key is named only by `verificationMaterial.publicKey.hint` (base64 sha256 of the SPKI DER, as
 * sigstore clients write it); verifiers never trust it, they try their own keys.
 */
import { createHash } from 'node:crypto';
import { parseDigest } from '../oci/digest.ts';
import { SIGSTORE_BUNDLE_V03 } from '../oci/media-types.ts';
import type { SigningKey } from './keys.ts';

export type BundleContent = 'message-signature' | 'dsse';

export const COSIGN_SIGN_PREDICATE = 'https://sigstore.dev/cosign/sign/v1';
export const IN_TOTO_STATEMENT_V1 = 'https://in-toto.io/Statement/v1';
export const IN_TOTO_PAYLOAD_TYPE = 'application/vnd.in-toto+json';

export interface BuiltBundle {
  readonly bytes: Uint8Array;
  /** Annotations cosign puts on the referrer manifest (hints only, for listing). */
  readonly annotations: Readonly<Record<string, string>>;
}

/** DSSE pre-authentication encoding: what is actually signed. Lengths are byte lengths. */
export function preAuthEncoding(payloadType: string, payload: Uint8Array): Buffer {
  const type = Buffer.from(payloadType, 'utf8');
  return Buffer.concat([
    Buffer.from(`DSSEv1 ${type.length} `, 'utf8'),
    type,
    Buffer.from(` ${payload.length} `, 'utf8'),
    payload,
  ]);
}

const verificationMaterial = (key: SigningKey) => ({
  publicKey: { hint: key.hint },
  tlogEntries: [],
  timestampVerificationData: { rfc3161Timestamps: [] },
});

/** A message-signature bundle over `manifest` (the image manifest bytes). */
export function messageSignatureBundle(
  key: SigningKey,
  manifest: Uint8Array,
  sign: (bytes: Uint8Array) => Buffer,
): BuiltBundle {
  const digest = createHash('sha256').update(manifest).digest();
  const bundle = {
    mediaType: SIGSTORE_BUNDLE_V03,
    verificationMaterial: verificationMaterial(key),
    messageSignature: {
      messageDigest: { algorithm: 'SHA2_256', digest: digest.toString('base64') },
      signature: sign(manifest).toString('base64'),
    },
  };
  return {
    bytes: Buffer.from(JSON.stringify(bundle), 'utf8'),
    annotations: { 'dev.sigstore.bundle.content': 'message-signature' },
  };
}

/** A DSSE bundle holding cosign v3's image-signing statement for `imageDigest`. */
export function dsseSignatureBundle(
  key: SigningKey,
  imageDigest: string,
  sign: (bytes: Uint8Array) => Buffer,
): BuiltBundle {
  const { algorithm, encoded } = parseDigest(imageDigest);
  const statement = Buffer.from(
    JSON.stringify({
      _type: IN_TOTO_STATEMENT_V1,
      subject: [{ digest: { [algorithm]: encoded } }],
      predicateType: COSIGN_SIGN_PREDICATE,
      predicate: {},
    }),
    'utf8',
  );
  const bundle = {
    mediaType: SIGSTORE_BUNDLE_V03,
    verificationMaterial: verificationMaterial(key),
    dsseEnvelope: {
      payload: statement.toString('base64'),
      payloadType: IN_TOTO_PAYLOAD_TYPE,
      signatures: [{ sig: sign(preAuthEncoding(IN_TOTO_PAYLOAD_TYPE, statement)).toString('base64') }],
    },
  };
  return {
    bytes: Buffer.from(JSON.stringify(bundle), 'utf8'),
    annotations: {
      'dev.sigstore.bundle.content': 'dsse-envelope',
      'dev.sigstore.bundle.predicateType': COSIGN_SIGN_PREDICATE,
    },
  };
}
