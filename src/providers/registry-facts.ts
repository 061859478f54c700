/**
 * Facts a registry (or an OCI layout) tells: the digest a tag points at, computed from the manifest bytes.
 * A registry failure never becomes a pass: the digest fact is unavailable with the registry's own message,
 * so every rule that needs it fails with that reason.
 */
import type { Fact } from '../engine/facts.ts';
import { known, unavailable } from '../engine/facts.ts';
import type { ContentSource, Descriptor } from '../registry/content.ts';
import type { ImageReference } from '../reference/types.ts';

export interface ResolvedDigest {
  readonly fact: Fact<string>;
  readonly descriptor?: Descriptor;
  /** Set when resolution failed, for people. */
  readonly problem?: string;
}

export async function resolveDigest(
  source: Pick<ContentSource, 'resolve'>,
  ref: ImageReference,
  signal: AbortSignal,
): Promise<ResolvedDigest> {
  try {
    const descriptor = await source.resolve(ref, { signal });
    if (ref.digest && descriptor.digest !== ref.digest) {
      // Defence in depth: a source must never hand back another digest than the one written.
      const problem = `${ref.original}: the registry returned ${descriptor.digest} for digest ${ref.digest}`;
      return { fact: unavailable(problem), problem };
    }
    return { fact: known(descriptor.digest), descriptor };
  } catch (error) {
    const message = error instanceof Error ? error.message : String(error);
    const problem = `could not resolve ${ref.original}: ${message}`;
    return { fact: unavailable(problem), problem };
  }
}
