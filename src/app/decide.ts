/**
 * Wiring: facts from the providers, then the pure engine. The one place that knows which providers run
 * for a decision; the CLI (and later the webhook) call this and never assemble facts themselves.
 */
import type { Decision } from '../engine/decision.ts';
import type { ImageFacts } from '../engine/facts.ts';
import type { PolicySet } from '../policy/model.ts';
import type { RegistryClient } from '../registry/client.ts';
import { evaluate } from '../engine/evaluate.ts';
import { referenceFacts } from '../providers/reference-facts.ts';
import { resolveDigest } from '../providers/registry-facts.ts';
import { isLayoutReference, layoutImageReference, parseLayoutReference } from '../registry/layout-reference.ts';
import { openOciLayout } from '../registry/layout.ts';

export interface DecideOptions {
  /** No network: digests come only from references written with one. */
  readonly offline: boolean;
  /** Required unless offline. */
  readonly registry?: RegistryClient;
  /** The whole decision's deadline, registry round trips included. */
  readonly timeoutMs: number;
}

export interface DecideRequest {
  /**
   * For `oci:DIR[:TAG]` images: the registry name the policies should judge the image as
   * (an OCI layout has no registry name of its own).
   */
  readonly as?: string;
}

export interface ImageDecider {
  decide(image: string, request?: DecideRequest): Promise<Decision>;
}

export function createDecider(policySet: PolicySet, options: DecideOptions): ImageDecider {
  return {
    async decide(image, request = {}) {
      return evaluate(policySet, await gatherFacts(image, request, options));
    },
  };
}

async function gatherFacts(image: string, request: DecideRequest, options: DecideOptions): Promise<ImageFacts> {
  if (isLayoutReference(image)) return layoutFacts(image, request, options);
  if (options.offline || !options.registry) {
    const why = options.offline
      ? 'the reference has no digest and --offline prevents resolving the tag'
      : 'the reference has no digest and no registry client is configured';
    return referenceFacts(image, why);
  }
  const facts = referenceFacts(image, 'not resolved');
  if (!facts.reference) return facts;
  const resolved = await resolveDigest(options.registry, facts.reference, AbortSignal.timeout(options.timeoutMs));
  return { ...facts, digest: resolved.fact, ...(resolved.problem ? { notes: [resolved.problem] } : {}) };
}

/** An image in an OCI layout, judged under the registry name it will be pushed as. */
async function layoutFacts(image: string, request: DecideRequest, options: DecideOptions): Promise<ImageFacts> {
  let layout;
  try {
    layout = parseLayoutReference(image);
  } catch (error) {
    return { image, referenceError: (error as Error).message };
  }
  if (!request.as) {
    return {
      image,
      referenceError: `${image}: an OCI layout has no registry name for policies to match; name it with --as REGISTRY/REPOSITORY[:TAG]`,
    };
  }
  const named = referenceFacts(request.as, 'not resolved');
  if (!named.reference) return { ...named, image };
  if (named.reference.digest) {
    return { image, referenceError: `--as ${request.as}: give a name without a digest; the layout supplies the digest` };
  }
  const source = openOciLayout(layout.absoluteDir);
  const resolved = await resolveDigest(source, layoutImageReference(layout), AbortSignal.timeout(options.timeoutMs));
  return {
    image,
    reference: named.reference,
    digest: resolved.fact,
    ...(resolved.problem ? { notes: [resolved.problem] } : {}),
  };
}
