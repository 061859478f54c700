/**
 * `portcullis attest`: key-signed in-toto attestations for an image, as cosign `attest --key` writes
 * them.
 *
 * The statement is in-toto Statement v1 with one subject (name = the repository as cosign names it,
 * digest = the image digest), the predicate type and the predicate, in a DSSE envelope signed over PAE
 * (payloadType `application/vnd.in-toto+json`).
 *
 * legacy (default): the envelope JSON is a layer (`application/vnd.dsse.envelope.v1+json`, empty
 *   signature annotation, `predicateType` hint) appended to the `<prefix>sha256-<hex>.att` manifest.
 * bundle: a Sigstore bundle v0.3 holding the envelope, pushed as an OCI 1.1 referrer of the image.
 *
 * No transparency log: verify with key authorities whose tlog is not required (the default for keys).
 */
import { parseDigest } from '../oci/digest.ts';
import { DSSE_ENVELOPE, SIGSTORE_BUNDLE_V03 } from '../oci/media-types.ts';
import type { RegistryClient } from '../registry/client.ts';
import type { RegistryPusher } from '../registry/push.ts';
import type { ImageReference } from '../reference/types.ts';
import { IN_TOTO_PAYLOAD_TYPE, IN_TOTO_STATEMENT_V1, preAuthEncoding } from './bundle.ts';
import type { SigningKey } from './keys.ts';
import { cosignDockerReference } from './payload.ts';
import { appendAttachment } from './attachment.ts';
import {
  ANNOTATION_SIGNATURE,
  pushBundleReferrer,
  signBytes,
  SigningError,
  type SignOptions,
  type SignResult,
} from './sign.ts';

/** The (unauthenticated) hint cosign puts on `.att` layers. */
export const ANNOTATION_PREDICATE_TYPE = 'predicateType';

export interface AttestOptions extends SignOptions {
  /** Full predicate type URI. */
  readonly predicateType: string;
  /** The predicate (JSON). */
  readonly predicate: unknown;
}

/** The in-toto Statement v1 bytes for `digest` of `ref`'s repository. */
export function attestationStatement(
  ref: Pick<ImageReference, 'registry' | 'repository'>,
  digest: string,
  predicateType: string,
  predicate: unknown,
): Buffer {
  const { algorithm, encoded } = parseDigest(digest);
  return Buffer.from(
    JSON.stringify({
      _type: IN_TOTO_STATEMENT_V1,
      subject: [{ name: cosignDockerReference(ref), digest: { [algorithm]: encoded } }],
      predicateType,
      predicate,
    }),
    'utf8',
  );
}

export interface DsseEnvelope {
  readonly payloadType: string;
  /** base64 */
  readonly payload: string;
  readonly signatures: readonly { readonly keyid: string; readonly sig: string }[];
}

/** A DSSE envelope over `payload`, signed over PAE(payloadType, payload). */
export function signEnvelope(
  key: SigningKey,
  payload: Uint8Array,
  payloadType = IN_TOTO_PAYLOAD_TYPE,
): DsseEnvelope {
  return {
    payloadType,
    payload: Buffer.from(payload).toString('base64'),
    signatures: [
      { keyid: '', sig: signBytes(key, preAuthEncoding(payloadType, payload)).toString('base64') },
    ],
  };
}

/** The bundle v0.3 bytes holding `envelope`, naming the key only by its (untrusted) hint. */
export function attestationBundle(key: SigningKey, envelope: DsseEnvelope): Buffer {
  return Buffer.from(
    JSON.stringify({
      mediaType: SIGSTORE_BUNDLE_V03,
      verificationMaterial: {
        publicKey: { hint: key.hint },
        tlogEntries: [],
        timestampVerificationData: { rfc3161Timestamps: [] },
      },
      dsseEnvelope: {
        payload: envelope.payload,
        payloadType: envelope.payloadType,
        signatures: envelope.signatures.map((s) => ({ sig: s.sig, keyid: s.keyid })),
      },
    }),
    'utf8',
  );
}

/** Attest the image `ref` names by digest (resolve the tag once, before). */
export async function attestImage(
  client: RegistryClient,
  pusher: RegistryPusher,
  key: SigningKey,
  ref: ImageReference,
  options: AttestOptions,
): Promise<SignResult> {
  const digest = ref.digest;
  if (digest === undefined)
    throw new SigningError(
      'SIGN_INPUT',
      `${ref.original}: attest needs the image digest (resolve the tag first)`,
    );
  const statement = attestationStatement(ref, digest, options.predicateType, options.predicate);
  const envelope = signEnvelope(key, statement);
  if ((options.format ?? 'legacy') === 'bundle') {
    const operation = options.signal ? { signal: options.signal } : {};
    const image = await client.repository(ref.registry, ref.repository).fetchManifest(digest, operation);
    return pushBundleReferrer(
      client,
      pusher,
      ref,
      { ...image.descriptor, digest },
      {
        bytes: attestationBundle(key, envelope),
        annotations: {
          'dev.sigstore.bundle.content': 'dsse-envelope',
          'dev.sigstore.bundle.predicateType': options.predicateType,
        },
      },
      options,
    );
  }
  return pushLegacyAttestation(
    client,
    pusher,
    ref,
    digest,
    Buffer.from(JSON.stringify(envelope), 'utf8'),
    { [ANNOTATION_SIGNATURE]: '', [ANNOTATION_PREDICATE_TYPE]: options.predicateType },
    options,
  );
}

/**
 * Append one layer (an envelope, with its annotations) to the `.att` manifest of `digest`, keeping the
 * layers already there byte for byte. Exported for tests that write hand-made envelopes.
 */
export function pushLegacyAttestation(
  client: RegistryClient,
  pusher: RegistryPusher,
  ref: ImageReference,
  digest: string,
  envelope: Uint8Array,
  annotations: Readonly<Record<string, string>>,
  options: SignOptions = {},
): Promise<SignResult> {
  return appendAttachment(client, pusher, ref, digest, 'att', DSSE_ENVELOPE, envelope, annotations, options);
}
