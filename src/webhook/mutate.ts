/**
 * Pinning: a JSON Patch (RFC 6902) that rewrites each allowed tag reference to
 * `registry/repository:tag@sha256:...`, with the digest verified in THIS request.
 *
 * Two steps, both within the request's deadline: the tag is resolved once (the first decision), then
 * the pinned reference `name:tag@digest` is judged, by digest, as the validating webhook will see it
 * after the patch (so a `requireDigest` rule is judged on what will be stored). An image allowed as
 * written keeps that decision for its pinned form (adding the verified digest fails no rule); the
 * others are decided again (src/webhook/admission.ts). The patch carries the digest only if the pinned
 * decision allows it and names that same digest. The tag is never resolved again: resolving it a
 * second time is the Kyverno CVE-2022-47633 time-of-check/time-of-use hole.
 */
import type { PodImage } from '../kubernetes/pod-spec.ts';
import { canonical, parseReference, withDigest } from '../reference/index.ts';
import type { ImageResult } from './engine.ts';

export interface PatchOperation {
  readonly op: 'replace';
  readonly path: string;
  readonly value: string;
}

/** A tag reference and the pinned spelling its resolved digest gives it. */
export interface PinTarget {
  readonly pinned: string;
  readonly digest: string;
}

/**
 * The pinned spelling of `image` from its first decision, or undefined when it is not to be pinned:
 * no decision, no resolved digest, a digest already written, or a decision about another reference.
 */
export function pinTarget(image: string, result: ImageResult | undefined): PinTarget | undefined {
  if (!result || 'error' in result) return undefined;
  const { decision } = result;
  if (decision.digest === undefined) return undefined;
  let ref;
  try {
    ref = parseReference(image);
  } catch {
    return undefined;
  }
  if (ref.digest !== undefined) return undefined;
  // The decision must be about this very reference; anything else is a bug we refuse to act on.
  if (decision.reference !== canonical(ref)) return undefined;
  // `nginx` was pulled, and judged, as `nginx:latest`: the pin says so, so the pinned reference is
  // judged on the same tag.
  const pinned = canonical(withDigest({ ...ref, tag: ref.tag ?? 'latest' }, decision.digest));
  return { pinned, digest: decision.digest };
}

/** Whether the decision of the pinned reference allows pinning to `target.digest`. */
export function pinAllowed(target: PinTarget, pinnedResult: ImageResult | undefined): boolean {
  if (!pinnedResult || 'error' in pinnedResult) return false;
  const d = pinnedResult.decision;
  return d.allowed && d.digest === target.digest;
}

/** One `replace` per image whose pinned reference was decided and allowed. */
export function buildPinPatch(
  images: readonly PodImage[],
  targets: ReadonlyMap<string, PinTarget>,
  pinnedResults: ReadonlyMap<string, ImageResult>,
): PatchOperation[] {
  const patch: PatchOperation[] = [];
  for (const at of images) {
    const target = targets.get(at.image);
    if (target && pinAllowed(target, pinnedResults.get(target.pinned))) {
      patch.push({ op: 'replace', path: at.pointer, value: target.pinned });
    }
  }
  return patch;
}
