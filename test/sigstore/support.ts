/**
 * Test support: paths into ../shared/fixtures (read at test time, never copied), and a tiny
 * in-process "Rekor" (an ECDSA log key that signs SETs) so attack mutations can be built from
 * real cryptography rather than mocks.
 */
import assert from 'node:assert/strict';
import { createHash, generateKeyPairSync, sign, type KeyObject } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { json as canonicalJson } from '@sigstore/core';
import { SigstoreError } from '../../src/sigstore/errors.ts';
import { loadTrustedRoot, type TrustRoot } from '../../src/sigstore/trust/trusted-root.ts';

export const FIXTURES = join(import.meta.dirname, '../../../shared/fixtures');
export const SIGSTORE = join(FIXTURES, 'sigstore');
export const PY = join(SIGSTORE, 'sigstore-python/assets');
export const GO = join(SIGSTORE, 'sigstore-go');
export const JS_VERIFY = join(
  SIGSTORE,
  'sigstore-js/extracted-from-ts/packages/verify/src/__tests__/__fixtures__',
);
export const JS_CLIENT = join(
  SIGSTORE,
  'sigstore-js/extracted-from-ts/packages/client/src/__tests__/__fixtures__',
);
export const CONTAINERS = join(FIXTURES, 'containers-image/signature/fixtures');
export const SKOPEO = join(FIXTURES, 'skopeo-signed');
export const DANGERZONE = join(FIXTURES, 'cosign-dangerzone');
export const DANGERZONE_DIGEST = 'sha256:7396780b5862cf8b37527854a2a2331e5c746b6a71aa1f424258c3bfaf3a1bd7';

export const read = (path: string): Buffer => readFileSync(path);
export const readText = (path: string): string => readFileSync(path, 'utf8');
export const readJSON = (path: string): Record<string, unknown> =>
  JSON.parse(readText(path)) as Record<string, unknown>;
export const sha256Hex = (b: Uint8Array | string): string => createHash('sha256').update(b).digest('hex');
export const clone = <T>(v: T): T => structuredClone(v);

let staging: TrustRoot | undefined;
export const stagingRoot = (): TrustRoot =>
  (staging ??= loadTrustedRoot(join(SIGSTORE, 'staging/trusted_root.json')));

/**
 * The sigstore-js test trust roots omit `validFor` on their logs (the library defaults it): we
 * reject that at load, so tests that need them add a start date in memory.
 */
export function sigstoreJsRoot(path: string): TrustRoot {
  type Validity = { validFor?: { start?: string } };
  const json = readJSON(path) as {
    tlogs?: { publicKey: Validity }[];
    ctlogs?: { publicKey: Validity }[];
    certificateAuthorities?: Validity[];
    timestampAuthorities?: Validity[];
  };
  const entries = [
    ...[...(json.tlogs ?? []), ...(json.ctlogs ?? [])].map((l) => l.publicKey),
    ...(json.certificateAuthorities ?? []),
    ...(json.timestampAuthorities ?? []),
  ];
  for (const e of entries) {
    e.validFor ??= {};
    e.validFor.start ??= '2000-01-01T00:00:00Z';
  }
  return loadTrustedRoot(json, { name: path });
}

/** The dangerzone `.sig` layer: payload bytes and annotations exactly as published. */
export function dangerzoneLayer(): {
  payload: Buffer;
  annotations: Record<string, string>;
  mediaType: string;
  digest: string;
} {
  const manifest = readJSON(join(DANGERZONE, `sha256-${DANGERZONE_DIGEST.slice(7)}.sig.manifest.json`)) as {
    layers: { mediaType: string; digest: string; annotations: Record<string, string> }[];
  };
  const layer = manifest.layers[0] as {
    mediaType: string;
    digest: string;
    annotations: Record<string, string>;
  };
  return { payload: read(join(DANGERZONE, 'simplesigning-payload.json')), ...layer };
}

// ---------------------------------------------------------------------------------------------------
// An in-process transparency log and signer.

