/**
 * cosign-compatible signing keys: ECDSA P-256, the PKCS#8 DER private key sealed with NaCl secretbox
 * under a key derived by scrypt from the password, as sigstore's `cryptoutils` (go-tuf `encrypted`)
 * writes it:
 *
 *   PEM `ENCRYPTED SIGSTORE PRIVATE KEY` (cosign ≥ 2; `ENCRYPTED COSIGN PRIVATE KEY` before) wrapping
 *   {"kdf":{"name":"scrypt","params":{"N":32768,"r":8,"p":1},"salt":b64(32)},
 *    "cipher":{"name":"nacl/secretbox","nonce":b64(24)},"ciphertext":b64(secretbox(PKCS#8 DER))}
 *
 * go-tuf refuses any other scrypt parameters; so do we, which also bounds the work an attacker-supplied
 * key file can make us do.
 */
import {
  createHash,
  createPrivateKey,
  createPublicKey,
  generateKeyPairSync,
  randomBytes,
  scrypt,
  type KeyObject,
} from 'node:crypto';
import nacl from 'tweetnacl';

export const SIGSTORE_PRIVATE_KEY_PEM = 'ENCRYPTED SIGSTORE PRIVATE KEY';
export const COSIGN_PRIVATE_KEY_PEM = 'ENCRYPTED COSIGN PRIVATE KEY';

const SCRYPT = { N: 32768, r: 8, p: 1 } as const;
const SALT_BYTES = 32;
const MAX_KEY_FILE = 64 * 1024;

export type SigningKeyErrorCode = 'KEY_FORMAT' | 'KEY_PASSWORD' | 'KEY_UNSUPPORTED';

export class SigningKeyError extends Error {
  readonly code: SigningKeyErrorCode;
  constructor(code: SigningKeyErrorCode, message: string) {
    super(message);
    this.name = 'SigningKeyError';
    this.code = code;
  }
}

export interface KeyPairPem {
  /** Encrypted private key, PEM type `ENCRYPTED SIGSTORE PRIVATE KEY`. */
  readonly privatePem: string;
  /** `PUBLIC KEY` (SPKI) PEM. */
  readonly publicPem: string;
}

/** A decrypted private key and what verifiers will know it by. */
export interface SigningKey {
  readonly privateKey: KeyObject;
  readonly publicKey: KeyObject;
  readonly publicPem: string;
  /** SPKI DER of the public key. */
  readonly spki: Buffer;
  /** base64(sha256(SPKI DER)): the key hint sigstore clients put in bundles. */
  readonly hint: string;
}

function deriveKey(password: string, salt: Buffer): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    scrypt(Buffer.from(password, 'utf8'), salt, 32, { ...SCRYPT, maxmem: 64 * 1024 * 1024 }, (error, key) =>
      error ? reject(error) : resolve(key),
    );
  });
}

/** Go's `pem.Encode`: base64 in lines of 64 characters. */
function pemEncode(type: string, der: Uint8Array): string {
  const b64 = Buffer.from(der).toString('base64');
  const lines = b64.match(/.{1,64}/g) ?? [];
  return `-----BEGIN ${type}-----\n${lines.join('\n')}\n-----END ${type}-----\n`;
}

/** Encrypt a private key the way cosign does. */
export async function encryptPrivateKey(privateKey: KeyObject, password: string): Promise<string> {
  const der = privateKey.export({ format: 'der', type: 'pkcs8' });
  const salt = randomBytes(SALT_BYTES);
  const nonce = randomBytes(nacl.secretbox.nonceLength);
  const key = await deriveKey(password, salt);
  const ciphertext = nacl.secretbox(new Uint8Array(der), new Uint8Array(nonce), new Uint8Array(key));
  // Field order as Go's encoding/json writes go-tuf's `data` struct.
  const json = JSON.stringify({
    kdf: { name: 'scrypt', params: { N: SCRYPT.N, r: SCRYPT.r, p: SCRYPT.p }, salt: salt.toString('base64') },
    cipher: { name: 'nacl/secretbox', nonce: nonce.toString('base64') },
    ciphertext: Buffer.from(ciphertext).toString('base64'),
  });
  return pemEncode(SIGSTORE_PRIVATE_KEY_PEM, Buffer.from(json, 'utf8'));
}

/** A new ECDSA P-256 key pair, the private key encrypted with `password` (may be empty, as cosign allows). */
export async function generateKeyPair(password: string): Promise<KeyPairPem> {
  const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  return {
    privatePem: await encryptPrivateKey(privateKey, password),
    publicPem: publicKey.export({ format: 'pem', type: 'spki' }).toString(),
  };
}

const PEM_BLOCK = /-----BEGIN ([A-Z0-9 ]+)-----\r?\n([A-Za-z0-9+/=\r\n]+?)\r?\n?-----END \1-----/;

interface EncryptedKeyJson {
  readonly salt: Buffer;
  readonly nonce: Buffer;
  readonly ciphertext: Buffer;
}

const isRecord = (v: unknown): v is Record<string, unknown> =>
  typeof v === 'object' && v !== null && !Array.isArray(v);

