/**
 * The registry of rule kinds, shared by the loader (compile) and the engine (evaluate).
 * A new kind is one module plus one line here.
 */
import type { ImageFacts } from '../engine/facts.ts';
import type { RuleOutcome } from '../engine/outcome.ts';
import { fail } from '../engine/outcome.ts';
import type { Rule, RuleKind } from '../policy/model.ts';
import { attestations } from './attestations.ts';
import { attributes } from './attributes.ts';
import { baseImage } from './base-image.ts';
import { digests } from './digests.ts';
import { registries } from './registries.ts';
import { repositories } from './repositories.ts';
import { signatures } from './signatures.ts';
import { tags } from './tags.ts';
import type { RuleKindDefinition, RuleKindRegistry } from './types.ts';

export type {
  CompileContext,
  IssueDetail,
  PathSegment,
  RuleKindDefinition,
  RuleKindRegistry,
} from './types.ts';

export const ruleKinds: RuleKindRegistry = {
  registries,
  repositories,
  tags,
  digests,
  signatures,
  attestations,
  attributes,
  baseImage,
};

/** Rule kinds the language reserves for later versions; writing one gets "not supported yet", not "unknown". */
export const RESERVED_RULE_KINDS: readonly string[] = [];

export function isRuleKind(key: string): key is RuleKind {
  return Object.hasOwn(ruleKinds, key);
}

export function ruleKindNames(): RuleKind[] {
  return Object.keys(ruleKinds) as RuleKind[];
}

/** Evaluates one compiled rule. Pure; a rule of an unknown kind fails rather than passes. */
export function evaluateRule(rule: Rule, facts: ImageFacts): RuleOutcome {
  const definition = ruleKinds[rule.kind] as RuleKindDefinition | undefined;
  if (!definition) return fail(`rule kind ${JSON.stringify(rule.kind)} is not supported`);
  return definition.evaluate(rule, facts);
}
