/**
 * A complete Sigstore instance in process, for keyless tests without Sigstore's servers: a root CA and a
 * Fulcio-like intermediate, a CT log that embeds precertificate SCTs in the leaves it sees issued, a
 * Rekor-like log that signs SETs and inclusion proofs with a checkpoint, and the trusted_root.json naming
 * them. Signing helpers write what cosign writes: a legacy `.sig` layer (signature, certificate, chain and
 * Rekor bundle annotations) and a Sigstore bundle v0.3 DSSE (cosign v3), pushed to a registry.
 */
import { createHash, sign } from 'node:crypto';
import { json as canonicalJson } from '@sigstore/core';
import {
  ANNOTATION_BUNDLE,
  ANNOTATION_CERTIFICATE,
  ANNOTATION_CHAIN,
  ANNOTATION_SIGNATURE,
} from '../../src/sigstore/legacy/cosign-signature.ts';
import {
  hashedRekordBody,
  logEntryJSON,
  makeCtLog,
  makeLog,
  merkleLeafHash,
  merklePath,
  merkleRoot,
  precertSct,
  rekorAnnotation,
  sctList,
  simpleSigningPayload,
  type CtLog,
  type FakeLog,
  type LoggedEntry,
} from '../sigstore/support.ts';
import { issue, toPem, type Issued, type San } from '../sigstore/x509.ts';
import { pushImage, sha256 } from './images.ts';

export const GITHUB_ISSUER = 'https://token.actions.githubusercontent.com';
export const COSIGN_SIGN_PREDICATE = 'https://sigstore.dev/cosign/sign/v1';
const IN_TOTO = 'application/vnd.in-toto+json';
const BUNDLE_V03 = 'application/vnd.dev.sigstore.bundle.v0.3+json';
const OCI_MANIFEST = 'application/vnd.oci.image.manifest.v1+json';
const OCI_INDEX = 'application/vnd.oci.image.index.v1+json';

export interface Validity {
  readonly notBefore: Date;
  readonly notAfter: Date;
}

export interface InstanceOptions {
  /** Names the CA subjects and log hosts, so two instances are told apart. */
  readonly name?: string;
  /** Validity of the intermediate (default: a day before now to a year after). */
  readonly intermediate?: Validity;
  /** Share another instance's logs (a second CA behind the same CT log and Rekor). */
  readonly ctLog?: CtLog;
  readonly rekor?: TransparencyLog;
}

export type SctMode =
  /** An SCT from this instance's CT log (default). */
  | 'embedded'
  /** No SCT extension at all (a private Fulcio without a CT log). */
  | 'none'
  /** An SCT from another CT log (not in the trusted root). */
  | { readonly log: CtLog }
  /** These raw SCT list bytes, whatever certificate they were made for. */
  | { readonly list: Buffer };

export interface LeafOptions {
  readonly sans: readonly San[];
  /** OIDC issuer, written as Fulcio does in 1.3.6.1.4.1.57264.1.1 (raw) and .1.8 (UTF8String). */
  readonly issuer?: string;
  /** Further Fulcio extensions, dotted OID → value. */
  readonly extensions?: Readonly<Record<string, string>>;
  /** Default: ten minutes from a minute before `signedAt`. */
  readonly validity?: Validity;
  /** When the certificate is issued and the SCT stamped (default now). */
  readonly signedAt?: Date;
  readonly sct?: SctMode;
}

/** A leaf with what made it: its SCT list (if any) so tests can copy it onto another certificate. */
export interface Leaf extends Issued {
  readonly sctList: Buffer | undefined;
  readonly pem: string;
  readonly validity: Validity;
}

export interface RekorEntry extends LoggedEntry {
  readonly kind: 'hashedrekord' | 'dsse';
  readonly inclusionProof: Record<string, unknown>;
}

/** Rekor-like: an append-only Merkle log whose entries get a SET and an inclusion proof + checkpoint. */
export interface TransparencyLog extends FakeLog {
  readonly size: number;
  /** Log a canonicalized body; its proof is against the tree just after it was added. */
  append(bodyB64: string, kind: RekorEntry['kind'], integratedTime: number): RekorEntry;
  /** An inclusion proof of entry `logIndex` against the current tree, with a fresh checkpoint. */
  proof(logIndex: number): Record<string, unknown>;
}