export interface FakeLog {
  readonly privateKey: KeyObject;
  readonly spki: Buffer;
  readonly logId: Buffer;
  readonly baseUrl: string;
}

export function makeLog(name = 'rekor.test'): FakeLog {
  const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  const spki = publicKey.export({ format: 'der', type: 'spki' });
  return { privateKey, spki, logId: createHash('sha256').update(spki).digest(), baseUrl: `https://${name}` };
}

export function trustRootJSON(logs: readonly FakeLog[]): Record<string, unknown> {
  return {
    mediaType: 'application/vnd.dev.sigstore.trustedroot+json;version=0.1',
    tlogs: logs.map((l) => ({
      baseUrl: l.baseUrl,
      hashAlgorithm: 'SHA2_256',
      publicKey: {
        rawBytes: l.spki.toString('base64'),
        keyDetails: 'PKIX_ECDSA_P256_SHA_256',
        validFor: { start: '2020-01-01T00:00:00Z' },
      },
      logId: { keyId: l.logId.toString('base64') },
    })),
    certificateAuthorities: [],
    ctlogs: [],
    timestampAuthorities: [],
  };
}

export interface Signer {
  readonly privateKey: KeyObject;
  readonly publicKey: KeyObject;
  readonly pem: string;
}

export function makeSigner(): Signer {
  const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  return { privateKey, publicKey, pem: publicKey.export({ format: 'pem', type: 'spki' }).toString() };
}

/** A hashedrekord 0.0.1 body as Rekor canonicalizes it. */
export function hashedRekordBody(payloadSha256: string, signatureB64: string, verifierPem: string): string {
  const body = {
    apiVersion: '0.0.1',
    kind: 'hashedrekord',
    spec: {
      data: { hash: { algorithm: 'sha256', value: payloadSha256 } },
      signature: {
        content: signatureB64,
        publicKey: { content: Buffer.from(verifierPem).toString('base64') },
      },
    },
  };
  return Buffer.from(canonicalJson.canonicalize(body)).toString('base64');
}

export interface LoggedEntry {
  readonly bodyB64: string;
  readonly integratedTime: number;
  readonly logIndex: number;
  readonly logIdHex: string;
  readonly set: string;
}

/** Log a body: sign the SET the way Rekor v1 does. */
export function logEntry(
  log: FakeLog,
  bodyB64: string,
  integratedTime: number,
  logIndex: number,
): LoggedEntry {
  const logIdHex = log.logId.toString('hex');
  const payload = canonicalJson.canonicalize({ body: bodyB64, integratedTime, logID: logIdHex, logIndex });
  const set = sign('sha256', Buffer.from(payload), log.privateKey).toString('base64');
  return { bodyB64, integratedTime, logIndex, logIdHex, set };
}

/** The `dev.sigstore.cosign/bundle` annotation for an entry. */
export const rekorAnnotation = (e: LoggedEntry): string =>
  JSON.stringify({
    SignedEntryTimestamp: e.set,
    Payload: { body: e.bodyB64, integratedTime: e.integratedTime, logIndex: e.logIndex, logID: e.logIdHex },
  });

/** The same entry in bundle form (v0.1: SET only). */
export const bundleEntry = (e: LoggedEntry): Record<string, unknown> => ({
  logIndex: String(e.logIndex),
  logId: { keyId: Buffer.from(e.logIdHex, 'hex').toString('base64') },
  kindVersion: { kind: 'hashedrekord', version: '0.0.1' },
  integratedTime: String(e.integratedTime),
  inclusionPromise: { signedEntryTimestamp: e.set },
  canonicalizedBody: e.bodyB64,
});

export function simpleSigningPayload(imageDigest: string, reference = 'registry.test/app'): Buffer {
  return Buffer.from(
    JSON.stringify({
      critical: {
        identity: { 'docker-reference': reference },
        image: { 'docker-manifest-digest': imageDigest },
        type: 'cosign container image signature',
      },
      optional: null,
    }),
  );
}

