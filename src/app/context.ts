/**
 * When the admission context matters to a decision, and how two contexts compare. The webhook's verdict
 * cache, `portcullis audit` and the controller's rounds all decide an image once per distinct context,
 * and only when some policy can tell contexts apart; one definition keeps them from disagreeing on what
 * "the same context" is.
 */
import type { AdmissionContext } from '../engine/facts.ts';
import type { PolicySet } from '../policy/model.ts';

// The webhook asks on every request: computed once per (immutable) policy set.
const contextSensitive = new WeakMap<PolicySet, boolean>();

/** Whether a policy of the set selects on the admission context (`spec.match`, or a namespaced policy). */
export function selectsOnContext(policySet: PolicySet): boolean {
  let known = contextSensitive.get(policySet);
  if (known === undefined) {
    known = policySet.policies.some((p) => p.match !== undefined || p.namespace !== undefined);
    contextSensitive.set(policySet, known);
  }
  return known;
}

/**
 * A string equal for two contexts exactly when no selector can tell them apart: label order does not
 * count, while unknown namespace labels (absent) and none at all (`{}`) stay different, since the first
 * fails closed (src/policy/match.ts).
 */
export function contextKey(context: AdmissionContext): string {
  return JSON.stringify([
    context.kind ?? '',
    context.namespace ?? '',
    sortedEntries(context.labels ?? {}),
    context.namespaceLabels ? sortedEntries(context.namespaceLabels) : null,
  ]);
}

function sortedEntries(labels: Readonly<Record<string, string>>): [string, string][] {
  return Object.entries(labels).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
}
