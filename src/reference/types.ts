/**
 * An image reference after Docker-style normalization.
 *
 * `registry` is the canonical host (`docker.io` for Docker Hub and its aliases, lower-cased,
 * with `:port` when one was written). `repository` is the path (`library/nginx`).
 * `tag` is absent when none was written; `canonical()` adds `latest` only when there is no digest either,
 * because a digest alone identifies the content and a defaulted tag would be a fiction.
 */
export interface ImageReference {
  /** Exactly what the user wrote (trimmed of nothing). */
  readonly original: string;
  readonly registry: string;
  readonly repository: string;
  readonly tag?: string;
  /** `algorithm:hex`, e.g. `sha256:...`, validated for length. */
  readonly digest?: string;
}

/** Why a string is not an image reference, and where (0-based index into the input). */
export class ReferenceParseError extends Error {
  readonly code = 'REFERENCE_INVALID';
  readonly input: string;
  readonly position: number;
  readonly detail: string;
  constructor(input: string, position: number, detail: string) {
    super(`invalid image reference ${JSON.stringify(input)}: ${detail} at position ${position + 1}`);
    this.name = 'ReferenceParseError';
    this.input = input;
    this.position = position;
    this.detail = detail;
  }
}