export const signB64 = (signer: Signer, data: Uint8Array): string =>
  sign('sha256', data, signer.privateKey).toString('base64');

/** A key-signed message-signature bundle v0.1 over `payload`, with the given tlog entries. */
export function keyBundle(
  payload: Uint8Array,
  signatureB64: string,
  entries: readonly LoggedEntry[],
): Record<string, unknown> {
  return {
    mediaType: 'application/vnd.dev.sigstore.bundle+json;version=0.1',
    verificationMaterial: { publicKey: { hint: 'untrusted-hint' }, tlogEntries: entries.map(bundleEntry) },
    messageSignature: {
      messageDigest: { algorithm: 'SHA2_256', digest: createHash('sha256').update(payload).digest('base64') },
      signature: signatureB64,
    },
  };
}

/** containers/image fixtures store git symlinks as files holding the target path; follow them. */
export function readFixture(path: string): Buffer {
  const b = read(path);
  const text = b.length < 200 ? b.toString('utf8') : '';
  return text.startsWith('../') && !text.includes('\n') ? read(join(path, '..', text)) : b;
}

/** Layers of a `.sig` manifest from the skopeo-signed registry dump, with their blobs. */
export function registryDumpSignatures(
  repo: string,
  imageDigest: string,
): { payload: Buffer; annotations: Record<string, string>; mediaType: string; digest: string }[] {
  const dir = join(SKOPEO, 'registry-dump/test', repo);
  const manifest = readJSON(join(dir, `manifest@sha256-${imageDigest.slice(7)}.sig.json`)) as {
    layers: { mediaType: string; digest: string; annotations: Record<string, string> }[];
  };
  return manifest.layers.map((l) => ({
    ...l,
    payload: read(join(dir, 'blobs', l.digest.replace(':', '-'))),
  }));
}

/**
 * An RFC 9162 inclusion proof of `bodyB64` at index 0 of a two-leaf tree, with a checkpoint signed
 * by the log (signed-note format; the signer name is the log's host, as Rekor writes it).
 */
export function inclusionProof(
  log: FakeLog,
  bodyB64: string,
  sibling: Buffer = Buffer.alloc(32, 7),
): Record<string, unknown> {
  const leaf = createHash('sha256')
    .update(Buffer.concat([Buffer.from([0]), Buffer.from(bodyB64, 'base64')]))
    .digest();
  const root = createHash('sha256')
    .update(Buffer.concat([Buffer.from([1]), leaf, sibling]))
    .digest();
  const origin = log.baseUrl.replace('https://', '');
  const note = `${origin} - 42\n2\n${root.toString('base64')}\n`;
  const sig = sign('sha256', Buffer.from(note), log.privateKey);
  const line = `\u2014 ${origin} ${Buffer.concat([log.logId.subarray(0, 4), sig]).toString('base64')}\n`;
  return {
    logIndex: '0',
    rootHash: root.toString('base64'),
    treeSize: '2',
    hashes: [sibling.toString('base64')],
    checkpoint: { envelope: `${note}\n${line}` },
  };
}

/** Asserts `fn` throws a SigstoreError with this code and a message matching `message`. */
export function fails(fn: () => unknown, code: string, message: RegExp): void {
  assert.throws(fn, (e: unknown) => {
    assert.ok(e instanceof SigstoreError, `expected SigstoreError, got ${String(e)}`);
    assert.equal(e.code, code, e.message);
    assert.match(e.message, message);
    return true;
  });
}

// ---------------------------------------------------------------------------------------------------
// An in-process certificate-transparency log: embedded SCTs as a Fulcio CA gets them (RFC 6962).

export interface CtLog {
  readonly privateKey: KeyObject;
  readonly spki: Buffer;
  /** sha256 of the SPKI DER: the SCT's log id and the trusted root's `logId.keyId`. */
  readonly logId: Buffer;
  readonly baseUrl: string;
}

