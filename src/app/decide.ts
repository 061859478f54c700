/**
 * Wiring: facts from the providers, then the pure engine. The one place that knows which providers
 * run for a decision; the CLI (and later the webhook) call this and never assemble facts themselves.
 */
import type { Decision } from '../engine/decision.ts';
import type { PolicySet } from '../policy/model.ts';
import { evaluate } from '../engine/evaluate.ts';
import { referenceFacts } from '../providers/reference-facts.ts';

export interface DecideOptions {
  /** No network: digests come only from references written with one. */
  readonly offline: boolean;
}

export interface ImageDecider {
  decide(image: string): Promise<Decision>;
}

export function createDecider(policySet: PolicySet, options: DecideOptions): ImageDecider {
  const whyNoDigest = options.offline
    ? 'the reference has no digest and --offline prevents resolving the tag'
    : 'the reference has no digest and registry resolution is not available';
  return {
    async decide(image) {
      return evaluate(policySet, referenceFacts(image, whyNoDigest));
    },
  };
}
