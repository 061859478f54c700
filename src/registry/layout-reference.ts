/**
 * `oci:DIR[:TAG|@DIGEST]` references to OCI image layouts on disk.
 *
 * A path may itself contain `:` or `@`, so the split is made from the right and only on a suffix that is
 * valid where it stands:
 * - `@algorithm:hex` at the end, with a digest we can verify (sha256/sha512), is the digest;
 * - otherwise, text after the last `:` is the tag when it matches the Docker tag grammar
 *   (`[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}`, so never containing `/`);
 * - otherwise the whole remainder is the directory.
 * Consequence: a directory whose last path component contains `:` followed by tag-like text (`oci:/x/a:b`)
 * reads as directory `/x/a` with tag `b`. Name such a directory with an explicit tag (`oci:/x/a:b:latest`),
 * or with a trailing slash (`oci:/x/a:b/`), which no tag can contain.
 * With neither a tag nor a digest, the layout must hold exactly one manifest (skopeo's rule).
 */
import { resolve as resolvePath } from 'node:path';
import { isVerifiableDigest } from '../oci/digest.ts';
import type { ImageReference } from '../reference/types.ts';
import { TAG_PATTERN } from './cosign.ts';

export const LAYOUT_SCHEME = 'oci:';

const MAX_REFERENCE_LENGTH = 4096;

export interface LayoutReference {
  /** Exactly what was written. */
  readonly original: string;
  /** The directory as written (relative paths are kept; see `absoluteDir`). */
  readonly dir: string;
  /** `dir` resolved against the working directory. */
  readonly absoluteDir: string;
  readonly tag?: string;
  readonly digest?: string;
}

export class LayoutReferenceError extends Error {
  readonly code = 'BAD_REFERENCE';
  readonly input: string;
  constructor(input: string, detail: string) {
    super(`invalid OCI layout reference ${JSON.stringify(input.slice(0, 200))}: ${detail}`);
    this.name = 'LayoutReferenceError';
    this.input = input;
  }
}

export function isLayoutReference(input: string): boolean {
  return input.startsWith(LAYOUT_SCHEME);
}

export function parseLayoutReference(input: string): LayoutReference {
  if (!input.startsWith(LAYOUT_SCHEME))
    throw new LayoutReferenceError(input, `must start with "${LAYOUT_SCHEME}"`);
  if (input.length > MAX_REFERENCE_LENGTH) {
    throw new LayoutReferenceError(input, `longer than ${MAX_REFERENCE_LENGTH} characters`);
  }
  // eslint-disable-next-line no-control-regex
  if (/[\u0000-\u001f\u007f]/.test(input))
    throw new LayoutReferenceError(input, 'contains control characters');
  const rest = input.slice(LAYOUT_SCHEME.length);
  let dir = rest;
  let tag: string | undefined;
  let digest: string | undefined;

  const at = rest.lastIndexOf('@');
  if (at >= 0 && isVerifiableDigest(rest.slice(at + 1))) {
    digest = rest.slice(at + 1);
    dir = rest.slice(0, at);
  } else if (at >= 0 && /^[a-z0-9]+:/.test(rest.slice(at + 1)) && !rest.slice(at + 1).includes('/')) {
    // Looks like a digest but is not one we can verify: refuse rather than treat it as part of a path.
    throw new LayoutReferenceError(
      input,
      `${JSON.stringify(rest.slice(at + 1))} is not a sha256/sha512 digest`,
    );
  } else {
    const colon = rest.lastIndexOf(':');
    if (colon >= 0 && TAG_PATTERN.test(rest.slice(colon + 1))) {
      tag = rest.slice(colon + 1);
      dir = rest.slice(0, colon);
    }
  }
  if (dir === '') throw new LayoutReferenceError(input, 'the layout directory is empty');
  return {
    original: input,
    dir,
    absoluteDir: resolvePath(dir),
    ...(tag !== undefined ? { tag } : {}),
    ...(digest !== undefined ? { digest } : {}),
  };
}

/**
 * The `ImageReference` handed to a layout source's `resolve()`: only `tag` and `digest` are read there;
 * `registry` is `oci` and `repository` the absolute directory, so messages and logs say where it came from.
 */
export function layoutImageReference(ref: LayoutReference): ImageReference {
  return {
    original: ref.original,
    registry: 'oci',
    repository: ref.absoluteDir,
    ...(ref.tag !== undefined ? { tag: ref.tag } : {}),
    ...(ref.digest !== undefined ? { digest: ref.digest } : {}),
  };
}

export function formatLayoutReference(ref: { absoluteDir: string; tag?: string; digest?: string }): string {
  if (ref.digest !== undefined) return `${LAYOUT_SCHEME}${ref.absoluteDir}@${ref.digest}`;
  if (ref.tag !== undefined) return `${LAYOUT_SCHEME}${ref.absoluteDir}:${ref.tag}`;
  return `${LAYOUT_SCHEME}${ref.absoluteDir}`;
}
