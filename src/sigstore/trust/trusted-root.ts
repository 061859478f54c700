/**
 * Trust roots: a `trusted_root.json` (protobuf-specs JSON) validated strictly, then turned into the
 * @sigstore/verify TrustMaterial.
 *
 * The library is lenient where a verifier must not be: a log or authority without `validFor.start`
 * silently becomes valid since the beginning of time (conformance `trust-root-tlog-missing-validity-start_fail`),
 * unknown key types fall through to a guess, bad certificates fail only when first used. Here every
 * entry is checked at load, and the message names the entry.
 */
import { createPublicKey, type KeyObject } from 'node:crypto';
import { X509Certificate } from '@sigstore/core';
import { TrustedRoot } from '@sigstore/protobuf-specs';
import { toTrustMaterial, type TrustMaterial } from '@sigstore/verify';
import { SigstoreError, describeError } from '../errors.ts';
import { isObject } from '../json.ts';
import { computeDigest } from '../../oci/digest.ts';
import { readBoundedFileSync } from '../../util/bounded-file.ts';

export const TRUSTED_ROOT_MEDIA_TYPES: readonly string[] = [
  'application/vnd.dev.sigstore.trustedroot+json;version=0.1',
  'application/vnd.dev.sigstore.trustedroot.v0.1+json',
  'application/vnd.dev.sigstore.trustedroot.v0.2+json',
];

const CLIENT_TRUST_CONFIG_MEDIA_TYPE = 'application/vnd.dev.sigstore.clienttrustconfig.v0.1+json';
const MAX_TRUSTED_ROOT_BYTES = 4 * 1024 * 1024;
const MAX_ENTRIES = 64;

export interface TrustRoot {
  /** For messages: a file path, `public-good`, or a caller-given name. */
  readonly name: string;
  /** `sha256:` of the JSON bytes it was loaded from (or of its canonical re-serialization). */
  readonly digest: string;
  readonly trustedRoot: TrustedRoot;
  readonly material: TrustMaterial;
}

/** What a key's `keyDetails` promises about the key, checked against the key itself. */
interface KeyExpectation {
  readonly type: string;
  readonly curve?: string;
  readonly format: 'spki' | 'pkcs1';
}

export const KEY_DETAILS: Readonly<Record<string, KeyExpectation>> = {
  PKIX_ECDSA_P256_SHA_256: { type: 'ec', curve: 'prime256v1', format: 'spki' },
  PKIX_ECDSA_P384_SHA_384: { type: 'ec', curve: 'secp384r1', format: 'spki' },
  PKIX_ECDSA_P521_SHA_512: { type: 'ec', curve: 'secp521r1', format: 'spki' },
  PKIX_ED25519: { type: 'ed25519', format: 'spki' },
  PKIX_RSA_PKCS1V5: { type: 'rsa', format: 'spki' },
  PKCS1_RSA_PKCS1V5: { type: 'rsa', format: 'pkcs1' },
  PKIX_RSA_PKCS1V15_2048_SHA256: { type: 'rsa', format: 'spki' },
  PKIX_RSA_PKCS1V15_3072_SHA256: { type: 'rsa', format: 'spki' },
  PKIX_RSA_PKCS1V15_4096_SHA256: { type: 'rsa', format: 'spki' },
};

const HASH_ALGORITHMS = new Set(['SHA2_256', 'SHA2_384', 'SHA2_512']);

/**
 * Load and validate a trusted root. `input` is the parsed JSON object, JSON text (starts with `{`),
 * raw bytes, or a file path; a ClientTrustConfig document is accepted for the root it wraps.
 */