export function transparencyLog(name: string): TransparencyLog {
  const log = makeLog(name);
  const leaves: Buffer[] = [];
  const origin = log.baseUrl.replace('https://', '');
  const proof = (logIndex: number): Record<string, unknown> => {
    if (!(logIndex >= 0 && logIndex < leaves.length)) throw new Error(`no entry ${logIndex} in ${origin}`);
    const root = merkleRoot(leaves);
    // Signed note (checkpoint): origin, size, root; the signature line carries the key hint.
    const note = `${origin} - 1193050959916656506\n${leaves.length}\n${root.toString('base64')}\n`;
    const noteSig = sign('sha256', Buffer.from(note), log.privateKey);
    const line = `\u2014 ${origin} ${Buffer.concat([log.logId.subarray(0, 4), noteSig]).toString('base64')}\n`;
    return {
      logIndex: String(logIndex),
      rootHash: root.toString('base64'),
      treeSize: String(leaves.length),
      hashes: merklePath(logIndex, leaves).map((h) => h.toString('base64')),
      checkpoint: { envelope: `${note}\n${line}` },
    };
  };
  return {
    ...log,
    get size() {
      return leaves.length;
    },
    proof,
    append(bodyB64, kind, integratedTime) {
      const logIndex = leaves.length;
      leaves.push(merkleLeafHash(Buffer.from(bodyB64, 'base64')));
      const logIdHex = log.logId.toString('hex');
      const setPayload = canonicalJson.canonicalize({
        body: bodyB64,
        integratedTime,
        logID: logIdHex,
        logIndex,
      });
      const set = sign('sha256', Buffer.from(setPayload), log.privateKey).toString('base64');
      return { kind, bodyB64, integratedTime, logIndex, logIdHex, set, inclusionProof: proof(logIndex) };
    },
  };
}

/** A dsse 0.0.1 Rekor body for a one-signature envelope. */
export function dsseRekorBody(
  payload: Buffer,
  envelope: Record<string, unknown>,
  signatureB64: string,
  certPem: string,
): string {
  const body = {
    apiVersion: '0.0.1',
    kind: 'dsse',
    spec: {
      envelopeHash: {
        algorithm: 'sha256',
        value: createHash('sha256').update(canonicalJson.canonicalize(envelope)).digest('hex'),
      },
      payloadHash: { algorithm: 'sha256', value: createHash('sha256').update(payload).digest('hex') },
      signatures: [{ signature: signatureB64, verifier: Buffer.from(certPem).toString('base64') }],
    },
  };
  return Buffer.from(canonicalJson.canonicalize(body)).toString('base64');
}

/** DSSE pre-authentication encoding. */
export const pae = (type: string, payload: Buffer): Buffer =>
  Buffer.concat([Buffer.from(`DSSEv1 ${Buffer.byteLength(type)} ${type} ${payload.length} `), payload]);

export interface LegacyLayer {
  readonly payload: Buffer;
  readonly annotations: Record<string, string>;
  /** The Rekor entry made for it (absent when unlogged). */
  readonly entry?: RekorEntry;
}

export interface SignOptions {
  /** Rekor integration time (default: the leaf's notBefore + 60 s, inside its validity). */
  readonly integratedTime?: Date;
  /** Log this body instead of the one for the signature (a Rekor entry for another signature). */
  readonly loggedBody?: string;
  /** Leave the Rekor annotation / tlog entries out. */
  readonly unlogged?: boolean;
}

export interface SigstoreInstance {
  readonly name: string;
  readonly root: Issued;
  readonly intermediate: Issued;
  readonly ctLog: CtLog;
  readonly rekor: TransparencyLog;
  /** trusted_root.json (v0.1) naming the CA chain, the Rekor key and the CT log key. */
  trustedRoot(): Record<string, unknown>;
  issueLeaf(o: LeafOptions): Leaf;
  /** A cosign legacy `.sig` layer for `digest`: simple-signing payload and annotations. */
  signLegacy(leaf: Leaf, digest: string, reference: string, o?: SignOptions): LegacyLayer;
  /** A cosign v3 bundle: v0.3, DSSE in-toto statement over `digest`, dsse Rekor entry with proof. */
  signBundle(leaf: Leaf, digest: string, o?: SignOptions): Record<string, unknown>;
}

