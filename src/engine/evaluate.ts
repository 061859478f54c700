/**
 * The engine: a pure function from (policy set, facts about one image) to a decision.
 * No I/O happens here; anything the rules need must already be in the facts.
 *
 * Combining semantics (docs/policy-language.md):
 * - a policy applies when one of its `images` patterns matches, none of its `exclude` patterns does, and
 *   its `match` (if any) selects the Kubernetes context (unknown context: it applies);
 * - every applicable policy must pass; within a policy every rule must pass;
 * - a policy that applies but has no rules fails: no verdict is never a pass;
 * - a failing policy denies in `enforce`, warns in `warn`, and is only recorded in `audit`;
 * - when no policy applies, the set's `noMatch` setting decides (default deny);
 * - an image string that is not a valid reference is denied whatever the modes, since no policy can be
 *   matched against it and nothing could pull it safely.
 */
import type { ImageFacts } from './facts.ts';
import type { Decision, Outcome, PolicyResult, RuleResult } from './decision.ts';
import type { RuleOutcome } from './outcome.ts';
import type { Mode, NoMatchAction, Policy, PolicySet, Rule } from '../policy/model.ts';
import { canonical } from '../reference/index.ts';
import { policyApplies } from '../policy/match.ts';
import { evaluateRule as defaultEvaluateRule } from '../rules/index.ts';

export { policyApplies };

export type RuleEvaluator = (rule: Rule, facts: ImageFacts) => RuleOutcome;

const MODE_STRICTNESS: Record<Mode, number> = { audit: 0, warn: 1, enforce: 2 };
const NO_MATCH_MODE: Record<NoMatchAction, Mode> = { deny: 'enforce', warn: 'warn', allow: 'audit' };

export function evaluate(
  policySet: PolicySet,
  facts: ImageFacts,
  evaluateRule: RuleEvaluator = defaultEvaluateRule,
): Decision {
  const digest = facts.digest?.available ? facts.digest.value : facts.reference?.digest;
  const ref = facts.reference;
  if (!ref) {
    const reason = facts.referenceError ?? `invalid image reference ${JSON.stringify(facts.image)}`;
    return {
      image: facts.image,
      allowed: false,
      outcome: 'deny',
      mode: 'enforce',
      policies: [],
      reasons: [reason],
      warnings: [],
    };
  }
  const reference = canonical(ref);
  const base = { image: facts.image, reference, ...(digest ? { digest } : {}) };
  const notes = facts.notes ?? [];

  const applicable = policySet.policies.filter((p) => policyApplies(p, ref, facts.context));
  if (applicable.length === 0) {
    const action = policySet.noMatch;
    const message = `no policy applies to ${reference} (noMatch: ${action})`;
    return {
      ...base,
      allowed: action !== 'deny',
      outcome: action === 'deny' ? 'deny' : action === 'warn' || notes.length > 0 ? 'warn' : 'allow',
      mode: NO_MATCH_MODE[action],
      policies: [],
      reasons: action === 'deny' ? [message] : [],
      warnings: [...(action === 'warn' ? [message] : []), ...notes],
      noMatch: action,
    };
  }

  const policies = applicable.map((p) => evaluatePolicy(p, facts, evaluateRule));
  const reasons: string[] = [];
  const warnings: string[] = [];
  for (const result of policies) {
    if (result.verdict === 'pass') continue;
    const lines = failureLines(result);
    if (result.mode === 'enforce') reasons.push(...lines);
    else if (result.mode === 'warn') warnings.push(...lines);
  }
  const mode = policies.reduce<Mode>(
    (m, p) => (MODE_STRICTNESS[p.mode] > MODE_STRICTNESS[m] ? p.mode : m),
    'audit',
  );
  warnings.push(...notes);
  const outcome: Outcome = reasons.length > 0 ? 'deny' : warnings.length > 0 ? 'warn' : 'allow';
  return { ...base, allowed: outcome !== 'deny', outcome, mode, policies, reasons, warnings };
}

function evaluatePolicy(policy: Policy, facts: ImageFacts, evaluateRule: RuleEvaluator): PolicyResult {
  const common = { name: policy.name, mode: policy.mode, version: policy.version, source: policy.source };
  if (policy.rules.length === 0) {
    return {
      ...common,
      verdict: 'fail',
      rules: [],
      reason: 'it has no rules, and a matching policy must produce a verdict',
    };
  }
  const rules: RuleResult[] = policy.rules.map((rule) => {
    const outcome = safely(evaluateRule, rule, facts);
    return {
      name: rule.name,
      kind: rule.kind,
      verdict: outcome.verdict,
      reason: outcome.reason,
      source: rule.source,
      ...(outcome.evidence ? { evidence: outcome.evidence } : {}),
    };
  });
  return { ...common, verdict: rules.every((r) => r.verdict === 'pass') ? 'pass' : 'fail', rules };
}

/** A rule that throws is a bug, and a bug must deny, not crash the decision or pass. */
function safely(evaluateRule: RuleEvaluator, rule: Rule, facts: ImageFacts): RuleOutcome {
  try {
    const outcome = evaluateRule(rule, facts);
    if (outcome.verdict === 'pass' || outcome.verdict === 'fail') return outcome;
    return { verdict: 'fail', reason: `internal error: rule ${rule.name} returned no verdict` };
  } catch (error) {
    const message = error instanceof Error ? error.message : String(error);
    return { verdict: 'fail', reason: `internal error evaluating rule ${rule.name}: ${message}` };
  }
}

function failureLines(result: PolicyResult): string[] {
  if (result.reason) return [`policy ${result.name}: ${result.reason}`];
  return result.rules
    .filter((r) => r.verdict === 'fail')
    .map((r) => `policy ${result.name}, rule ${r.name}: ${r.reason}`);
}
