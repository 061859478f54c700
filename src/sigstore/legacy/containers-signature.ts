/**
 * containers/image (skopeo, podman) stores cosign-format signatures outside registries as
 * `"\x00sigstore-json\n" + {"mimeType", "payload" (base64), "annotations"}`; e.g. `signature-N` files
 * of `dir:` images. This reads one into the same LegacySignature a registry layer gives.
 */
import { SigstoreError } from '../errors.ts';
import type { LegacySignature } from './cosign-signature.ts';

const PREFIX = Buffer.from('\x00sigstore-json\n', 'latin1');
const MAX_BYTES = 1024 * 1024;

export function parseContainersSignature(bytes: Uint8Array): LegacySignature {
  const b = Buffer.from(bytes);
  if (b.length > MAX_BYTES)
    throw new SigstoreError('LIMIT_EXCEEDED', `signature file larger than ${MAX_BYTES} bytes`);
  if (!b.subarray(0, PREFIX.length).equals(PREFIX)) {
    throw new SigstoreError(
      'BUNDLE_INVALID',
      'not a containers/image sigstore signature (missing "\\0sigstore-json\\n" prefix)',
    );
  }
  let json: unknown;
  try {
    json = JSON.parse(b.subarray(PREFIX.length).toString('utf8'));
  } catch {
    throw new SigstoreError('BUNDLE_INVALID', 'containers/image sigstore signature is not JSON');
  }
  const j = json as { mimeType?: unknown; payload?: unknown; annotations?: unknown };
  if (
    typeof j?.mimeType !== 'string' ||
    typeof j.payload !== 'string' ||
    typeof j.annotations !== 'object' ||
    j.annotations === null
  ) {
    throw new SigstoreError(
      'BUNDLE_INVALID',
      'containers/image sigstore signature lacks mimeType, payload or annotations',
    );
  }
  const annotations: Record<string, string> = {};
  for (const [k, v] of Object.entries(j.annotations)) {
    if (typeof v !== 'string') throw new SigstoreError('BUNDLE_INVALID', `annotation ${k} is not a string`);
    annotations[k] = v;
  }
  return { payload: Buffer.from(j.payload, 'base64'), annotations, mediaType: j.mimeType };
}