export function loadTrustedRoot(input: unknown, options: { name?: string } = {}): TrustRoot {
  let name = options.name ?? 'trusted root';
  let bytes: Buffer | undefined;
  let json: unknown = input;
  if (typeof input === 'string' && !input.trimStart().startsWith('{')) {
    name = options.name ?? input;
    bytes = readBounded(input);
  } else if (typeof input === 'string') {
    bytes = Buffer.from(input, 'utf8');
  } else if (input instanceof Uint8Array) {
    bytes = Buffer.from(input);
  }
  if (bytes) {
    if (bytes.length > MAX_TRUSTED_ROOT_BYTES) {
      throw invalid(name, `larger than ${MAX_TRUSTED_ROOT_BYTES} bytes`);
    }
    try {
      json = JSON.parse(bytes.toString('utf8'));
    } catch (e) {
      throw invalid(name, `not JSON: ${describeError(e)}`);
    }
  } else {
    bytes = Buffer.from(JSON.stringify(input) ?? '', 'utf8');
  }
  if (isObject(json) && json.mediaType === CLIENT_TRUST_CONFIG_MEDIA_TYPE) {
    // A ClientTrustConfig wraps the trusted root (sigstore-conformance `--trust-config`).
    json = json.trustedRoot;
  }
  validateTrustedRootJSON(json, name);
  let trustedRoot: TrustedRoot;
  let material: TrustMaterial;
  try {
    trustedRoot = TrustedRoot.fromJSON(json);
    material = toTrustMaterial(trustedRoot);
  } catch (e) {
    throw invalid(name, describeError(e));
  }
  return {
    name,
    digest: computeDigest(bytes),
    trustedRoot,
    material,
  };
}

function readBounded(path: string): Buffer {
  try {
    return readBoundedFileSync(path, MAX_TRUSTED_ROOT_BYTES);
  } catch (e) {
    throw new SigstoreError('TRUST_ROOT_INVALID', `cannot read trusted root ${path}: ${describeError(e)}`);
  }
}

const invalid = (name: string, detail: string): SigstoreError =>
  new SigstoreError('TRUST_ROOT_INVALID', `invalid trusted root ${name}: ${detail}`);

/** Strict structural validation of the JSON before the lenient protobuf decoder sees it. */
export function validateTrustedRootJSON(json: unknown, name: string): void {
  if (!isObject(json)) throw invalid(name, 'not a JSON object');
  if (typeof json.mediaType !== 'string' || !TRUSTED_ROOT_MEDIA_TYPES.includes(json.mediaType)) {
    throw invalid(name, `unsupported mediaType ${JSON.stringify(json.mediaType)}`);
  }
  const lists = ['tlogs', 'ctlogs', 'certificateAuthorities', 'timestampAuthorities'] as const;
  for (const list of lists) {
    const value = json[list];
    if (value === undefined) continue;
    if (!Array.isArray(value)) throw invalid(name, `${list} is not an array`);
    if (value.length > MAX_ENTRIES) throw invalid(name, `${list} has more than ${MAX_ENTRIES} entries`);
    value.forEach((entry: unknown, i: number) => {
      const where = `${list}[${i}]${isObject(entry) ? describeEntry(entry) : ''}`;
      if (list === 'tlogs' || list === 'ctlogs') validateLog(entry, name, where);
      else validateAuthority(entry, name, where);
    });
  }
  const tlogs = json.tlogs as unknown[] | undefined;
  const cas = json.certificateAuthorities as unknown[] | undefined;
  if (!tlogs?.length && !cas?.length && !(json.timestampAuthorities as unknown[] | undefined)?.length) {
    throw invalid(name, 'no transparency logs, certificate authorities or timestamp authorities');
  }
}

function describeEntry(entry: Record<string, unknown>): string {
  const label = entry.baseUrl ?? entry.uri;
  return typeof label === 'string' && label.length < 200 ? ` (${label})` : '';
}

function validateValidFor(validFor: unknown, name: string, where: string): void {
  if (!isObject(validFor)) throw invalid(name, `${where}: missing validFor`);
  const start = parseTime(validFor.start);
  if (start === undefined) {
    throw invalid(name, `${where}: validFor.start is missing or not an RFC 3339 time`);
  }
  if (validFor.end !== undefined) {
    const end = parseTime(validFor.end);
    if (end === undefined) throw invalid(name, `${where}: validFor.end is not an RFC 3339 time`);
    if (end < start) throw invalid(name, `${where}: validFor.end is before validFor.start`);
  }
}

const RFC3339 = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(?:\.\d{1,9})?(?:Z|[+-]\d{2}:\d{2})$/;

