/**
 * Policy public keys: one PEM `PUBLIC KEY` (SPKI) block, of a kind cosign can sign with.
 * A key is identified in explanations by its fingerprint: `sha256:` of the SPKI DER.
 */
import { createPublicKey, type KeyObject } from 'node:crypto';
import { SigstoreError, describeError } from '../errors.ts';
import { computeDigest } from '../../oci/digest.ts';

export type KeyAlgorithm = 'ecdsa-p256' | 'ecdsa-p384' | 'ecdsa-p521' | 'rsa' | 'ed25519';

export interface PublicKey {
  readonly key: KeyObject;
  readonly algorithm: KeyAlgorithm;
  /** SPKI DER. */
  readonly spki: Buffer;
  /** `sha256:<hex>` of the SPKI DER. */
  readonly fingerprint: string;
}

const MIN_RSA_BITS = 2048;
const PEM_BLOCK = /-----BEGIN ([A-Z0-9 ]+)-----\r?\n([A-Za-z0-9+/=\r\n]+?)\r?\n?-----END \1-----/g;

/** The type labels of the PEM blocks in `text`, in order. */
export function pemBlockTypes(text: string): string[] {
  return [...text.matchAll(PEM_BLOCK)].map((m) => m[1] as string);
}

/** Parse exactly one PEM public key; `where` names it in messages (a file, a policy field). */
export function parsePublicKeyPem(pem: string, where = 'public key'): PublicKey {
  const types = pemBlockTypes(pem);
  if (types.length !== 1) {
    throw new SigstoreError(
      'KEY_INVALID',
      `${where}: expected one PEM PUBLIC KEY block, found ${types.length} PEM blocks`,
    );
  }
  if (types[0] !== 'PUBLIC KEY') {
    throw new SigstoreError('KEY_INVALID', `${where}: expected a PEM PUBLIC KEY block, found ${types[0]}`);
  }
  let key: KeyObject;
  try {
    key = createPublicKey({ key: pem, format: 'pem' });
  } catch (e) {
    throw new SigstoreError('KEY_INVALID', `${where}: not a valid public key (${describeError(e)})`);
  }
  return fromKeyObject(key, where);
}

function fromKeyObject(key: KeyObject, where = 'public key'): PublicKey {
  const algorithm = keyAlgorithm(key, where);
  const spki = key.export({ format: 'der', type: 'spki' });
  return { key, algorithm, spki, fingerprint: fingerprintOf(spki) };
}

export const fingerprintOf = (spki: Uint8Array): string => computeDigest(spki);

function keyAlgorithm(key: KeyObject, where: string): KeyAlgorithm {
  switch (key.asymmetricKeyType) {
    case 'ec': {
      const curve = key.asymmetricKeyDetails?.namedCurve;
      if (curve === 'prime256v1') return 'ecdsa-p256';
      if (curve === 'secp384r1') return 'ecdsa-p384';
      if (curve === 'secp521r1') return 'ecdsa-p521';
      throw new SigstoreError('KEY_INVALID', `${where}: unsupported elliptic curve ${curve ?? 'unknown'}`);
    }
    case 'rsa': {
      const bits = key.asymmetricKeyDetails?.modulusLength ?? 0;
      if (bits < MIN_RSA_BITS) {
        throw new SigstoreError(
          'KEY_INVALID',
          `${where}: RSA key of ${bits} bits is too small (minimum ${MIN_RSA_BITS})`,
        );
      }
      return 'rsa';
    }
    case 'ed25519':
      return 'ed25519';
    default:
      throw new SigstoreError(
        'KEY_INVALID',
        `${where}: unsupported key type ${key.asymmetricKeyType ?? 'unknown'}`,
      );
  }
}