const HOUR = 3600_000;
const seconds = (d: Date): number => Math.floor(d.getTime() / 1000);

export function createSigstoreInstance(options: InstanceOptions = {}): SigstoreInstance {
  const name = options.name ?? 'sigstore.test';
  const now = Date.now();
  const root = issue({
    subject: `${name} root`,
    notBefore: new Date(now - 24 * HOUR),
    notAfter: new Date(now + 8760 * HOUR),
    ca: true,
  });
  const intermediate = issue({
    subject: `${name} intermediate`,
    issuer: root,
    notBefore: options.intermediate?.notBefore ?? new Date(now - 24 * HOUR),
    notAfter: options.intermediate?.notAfter ?? new Date(now + 8760 * HOUR),
    ca: true,
  });
  const ctLog = options.ctLog ?? makeCtLog(`ctfe.${name}`);
  const rekor = options.rekor ?? transparencyLog(`rekor.${name}`);

  const leafTimes = (leaf: Leaf, o: SignOptions): number =>
    seconds(o.integratedTime ?? new Date(leaf.validity.notBefore.getTime() + 60_000));

  const instance: SigstoreInstance = {
    name,
    root,
    intermediate,
    ctLog,
    rekor,
    trustedRoot: () => ({
      mediaType: 'application/vnd.dev.sigstore.trustedroot+json;version=0.1',
      tlogs: [logEntryJSON(rekor)],
      certificateAuthorities: [
        {
          subject: { organization: 'portcullis.test', commonName: `${name} intermediate` },
          uri: `https://fulcio.${name}`,
          certChain: {
            certificates: [intermediate, root].map((c) => ({ rawBytes: c.der.toString('base64') })),
          },
          validFor: { start: '2020-01-01T00:00:00Z' },
        },
      ],
      ctlogs: [logEntryJSON(ctLog)],
      timestampAuthorities: [],
    }),

    issueLeaf(o) {
      const signedAt = o.signedAt ?? new Date();
      const validity = o.validity ?? {
        notBefore: new Date(signedAt.getTime() - 60_000),
        notAfter: new Date(signedAt.getTime() + 540_000),
      };
      const mode = o.sct ?? 'embedded';
      const made: { list?: Buffer } = {};
      const listFor = (tbs: Buffer, issuerSpki: Buffer): Buffer => {
        if (mode === 'none') throw new Error('no SCT list for sct: none');
        made.list =
          typeof mode === 'object' && 'list' in mode
            ? mode.list
            : sctList([
                precertSct(mode === 'embedded' ? ctLog : mode.log, tbs, issuerSpki, signedAt.getTime()),
              ]);
        return made.list;
      };
      const issuer = o.issuer ?? GITHUB_ISSUER;
      const cert = issue({
        issuer: intermediate,
        ...validity,
        sans: o.sans,
        extensions: { '1.3.6.1.4.1.57264.1.1': issuer, '1.3.6.1.4.1.57264.1.8': issuer, ...o.extensions },
        ...(mode === 'none' ? {} : { sctList: listFor }),
      });
      return { ...cert, sctList: made.list, pem: toPem(cert.der), validity };
    },

    signLegacy(leaf, digest, reference, o = {}) {
      const payload = simpleSigningPayload(digest, reference);
      const signature = sign('sha256', payload, leaf.privateKey).toString('base64');
      const annotations: Record<string, string> = {
        [ANNOTATION_SIGNATURE]: signature,
        [ANNOTATION_CERTIFICATE]: leaf.pem,
        [ANNOTATION_CHAIN]: toPem(intermediate.der) + toPem(root.der),
      };
      if (o.unlogged) return { payload, annotations };
      const body = o.loggedBody ?? hashedRekordBody(sha256(payload).slice(7), signature, leaf.pem);
      const entry = rekor.append(body, 'hashedrekord', leafTimes(leaf, o));
      annotations[ANNOTATION_BUNDLE] = rekorAnnotation(entry);
      return { payload, annotations, entry };
    },

    signBundle(leaf, digest, o = {}) {
      const [algorithm, hex] = digest.split(':') as [string, string];
      const statement = Buffer.from(
        JSON.stringify({
          _type: 'https://in-toto.io/Statement/v1',
          subject: [{ digest: { [algorithm]: hex } }],
          predicateType: COSIGN_SIGN_PREDICATE,
          predicate: {},
        }),
      );
      const sig = sign('sha256', pae(IN_TOTO, statement), leaf.privateKey).toString('base64');
      const envelope = {
        payload: statement.toString('base64'),
        payloadType: IN_TOTO,
        signatures: [{ sig, keyid: '' }],
      };
      const tlogEntries = [];
      if (!o.unlogged) {
        const body = o.loggedBody ?? dsseRekorBody(statement, envelope, sig, leaf.pem);
        const e = rekor.append(body, 'dsse', leafTimes(leaf, o));
        tlogEntries.push({
          logIndex: String(e.logIndex),
          logId: { keyId: rekor.logId.toString('base64') },
          kindVersion: { kind: 'dsse', version: '0.0.1' },
          integratedTime: String(e.integratedTime),
          inclusionPromise: { signedEntryTimestamp: e.set },
          inclusionProof: e.inclusionProof,
          canonicalizedBody: e.bodyB64,
        });
      }
      return {
        mediaType: BUNDLE_V03,
        verificationMaterial: {
          certificate: { rawBytes: leaf.der.toString('base64') },
          tlogEntries,
          timestampVerificationData: { rfc3161Timestamps: [] },
        },
        dsseEnvelope: envelope,
      };
    },
  };
  return instance;
}

