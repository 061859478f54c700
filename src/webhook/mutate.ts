/**
 * Pinning: a JSON Patch (RFC 6902) that rewrites each allowed tag reference to
 * `registry/repository:tag@sha256:...`, with the digest the decision of THIS request verified.
 *
 * The digest is never looked up again here: resolving the tag a second time is the Kyverno
 * CVE-2022-47633 time-of-check/time-of-use hole (verify one digest, pin another).
 */
import type { PodImage } from '../kubernetes/pod-spec.ts';
import { canonical, parseReference, withDigest } from '../reference/index.ts';
import type { ImageResult } from './engine.ts';

export interface PatchOperation {
  readonly op: 'replace';
  readonly path: string;
  readonly value: string;
}

/**
 * One `replace` per image that was allowed, has a verified digest, and is not already written with a
 * digest (a digest reference names its content already; a tag+digest one too).
 */
export function buildPinPatch(images: readonly PodImage[], results: ReadonlyMap<string, ImageResult>): PatchOperation[] {
  const patch: PatchOperation[] = [];
  for (const at of images) {
    const value = pinnedImage(at.image, results.get(at.image));
    if (value !== undefined) patch.push({ op: 'replace', path: at.pointer, value });
  }
  return patch;
}

/** The pinned spelling of `image`, or undefined when it must be left as written. */
export function pinnedImage(image: string, result: ImageResult | undefined): string | undefined {
  if (!result || 'error' in result) return undefined;
  const { decision } = result;
  if (!decision.allowed || decision.digest === undefined) return undefined;
  let ref;
  try {
    ref = parseReference(image);
  } catch {
    return undefined;
  }
  if (ref.digest !== undefined) return undefined;
  // The decision must be about this very reference; anything else is a bug we refuse to act on.
  if (decision.reference !== canonical(ref)) return undefined;
  // `nginx` was pulled, and judged, as `nginx:latest`: the pin says so, so a later check of the pinned
  // reference (the validating webhook) judges the same tag.
  return canonical(withDigest({ ...ref, tag: ref.tag ?? 'latest' }, decision.digest));
}
