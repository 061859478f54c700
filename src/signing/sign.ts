/**
 * `portcullis sign`: cosign-compatible key-based image signatures, written to the registry.
 *
 * legacy (default), as `cosign sign --key` (v2) writes it:
 *   payload = the simple-signing JSON (payload.ts), signature = ECDSA-SHA256 (DER) over those bytes,
 *   base64 in the layer annotation `dev.cosignproject.cosign/signature`; one layer per signature in an
 *   OCI image manifest tagged `<prefix>sha256-<hex>.sig` in the image's (or the signature) repository.
 *   An existing `.sig` manifest is appended to (cosign keeps every signature), an identical layer is
 *   not added twice, and its layers are kept byte for byte.
 *
 * bundle (`--format bundle`): a Sigstore bundle v0.3 whose messageSignature is over the image manifest
 *   (messageDigest = the manifest digest), or on request the DSSE in-toto statement cosign v3 writes
 *   (bundle.ts), with `verificationMaterial.publicKey.hint`, pushed as an
 *   OCI 1.1 referrer of the image (artifactType `application/vnd.dev.sigstore.bundle.v0.3+json`); when
 *   the registry has no referrers API, the referrers tag-schema index `sha256-<hex>` is updated too.
 *
 * No transparency log and no timestamp authority are involved: these signatures carry no tlog entry,
 * so they verify only for key authorities with `tlog.required: false` (the default for keys; cosign
 * users know this as `--tlog-upload=false` / `--insecure-ignore-tlog`).
 *
 * Read-modify-write of the `.sig` tag and of the referrers index is not atomic: two signers writing
 * the same image at the same moment can lose one signature, as with cosign.
 */
import { sign as cryptoSign } from 'node:crypto';
import { parseDigest } from '../oci/digest.ts';
import {
  OCI_EMPTY,
  OCI_INDEX,
  OCI_MANIFEST,
  COSIGN_SIMPLE_SIGNING,
  SIGSTORE_BUNDLE_V03,
} from '../oci/media-types.ts';
import type { RegistryClient } from '../registry/client.ts';
import type { Descriptor, OperationOptions } from '../registry/content.ts';
import { referrersTag } from '../registry/cosign.ts';
import { RegistryError } from '../registry/errors.ts';
import type { RegistryPusher } from '../registry/push.ts';
import type { ImageReference } from '../reference/types.ts';
import { dsseSignatureBundle, messageSignatureBundle, type BundleContent } from './bundle.ts';
import type { SigningKey } from './keys.ts';
import { cosignDockerReference, simpleSigningPayload } from './payload.ts';
import { appendAttachment } from './attachment.ts';

export const ANNOTATION_SIGNATURE = 'dev.cosignproject.cosign/signature';
export const CREATED_ANNOTATION = 'org.opencontainers.image.created';
/** The OCI empty descriptor's blob, `{}`. */
const EMPTY_JSON = Buffer.from('{}', 'utf8');

export type SignatureFormat = 'legacy' | 'bundle';

export class SigningError extends Error {
  readonly code: 'SIGN_UNSUPPORTED' | 'SIGN_CONFLICT' | 'SIGN_INPUT';
  constructor(code: SigningError['code'], message: string) {
    super(message);
    this.name = 'SigningError';
    this.code = code;
  }
}

export interface SignatureRepository {
  readonly registry: string;
  readonly repository: string;
}

export interface SignOptions extends OperationOptions {
  readonly format?: SignatureFormat;
  /** cosign's attachment tag prefix (legacy format). */
  readonly tagPrefix?: string;
  /** Where signatures are written instead of the image's repository (cosign `COSIGN_REPOSITORY`). */
  readonly signatureRepository?: SignatureRepository;
  /** Bundle format: cosign v3's DSSE statement (default), or a message signature over the manifest. */
  readonly bundleContent?: BundleContent;
  /** Clock for the bundle manifest's creation annotation (tests). */
  readonly now?: () => Date;
}