/** Push a legacy layer as the `.sig` image of `digest` (one layer; replaces what is there). */
export async function pushLegacySignature(
  host: string,
  repo: string,
  digest: string,
  layers: readonly LegacyLayer[],
): Promise<void> {
  const config = Buffer.from('{}');
  const manifest = Buffer.from(
    JSON.stringify({
      schemaVersion: 2,
      mediaType: OCI_MANIFEST,
      config: {
        mediaType: 'application/vnd.oci.image.config.v1+json',
        digest: sha256(config),
        size: config.length,
      },
      layers: layers.map((l) => ({
        mediaType: 'application/vnd.dev.cosign.simplesigning.v1+json',
        digest: sha256(l.payload),
        size: l.payload.length,
        annotations: l.annotations,
      })),
    }),
  );
  await pushImage(host, repo, `${digest.replace(':', '-')}.sig`, {
    manifest: { bytes: manifest, mediaType: OCI_MANIFEST },
    blobs: [config, ...layers.map((l) => l.payload)],
  });
}

/**
 * Push bundles as OCI 1.1 referrers of the image (`subject` = its manifest), and the referrers
 * tag-schema index `sha256-<hex>` listing them, as cosign v3 does against a registry without the API.
 */
export async function pushBundleReferrers(
  host: string,
  repo: string,
  image: { readonly digest: string; readonly size: number; readonly mediaType: string },
  bundles: readonly Record<string, unknown>[],
): Promise<void> {
  const empty = Buffer.from('{}');
  const entries = [];
  for (const bundle of bundles) {
    const layer = Buffer.from(JSON.stringify(bundle));
    const manifest = Buffer.from(
      JSON.stringify({
        schemaVersion: 2,
        mediaType: OCI_MANIFEST,
        artifactType: BUNDLE_V03,
        config: { mediaType: 'application/vnd.oci.empty.v1+json', digest: sha256(empty), size: empty.length },
        layers: [{ mediaType: BUNDLE_V03, digest: sha256(layer), size: layer.length }],
        subject: image,
        annotations: {
          'dev.sigstore.bundle.content': 'dsse-envelope',
          'dev.sigstore.bundle.predicateType': COSIGN_SIGN_PREDICATE,
        },
      }),
    );
    const digest = sha256(manifest);
    await pushImage(host, repo, digest, {
      manifest: { bytes: manifest, mediaType: OCI_MANIFEST },
      blobs: [empty, layer],
    });
    entries.push({ mediaType: OCI_MANIFEST, digest, size: manifest.length, artifactType: BUNDLE_V03 });
  }
  const index = Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType: OCI_INDEX, manifests: entries }));
  await pushImage(host, repo, image.digest.replace(':', '-'), {
    manifest: { bytes: index, mediaType: OCI_INDEX },
  });
}
