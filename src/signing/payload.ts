/**
 * The bytes cosign signs and stores for an image signature, reproduced exactly: verifiers hash and
 * verify these bytes as they are, so key order and formatting are part of the format.
 *
 * - simple-signing payload: Go `json.Marshal` of cosign's `payload.SimpleContainerImage`, compact, no
 *   trailing newline, `docker-reference` = the repository without tag (`ref.Context().Name()`), and
 *   `"optional":null` (cosign writes no annotations unless `-a` is given; we never do).
 * - the `.sig` manifest's config blob: go-containerregistry's ConfigFile for `empty.Signatures()` with
 *   one rootfs diff_id and one empty history entry per layer (byte-identical to cosign's, e.g. the
 *   233-byte config of the public-good dangerzone signature).
 */
import type { ImageReference } from '../reference/types.ts';
import { DOCKER_HUB } from '../registry/hosts.ts';
import { parseDigest } from '../oci/digest.ts';

export const SIMPLE_SIGNING_TYPE = 'cosign container image signature';

/** go-containerregistry names Docker Hub `index.docker.io`; cosign's payloads say so. */
export function cosignDockerReference(ref: Pick<ImageReference, 'registry' | 'repository'>): string {
  return `${ref.registry === DOCKER_HUB ? 'index.docker.io' : ref.registry}/${ref.repository}`;
}

/** The simple-signing payload for `digest`, as cosign `sign` writes it. */
export function simpleSigningPayload(dockerReference: string, digest: string): Uint8Array {
  parseDigest(digest);
  const json = JSON.stringify({
    critical: {
      identity: { 'docker-reference': dockerReference },
      image: { 'docker-manifest-digest': digest },
      type: SIMPLE_SIGNING_TYPE,
    },
    optional: null,
  });
  return Buffer.from(goHtmlEscape(json), 'utf8');
}

/** Go's encoding/json escapes <, >, & and U+2028/2029 inside strings; JSON.stringify does not. */
function goHtmlEscape(json: string): string {
  return json.replace(/[<>&\u2028\u2029]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);
}

/** The config blob of a cosign signature manifest holding these layers (in order). */
export function cosignSignatureConfig(layerDigests: readonly string[]): Uint8Array {
  const created = '0001-01-01T00:00:00Z';
  const json = JSON.stringify({
    architecture: '',
    created,
    history: layerDigests.map(() => ({ created })),
    os: '',
    rootfs: { type: 'layers', diff_ids: layerDigests },
    config: {},
  });
  return Buffer.from(json, 'utf8');
}