function parseTime(v: unknown): number | undefined {
  if (typeof v !== 'string' || !RFC3339.test(v)) return undefined;
  const t = Date.parse(v);
  return Number.isNaN(t) ? undefined : t;
}

function decodeBase64(v: unknown): Buffer<ArrayBuffer> | undefined {
  if (typeof v !== 'string' || v.length === 0 || !/^[A-Za-z0-9+/_-]*={0,2}$/.test(v)) return undefined;
  const b = Buffer.from(v, 'base64');
  return b.length > 0 ? b : undefined;
}

function validateLog(entry: unknown, name: string, where: string): void {
  if (!isObject(entry)) throw invalid(name, `${where}: not an object`);
  if (entry.baseUrl !== undefined && typeof entry.baseUrl !== 'string') {
    throw invalid(name, `${where}: baseUrl is not a string`);
  }
  if (typeof entry.hashAlgorithm !== 'string' || !HASH_ALGORITHMS.has(entry.hashAlgorithm)) {
    throw invalid(name, `${where}: unsupported hashAlgorithm ${JSON.stringify(entry.hashAlgorithm)}`);
  }
  if (!isObject(entry.logId) || !decodeBase64(entry.logId.keyId)) {
    throw invalid(name, `${where}: logId.keyId missing or not base64`);
  }
  if (
    entry.checkpointKeyId !== undefined &&
    (!isObject(entry.checkpointKeyId) || !decodeBase64(entry.checkpointKeyId.keyId))
  ) {
    throw invalid(name, `${where}: checkpointKeyId.keyId is not base64`);
  }
  const pk = entry.publicKey;
  if (!isObject(pk)) throw invalid(name, `${where}: missing publicKey`);
  validateValidFor(pk.validFor, name, `${where}.publicKey`);
  parseTrustedKey(pk.rawBytes, pk.keyDetails, name, `${where}.publicKey`);
}

/** Parse a trust-root key, checking it is the kind `keyDetails` says. */
export function parseTrustedKey(
  rawBytes: unknown,
  keyDetails: unknown,
  name: string,
  where: string,
): KeyObject {
  if (typeof keyDetails !== 'string' || !(keyDetails in KEY_DETAILS)) {
    throw invalid(name, `${where}: unsupported keyDetails ${JSON.stringify(keyDetails)}`);
  }
  const expect = KEY_DETAILS[keyDetails] as KeyExpectation;
  const der = decodeBase64(rawBytes);
  if (!der) throw invalid(name, `${where}: rawBytes missing or not base64`);
  let key: KeyObject;
  try {
    key = createPublicKey({ key: der, format: 'der', type: expect.format });
  } catch (e) {
    throw invalid(
      name,
      `${where}: rawBytes is not a ${expect.format.toUpperCase()} public key (${describeError(e)})`,
    );
  }
  const curve = key.asymmetricKeyDetails?.namedCurve;
  if (key.asymmetricKeyType !== expect.type || (expect.curve !== undefined && curve !== expect.curve)) {
    throw invalid(
      name,
      `${where}: key is ${key.asymmetricKeyType}${curve ? ` ${curve}` : ''}, but keyDetails says ${keyDetails}`,
    );
  }
  return key;
}

function validateAuthority(entry: unknown, name: string, where: string): void {
  if (!isObject(entry)) throw invalid(name, `${where}: not an object`);
  validateValidFor(entry.validFor, name, where);
  const chain = entry.certChain;
  if (!isObject(chain) || !Array.isArray(chain.certificates) || chain.certificates.length === 0) {
    throw invalid(name, `${where}: certChain.certificates is missing or empty`);
  }
  if (chain.certificates.length > 10)
    throw invalid(name, `${where}: certChain has more than 10 certificates`);
  chain.certificates.forEach((c: unknown, i: number) => {
    const der = isObject(c) ? decodeBase64(c.rawBytes) : undefined;
    if (!der) throw invalid(name, `${where}.certChain.certificates[${i}]: rawBytes missing or not base64`);
    try {
      X509Certificate.parse(der);
    } catch (e) {
      throw invalid(
        name,
        `${where}.certChain.certificates[${i}]: not a DER X.509 certificate (${describeError(e)})`,
      );
    }
  });
}
