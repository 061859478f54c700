/**
 * Reading signature/attestation manifests (cosign `.sig`/`.att` tags, referrers) with their own bounds:
 * an attacker-controlled number of layers is refused before any layer is fetched
 * (GHSA-vfp6-jrw2-99g9, GHSA-95pr-fxf5-86gv).
 */
import type { ContentSource, OperationOptions } from './content.ts';
import { parseManifestJson, type ImageManifest } from '../oci/manifest.ts';
import { RegistryError } from './errors.ts';

export interface AttachmentOptions extends OperationOptions {
  /** Usually `client.limits.signatureLayers`. */
  readonly maxLayers: number;
}

/** Fetch an attachment manifest by digest (verified) and require an image manifest with few enough layers. */
export async function fetchAttachmentManifest(
  source: ContentSource,
  digest: string,
  options: AttachmentOptions,
): Promise<ImageManifest> {
  const manifest = await source.fetchManifest(digest, options);
  const parsed = parseManifestJson(manifest.json, manifest.descriptor.mediaType, { digest });
  if (parsed.kind !== 'image') {
    throw new RegistryError('BAD_MANIFEST', `attachment ${digest} is an index, expected an image manifest`, {
      registry: source.location,
    });
  }
  if (parsed.layers.length > options.maxLayers) {
    throw new RegistryError(
      'TOO_MANY',
      `attachment ${digest} has ${parsed.layers.length} layers, more than the limit of ${options.maxLayers}`,
      { registry: source.location },
    );
  }
  return parsed;
}