export function makeCtLog(name = 'ctfe.test'): CtLog {
  return makeLog(name);
}

const u16 = (n: number): Buffer => Buffer.from([(n >> 8) & 0xff, n & 0xff]);
const u24 = (n: number): Buffer => Buffer.from([(n >> 16) & 0xff, (n >> 8) & 0xff, n & 0xff]);
const u64 = (n: number): Buffer => {
  const b = Buffer.alloc(8);
  b.writeBigUInt64BE(BigInt(n));
  return b;
};

/**
 * One v1 SCT for a precertificate entry: the log signs version, signature type certificate_timestamp,
 * the timestamp, entry type precert_entry, sha256 of the issuer's SPKI, the precert TBS (uint24 length)
 * and empty extensions, as @sigstore/core's SignedCertificateTimestamp.verify rebuilds them.
 */
export function precertSct(log: CtLog, precertTbs: Buffer, issuerSpki: Buffer, timestampMs: number): Buffer {
  const issuerKeyHash = createHash('sha256').update(issuerSpki).digest();
  const signed = Buffer.concat([
    Buffer.from([0, 0]),
    u64(timestampMs),
    u16(1),
    issuerKeyHash,
    u24(precertTbs.length),
    precertTbs,
    u16(0),
  ]);
  const signature = sign('sha256', signed, log.privateKey);
  // version v1, log id, timestamp, no extensions, sha256 (4) / ecdsa (3), signature.
  return Buffer.concat([
    Buffer.from([0]),
    log.logId,
    u64(timestampMs),
    u16(0),
    Buffer.from([4, 3]),
    u16(signature.length),
    signature,
  ]);
}

/** The TLS SignedCertificateTimestampList: uint16 total length, then each SCT with a uint16 length. */
export function sctList(scts: readonly Buffer[]): Buffer {
  const items = Buffer.concat(scts.map((s) => Buffer.concat([u16(s.length), s])));
  return Buffer.concat([u16(items.length), items]);
}

/** The trusted root entry for a log (tlog or ctlog), valid from `start`. */
export const logEntryJSON = (
  l: { spki: Buffer; logId: Buffer; baseUrl: string },
  start = '2020-01-01T00:00:00Z',
) => ({
  baseUrl: l.baseUrl,
  hashAlgorithm: 'SHA2_256',
  publicKey: {
    rawBytes: l.spki.toString('base64'),
    keyDetails: 'PKIX_ECDSA_P256_SHA_256',
    validFor: { start },
  },
  logId: { keyId: l.logId.toString('base64') },
});

// ---------------------------------------------------------------------------------------------------
// RFC 9162 Merkle trees, for inclusion proofs at any index.

const leafHash = (data: Buffer): Buffer =>
  createHash('sha256')
    .update(Buffer.concat([Buffer.from([0]), data]))
    .digest();
const nodeHash = (l: Buffer, r: Buffer): Buffer =>
  createHash('sha256')
    .update(Buffer.concat([Buffer.from([1]), l, r]))
    .digest();
const split = (n: number): number => {
  let k = 1;
  while (k * 2 < n) k *= 2;
  return k;
};

/** The Merkle tree hash of leaf hashes. */
export function merkleRoot(leaves: readonly Buffer[]): Buffer {
  if (leaves.length === 1) return leaves[0] as Buffer;
  const k = split(leaves.length);
  return nodeHash(merkleRoot(leaves.slice(0, k)), merkleRoot(leaves.slice(k)));
}

/** The audit path of leaf `m` (RFC 9162 §2.1.3.1), bottom up. */
export function merklePath(m: number, leaves: readonly Buffer[]): Buffer[] {
  if (leaves.length <= 1) return [];
  const k = split(leaves.length);
  return m < k
    ? [...merklePath(m, leaves.slice(0, k)), merkleRoot(leaves.slice(k))]
    : [...merklePath(m - k, leaves.slice(k)), merkleRoot(leaves.slice(0, k))];
}

export { leafHash as merkleLeafHash };
