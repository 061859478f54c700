/**
 * Writing references back out. `canonical` is the one spelling used in decisions, logs and cache keys;
 * `familiar` is the short form people type and read; both re-parse to the same reference.
 */
import type { ImageReference } from './types.ts';
import { DOCKER_HUB, OFFICIAL_PREFIX, digestProblem, looksLikeHost } from './grammar.ts';
import { referenceError } from './parse.ts';

/** `registry/repository`, e.g. `docker.io/library/nginx`. */
export function repositoryName(ref: ImageReference): string {
  return `${ref.registry}/${ref.repository}`;
}

function suffix(ref: ImageReference): string {
  if (ref.tag === undefined && ref.digest === undefined) return ':latest';
  return (ref.tag === undefined ? '' : `:${ref.tag}`) + (ref.digest === undefined ? '' : `@${ref.digest}`);
}

/**
 * `registry/repository[:tag][@digest]`. `:latest` is added only when there is neither tag nor digest: that
 * is what the runtime pulls, whereas a digest alone names the content and an invented tag would be a fiction.
 */
export function canonical(ref: ImageReference): string {
  return repositoryName(ref) + suffix(ref);
}

/**
 * Docker's short name: `docker.io/` dropped, and `library/` too when what remains is one component
 * (`docker.io/library/nginx` is `nginx`, `docker.io/library/a/b` stays `library/a/b`). Other registries
 * are unchanged, and so is a Docker Hub name whose first component would read as a host.
 */
export function familiarName(ref: ImageReference): string {
  if (ref.registry !== DOCKER_HUB) return repositoryName(ref);
  const rest = ref.repository.startsWith(OFFICIAL_PREFIX)
    ? ref.repository.slice(OFFICIAL_PREFIX.length)
    : undefined;
  if (rest !== undefined && !rest.includes('/')) return rest;
  // `docker.io/a.b/c` cannot drop its host: `a.b/c` would name host a.b (Docker's FamiliarString does drop it).
  const slash = ref.repository.indexOf('/');
  return slash !== -1 && looksLikeHost(ref.repository.slice(0, slash)) ? repositoryName(ref) : ref.repository;
}

/** `nginx:latest`, `user/app:1`, `ghcr.io/acme/app@sha256:...`: the familiar name with canonical's suffix. */
export function familiar(ref: ImageReference): string {
  return familiarName(ref) + suffix(ref);
}

/** A reference already pins one digest and is asked to pin another: the image changed under us. */
export class DigestConflictError extends Error {
  readonly code = 'REFERENCE_DIGEST_CONFLICT';
  readonly reference: string;
  readonly pinned: string;
  readonly requested: string;
  constructor(reference: string, pinned: string, requested: string) {
    super(`${reference} is pinned to ${pinned}, refusing to re-pin it to ${requested}`);
    this.name = 'DigestConflictError';
    this.reference = reference;
    this.pinned = pinned;
    this.requested = requested;
  }
}

/**
 * The same reference pinned to `digest`, keeping the tag (`name:tag@sha256:...`), so a deployment still
 * says which tag it meant. `original` becomes the canonical form of the result: it is what would now be
 * written. Throws ReferenceParseError for an invalid digest (positioned in that canonical form) and
 * DigestConflictError when the reference already pins a different digest.
 */
export function withDigest(ref: ImageReference, digest: string): ImageReference {
  const base = repositoryName(ref) + (ref.tag === undefined ? '' : `:${ref.tag}`);
  const written = `${base}@${digest}`;
  const problem =
    digest.length === 0
      ? { position: base.length, detail: "'@' must be followed by a digest" }
      : digestProblem(written, base.length + 1, written.length);
  if (problem) throw referenceError(written, problem);
  if (ref.digest !== undefined && ref.digest !== digest)
    throw new DigestConflictError(canonical(ref), ref.digest, digest);
  return Object.freeze({
    original: written,
    registry: ref.registry,
    repository: ref.repository,
    ...(ref.tag === undefined ? {} : { tag: ref.tag }),
    digest,
  });
}
