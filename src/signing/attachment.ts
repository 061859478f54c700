/**
 * cosign's attachment manifests (`sha256-<hex>.sig` and `.att`): one OCI image manifest whose layers are
 * the signatures (or attestations) of one digest. Writing one appends a layer and keeps the layers already
 * there byte for byte (cosign does the same), refuses to overwrite anything that is not such a manifest,
 * and stays within the layer count verifiers read.
 */
import { isDeepStrictEqual } from 'node:util';
import { computeDigest } from '../oci/digest.ts';
import { OCI_CONFIG, OCI_MANIFEST } from '../oci/media-types.ts';
import type { ImageReference } from '../reference/types.ts';
import { cosignAttachmentTag } from '../registry/cosign.ts';
import type { RegistryClient } from '../registry/client.ts';
import type { OperationOptions } from '../registry/content.ts';
import type { RegistryPusher } from '../registry/push.ts';
import { cosignSignatureConfig } from './payload.ts';
import { signatureTarget, SigningError, type SignOptions, type SignResult } from './sign.ts';

export interface AttachmentLayer {
  readonly mediaType: string;
  readonly size: number;
  readonly digest: string;
  readonly annotations: Readonly<Record<string, string>>;
}

export interface AttachmentTarget {
  readonly registry: string;
  readonly repository: string;
  /** `sha256-<hex>.sig` or `.att`, with any prefix. */
  readonly tag: string;
  /** What the layers are, for messages: `signature` or `attestation`. */
  readonly noun: string;
}

/**
 * Append `blob` as one layer (with `annotations`) to cosign's `.sig` or `.att` manifest of `imageDigest`,
 * in the repository and under the tag prefix the options name, and push it. Shared by sign and attest.
 */
export async function appendAttachment(
  client: RegistryClient,
  pusher: RegistryPusher,
  ref: ImageReference,
  imageDigest: string,
  kind: 'sig' | 'att',
  mediaType: string,
  blob: Uint8Array,
  annotations: Readonly<Record<string, string>>,
  options: SignOptions,
): Promise<SignResult> {
  const where = signatureTarget(ref, options);
  const target: AttachmentTarget = {
    ...where,
    tag: cosignAttachmentTag(imageDigest, kind, options.tagPrefix ?? ''),
    noun: kind === 'sig' ? 'signature' : 'attestation',
  };
  const layer = { mediaType, size: blob.length, digest: computeDigest(blob), annotations };
  const operation: OperationOptions = options.signal ? { signal: options.signal } : {};
  return appendAttachmentLayer(client, pusher, target, imageDigest, layer, blob, operation);
}

/** Append `layer` (whose bytes are `blob`) to the attachment manifest of `imageDigest` and push it. */
async function appendAttachmentLayer(
  client: RegistryClient,
  pusher: RegistryPusher,
  target: AttachmentTarget,
  imageDigest: string,
  layer: AttachmentLayer,
  blob: Uint8Array,
  operation: OperationOptions,
): Promise<SignResult> {
  const existing = await existingLayers(client, target, layer.mediaType, operation);
  const unchanged = existing.some((l) => isDeepStrictEqual(l, layer));
  const layers: unknown[] = unchanged ? [...existing] : [...existing, layer];
  const maxLayers = client.limits.signatureLayers;
  if (layers.length > maxLayers) {
    throw new SigningError(
      'SIGN_CONFLICT',
      `${target.registry}/${target.repository}:${target.tag} already holds ${existing.length} ${target.noun}s; more than ${maxLayers} would not be read by verifiers`,
    );
  }
  const repo = pusher.repository(target.registry, target.repository);
  const digests = layers.map((l) => (l as { digest: string }).digest);
  const config = await repo.pushBlob(cosignSignatureConfig(digests), OCI_CONFIG, operation);
  await repo.pushBlob(blob, layer.mediaType, operation);
  const manifest = JSON.stringify({
    schemaVersion: 2,
    mediaType: OCI_MANIFEST,
    config: { mediaType: config.mediaType, size: config.size, digest: config.digest },
    layers,
  });
  const pushed = await repo.pushManifest(Buffer.from(manifest, 'utf8'), OCI_MANIFEST, target.tag, operation);
  return {
    format: 'legacy',
    imageDigest,
    written: `${repo.location}:${target.tag}`,
    manifestDigest: pushed.digest,
    layers: layers.length,
    unchanged,
  };
}

/** The layers of an existing attachment manifest, as raw JSON objects (kept byte for byte); none when absent. */
async function existingLayers(
  client: RegistryClient,
  target: AttachmentTarget,
  layerMediaType: string,
  operation: OperationOptions,
): Promise<readonly Record<string, unknown>[]> {
  const source = client.repository(target.registry, target.repository);
  const found = await source.resolveTag(target.tag, operation);
  if (found === undefined) return [];
  const manifest = await source.fetchManifest(found.digest, operation);
  const what = `a cosign ${target.noun} manifest`;
  if (manifest.parsed.kind !== 'image') {
    throw new SigningError(
      'SIGN_CONFLICT',
      `${source.location}:${target.tag} is an index, not ${what}; refusing to overwrite it`,
    );
  }
  for (const l of manifest.parsed.layers) {
    if (l.mediaType !== layerMediaType) {
      throw new SigningError(
        'SIGN_CONFLICT',
        `${source.location}:${target.tag} holds a ${l.mediaType} layer, not ${what}; refusing to overwrite it`,
      );
    }
  }
  const layers = (manifest.json as { layers?: unknown }).layers;
  return Array.isArray(layers) ? (layers as Record<string, unknown>[]) : [];
}
