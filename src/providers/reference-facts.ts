/**
 * The facts the reference alone tells: its parsed form and, when it is written with one, its digest.
 * Everything else (resolved digests, signatures) comes from the registry providers.
 */
import type { ImageFacts } from '../engine/facts.ts';
import { known, unavailable } from '../engine/facts.ts';
import { parseReference, ReferenceParseError } from '../reference/index.ts';

export function referenceFacts(image: string, whyNoDigest: string): ImageFacts {
  try {
    const reference = parseReference(image);
    return {
      image,
      reference,
      digest: reference.digest ? known(reference.digest) : unavailable(whyNoDigest),
    };
  } catch (error) {
    if (error instanceof ReferenceParseError) return { image, referenceError: error.message };
    throw error;
  }
}