function base64Field(value: unknown, what: string): Buffer {
  if (typeof value !== 'string' || !/^[A-Za-z0-9+/]*={0,2}$/.test(value) || value.length % 4 !== 0) {
    throw new SigningKeyError('KEY_FORMAT', `encrypted key: ${what} is not base64`);
  }
  return Buffer.from(value, 'base64');
}

function parseEncryptedJson(text: string): EncryptedKeyJson {
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    throw new SigningKeyError('KEY_FORMAT', 'encrypted key: the PEM body is not JSON');
  }
  const kdf = isRecord(json) ? json.kdf : undefined;
  const cipher = isRecord(json) ? json.cipher : undefined;
  if (!isRecord(json) || !isRecord(kdf) || !isRecord(cipher)) {
    throw new SigningKeyError('KEY_FORMAT', 'encrypted key: expected "kdf", "cipher" and "ciphertext"');
  }
  if (kdf.name !== 'scrypt')
    throw new SigningKeyError(
      'KEY_UNSUPPORTED',
      `encrypted key: unsupported kdf ${JSON.stringify(kdf.name)}`,
    );
  const params = kdf.params;
  if (!isRecord(params) || params.N !== SCRYPT.N || params.r !== SCRYPT.r || params.p !== SCRYPT.p) {
    throw new SigningKeyError(
      'KEY_UNSUPPORTED',
      'encrypted key: unexpected kdf parameters (cosign uses scrypt N=32768 r=8 p=1)',
    );
  }
  if (cipher.name !== 'nacl/secretbox') {
    throw new SigningKeyError(
      'KEY_UNSUPPORTED',
      `encrypted key: unsupported cipher ${JSON.stringify(cipher.name)}`,
    );
  }
  const salt = base64Field(kdf.salt, 'kdf.salt');
  const nonce = base64Field(cipher.nonce, 'cipher.nonce');
  const ciphertext = base64Field(json.ciphertext, 'ciphertext');
  if (salt.length === 0 || salt.length > 64)
    throw new SigningKeyError('KEY_FORMAT', `encrypted key: salt of ${salt.length} bytes`);
  if (nonce.length !== nacl.secretbox.nonceLength) {
    throw new SigningKeyError(
      'KEY_FORMAT',
      `encrypted key: nonce is ${nonce.length} bytes, not ${nacl.secretbox.nonceLength}`,
    );
  }
  if (ciphertext.length <= nacl.secretbox.overheadLength)
    throw new SigningKeyError('KEY_FORMAT', 'encrypted key: ciphertext is too short');
  return { salt, nonce, ciphertext };
}

/** Describe a public key for humans and bundles. */
export function signingKeyFrom(privateKey: KeyObject): SigningKey {
  const publicKey = createPublicKey(privateKey);
  const spki = publicKey.export({ format: 'der', type: 'spki' });
  return {
    privateKey,
    publicKey,
    publicPem: publicKey.export({ format: 'pem', type: 'spki' }).toString(),
    spki,
    hint: createHash('sha256').update(spki).digest('base64'),
  };
}

/**
 * Decrypt a cosign / sigstore encrypted private key. A wrong password and a damaged key are
 * indistinguishable by design of secretbox: both are "wrong password or corrupt key".
 */
export async function decryptPrivateKey(pem: string, password: string): Promise<SigningKey> {
  if (pem.length > MAX_KEY_FILE)
    throw new SigningKeyError('KEY_FORMAT', `private key file is larger than ${MAX_KEY_FILE} bytes`);
  const block = PEM_BLOCK.exec(pem);
  if (!block) throw new SigningKeyError('KEY_FORMAT', 'no PEM block found in the private key file');
  const type = block[1] as string;
  if (type !== SIGSTORE_PRIVATE_KEY_PEM && type !== COSIGN_PRIVATE_KEY_PEM) {
    throw new SigningKeyError(
      'KEY_UNSUPPORTED',
      `unsupported PEM type ${JSON.stringify(type)}: expected ${SIGSTORE_PRIVATE_KEY_PEM} or ${COSIGN_PRIVATE_KEY_PEM} (an encrypted cosign key)`,
    );
  }
  const body = (block[2] as string).replace(/\s+/g, '');
  const { salt, nonce, ciphertext } = parseEncryptedJson(Buffer.from(body, 'base64').toString('utf8'));
  const key = await deriveKey(password, salt);
  const der = nacl.secretbox.open(new Uint8Array(ciphertext), new Uint8Array(nonce), new Uint8Array(key));
  if (der === null)
    throw new SigningKeyError(
      'KEY_PASSWORD',
      'cannot decrypt the private key: wrong password or corrupt key',
    );
  let privateKey: KeyObject;
  try {
    privateKey = createPrivateKey({ key: Buffer.from(der), format: 'der', type: 'pkcs8' });
  } catch {
    throw new SigningKeyError('KEY_FORMAT', 'the decrypted private key is not a PKCS#8 key');
  }
  const kind = privateKey.asymmetricKeyType;
  if (kind !== 'ec' && kind !== 'rsa' && kind !== 'ed25519') {
    throw new SigningKeyError(
      'KEY_UNSUPPORTED',
      `unsupported private key type ${String(kind)} (ECDSA, RSA or Ed25519 expected)`,
    );
  }
  return signingKeyFrom(privateKey);
}