export interface SignResult {
  readonly format: SignatureFormat;
  /** The image digest that was signed. */
  readonly imageDigest: string;
  /** Where the signature was written, e.g. `host/repo:sha256-<hex>.sig` or `host/repo@sha256:…`. */
  readonly written: string;
  /** Digest of the manifest written (the `.sig` manifest, or the bundle referrer manifest). */
  readonly manifestDigest: string;
  /** Legacy: signature layers in the `.sig` manifest after this write. */
  readonly layers?: number;
  /** Legacy: this signature was already there (identical layer), nothing new was added. */
  readonly unchanged?: boolean;
  /** Bundle: the referrers tag-schema index that was updated, when the registry has no referrers API. */
  readonly referrersIndex?: string;
}

/** Sign `bytes` as cosign does with this kind of key (SHA-256; DER ECDSA; PKCS#1 v1.5 RSA; pure Ed25519). */
export function signBytes(key: SigningKey, bytes: Uint8Array): Buffer {
  const type = key.privateKey.asymmetricKeyType;
  if (type === 'ed25519') return cryptoSign(null, bytes, key.privateKey);
  return cryptoSign('sha256', bytes, { key: key.privateKey, dsaEncoding: 'der' });
}

/**
 * Sign the image `ref` names by digest (`ref.digest` is required: resolve the tag once, before).
 * `client` reads (existing signatures, the image manifest); `pusher` writes.
 */
export async function signImage(
  client: RegistryClient,
  pusher: RegistryPusher,
  key: SigningKey,
  ref: ImageReference,
  options: SignOptions = {},
): Promise<SignResult> {
  if (ref.digest === undefined)
    throw new SigningError(
      'SIGN_INPUT',
      `${ref.original}: sign needs the image digest (resolve the tag first)`,
    );
  parseDigest(ref.digest);
  return (options.format ?? 'legacy') === 'bundle'
    ? signBundle(client, pusher, key, ref, ref.digest, options)
    : signLegacy(client, pusher, key, ref, ref.digest, options);
}

/** Where signatures and attestations of `ref` are written: its own repository unless the options name one. */
export function signatureTarget(ref: ImageReference, options: SignOptions): SignatureRepository {
  return options.signatureRepository ?? { registry: ref.registry, repository: ref.repository };
}

function signLegacy(
  client: RegistryClient,
  pusher: RegistryPusher,
  key: SigningKey,
  ref: ImageReference,
  digest: string,
  options: SignOptions,
): Promise<SignResult> {
  const payload = simpleSigningPayload(cosignDockerReference(ref), digest);
  const signature = signBytes(key, payload).toString('base64');
  return appendAttachment(
    client,
    pusher,
    ref,
    digest,
    'sig',
    COSIGN_SIMPLE_SIGNING,
    payload,
    { [ANNOTATION_SIGNATURE]: signature },
    options,
  );
}

async function signBundle(
  client: RegistryClient,
  pusher: RegistryPusher,
  key: SigningKey,
  ref: ImageReference,
  digest: string,
  options: SignOptions,
): Promise<SignResult> {
  // cosign v3 signs images as a DSSE in-toto statement whose subject is the manifest digest, and verifies
  // bundles that way; the default follows it so other verifiers accept what we write.
  const content = options.bundleContent ?? 'dsse';
  if (content === 'message-signature' && key.privateKey.asymmetricKeyType === 'ed25519') {
    throw new SigningError(
      'SIGN_UNSUPPORTED',
      'message-signature bundles over a digest need a prehashing key (ECDSA or RSA), not Ed25519; use the dsse bundle content',
    );
  }
  if (content === 'message-signature' && parseDigest(digest).algorithm !== 'sha256') {
    throw new SigningError('SIGN_UNSUPPORTED', 'message-signature bundles need a sha256 image digest');
  }
  const operation = options.signal ? { signal: options.signal } : {};
  const image = await client.repository(ref.registry, ref.repository).fetchManifest(digest, operation);
  const sign = (bytes: Uint8Array): Buffer => signBytes(key, bytes);
  const built =
    content === 'dsse'
      ? dsseSignatureBundle(key, digest, sign)
      : messageSignatureBundle(key, image.bytes, sign);
  return pushBundleReferrer(client, pusher, ref, { ...image.descriptor, digest }, built, options);
}

