/**
 * Tag names derived from digests: cosign's attachment tags and the OCI referrers tag schema.
 */
import { parseDigest } from '../oci/digest.ts';

export type CosignAttachment = 'sig' | 'att' | 'sbom';

/** Distribution tag grammar (at most 128 characters). */
export const TAG_PATTERN = /^[A-Za-z0-9_][A-Za-z0-9._-]{0,127}$/;

export class TagError extends Error {
  readonly code = 'BAD_TAG';
  constructor(message: string) {
    super(message);
    this.name = 'TagError';
  }
}

/**
 * cosign's legacy attachment tag for `digest`: `<prefix><alg>-<hex>.<suffix>`, e.g. `sha256-ab12….sig`.
 * `prefix` mirrors cosign's TagPrefix option; which repository holds the tag is the caller's choice.
 */
export function cosignAttachmentTag(digest: string, suffix: CosignAttachment, prefix = ''): string {
  const { algorithm, encoded } = parseDigest(digest);
  const tag = `${prefix}${algorithm}-${encoded}.${suffix}`;
  if (!TAG_PATTERN.test(tag))
    throw new TagError(
      `cosign ${suffix} tag for ${digest} with prefix ${JSON.stringify(prefix)} is not a valid tag`,
    );
  return tag;
}

/** OCI referrers tag schema fallback tag: `<alg>-<hex>`, the hex truncated to 64 characters. */
export function referrersTag(digest: string): string {
  const { algorithm, encoded } = parseDigest(digest);
  return `${algorithm}-${encoded.slice(0, 64)}`;
}
