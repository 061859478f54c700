/**
 * The engine's output for one image. This is the shape behind `--output json` (docs/output.md):
 * field names here are a public contract.
 */
import type { Mode, NoMatchAction, SourcePosition } from '../policy/model.ts';
import type { RuleKind } from '../policy/model.ts';
import type { RuleEvidence } from './outcome.ts';

export interface RuleResult {
  readonly name: string;
  readonly kind: RuleKind;
  readonly verdict: 'pass' | 'fail';
  readonly reason: string;
  readonly source: SourcePosition;
  /** Machine-readable detail behind the reason, for the kinds that have it (signatures). */
  readonly evidence?: RuleEvidence;
}

export interface PolicyResult {
  readonly name: string;
  readonly mode: Mode;
  readonly version: string;
  readonly source: SourcePosition;
  readonly verdict: 'pass' | 'fail';
  /** Rules in policy order; every rule is evaluated even after a failure, so one run shows all problems. */
  readonly rules: readonly RuleResult[];
  /** Set when the policy failed for a reason that is not one rule's (e.g. it has no rules). */
  readonly reason?: string;
}

/**
 * `allow`: every matching policy passed (or only audit-mode ones failed).
 * `warn`: allowed, but a warn-mode policy failed or no policy matched under `noMatch: warn`.
 * `deny`: an enforce-mode policy failed, no policy matched under `noMatch: deny`, or the input was unusable.
 */
export type Outcome = 'allow' | 'warn' | 'deny';

export interface Decision {
  readonly image: string;
  /** Canonical normalized reference, e.g. `docker.io/library/nginx:latest`; absent when it did not parse. */
  readonly reference?: string;
  readonly digest?: string;
  readonly allowed: boolean;
  readonly outcome: Outcome;
  /**
   * The strictest mode among the policies that matched; for an image no policy matched, the mode
   * implied by the `noMatch` setting (deny: enforce, warn: warn, allow: audit).
   */
  readonly mode: Mode;
  readonly policies: readonly PolicyResult[];
  /** One line each, for people: why it is denied (empty when allowed). */
  readonly reasons: readonly string[];
  readonly warnings: readonly string[];
  /** Present when no policy matched: the setting that decided. */
  readonly noMatch?: NoMatchAction;
}