/**
 * Push a built bundle as an OCI 1.1 referrer of `subject` (the image), and list it in the referrers
 * tag-schema index when the registry has no referrers API. Shared by sign and attest.
 */
export async function pushBundleReferrer(
  client: RegistryClient,
  pusher: RegistryPusher,
  ref: ImageReference,
  subjectDescriptor: Descriptor,
  built: { readonly bytes: Uint8Array; readonly annotations: Readonly<Record<string, string>> },
  options: SignOptions,
): Promise<SignResult> {
  const digest = subjectDescriptor.digest;
  const operation = options.signal ? { signal: options.signal } : {};
  const where = signatureTarget(ref, options);
  const repo = pusher.repository(where.registry, where.repository);
  const empty = await repo.pushBlob(EMPTY_JSON, OCI_EMPTY, operation);
  const layer = await repo.pushBlob(built.bytes, SIGSTORE_BUNDLE_V03, operation);
  const annotations = {
    ...built.annotations,
    [CREATED_ANNOTATION]: (options.now?.() ?? new Date()).toISOString().replace(/\.\d{3}Z$/, 'Z'),
  };
  const subject: Descriptor = {
    mediaType: subjectDescriptor.mediaType,
    digest,
    size: subjectDescriptor.size,
  };
  const manifest = Buffer.from(
    JSON.stringify({
      schemaVersion: 2,
      mediaType: OCI_MANIFEST,
      artifactType: SIGSTORE_BUNDLE_V03,
      config: { mediaType: empty.mediaType, digest: empty.digest, size: empty.size },
      layers: [{ mediaType: layer.mediaType, digest: layer.digest, size: layer.size }],
      subject,
      annotations,
    }),
    'utf8',
  );
  const pushed = await repo.pushManifest(manifest, OCI_MANIFEST, undefined, operation);
  const result: SignResult = {
    format: 'bundle',
    imageDigest: digest,
    written: `${repo.location}@${pushed.digest}`,
    manifestDigest: pushed.digest,
  };
  if (await repo.supportsReferrers(digest, operation)) return result;

  // Referrers tag schema (distribution-spec): the index tagged `sha256-<hex>` lists the referrers.
  const indexTag = referrersTag(digest);
  const entry = {
    mediaType: OCI_MANIFEST,
    digest: pushed.digest,
    size: pushed.size,
    artifactType: SIGSTORE_BUNDLE_V03,
    annotations,
  };
  const listed = await existingReferrers(client, where, indexTag, operation);
  if (!listed.some((d) => (d as { digest?: unknown }).digest === pushed.digest)) listed.push(entry);
  if (listed.length > client.limits.referrers) {
    throw new SigningError(
      'SIGN_CONFLICT',
      `${repo.location}:${indexTag} would list more than ${client.limits.referrers} referrers`,
    );
  }
  const index = Buffer.from(
    JSON.stringify({ schemaVersion: 2, mediaType: OCI_INDEX, manifests: listed }),
    'utf8',
  );
  await repo.pushManifest(index, OCI_INDEX, indexTag, operation);
  return { ...result, referrersIndex: `${repo.location}:${indexTag}` };
}

/** The entries of an existing referrers tag-schema index, raw (kept as they are); none when absent. */
async function existingReferrers(
  client: RegistryClient,
  where: SignatureRepository,
  tag: string,
  operation: OperationOptions,
): Promise<unknown[]> {
  const source = client.repository(where.registry, where.repository);
  const found = await source.resolveTag(tag, operation);
  if (found === undefined) return [];
  let manifest;
  try {
    manifest = await source.fetchManifest(found.digest, operation);
  } catch (error) {
    if (error instanceof RegistryError && error.code === 'TOO_MANY') {
      throw new SigningError('SIGN_CONFLICT', `${source.location}:${tag} lists too many referrers to extend`);
    }
    throw error;
  }
  if (manifest.parsed.kind !== 'index') {
    throw new SigningError(
      'SIGN_CONFLICT',
      `${source.location}:${tag} is not an image index; refusing to overwrite it as the referrers index`,
    );
  }
  const manifests = (manifest.json as { manifests?: unknown }).manifests;
  return Array.isArray(manifests) ? [...(manifests as unknown[])] : [];
}
