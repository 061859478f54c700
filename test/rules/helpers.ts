/** Building facts from real parsed references, and compiling rules with a context that records issues. */
import type { Fact, ImageFacts } from '../../src/engine/facts.ts';
import type { Rule, RuleKind } from '../../src/policy/model.ts';
import { parseReference } from '../../src/reference/index.ts';
import { ruleKinds } from '../../src/rules/index.ts';
import type { CompileContext, IssueDetail, PathSegment } from '../../src/rules/types.ts';

export const HEX_A = 'a'.repeat(64);
export const HEX_B = 'b'.repeat(64);
export const DIGEST_A = `sha256:${HEX_A}`;
export const DIGEST_B = `sha256:${HEX_B}`;

/** Facts as the reference provider makes them: the digest fact only when the reference carries one. */
export function factsFor(image: string, digest?: Fact<string>): ImageFacts {
  const reference = parseReference(image);
  const fromRef: Fact<string> | undefined = reference.digest
    ? { available: true, value: reference.digest }
    : undefined;
  const fact = digest ?? fromRef;
  return { image, reference, ...(fact ? { digest: fact } : {}) };
}

export interface Recorded extends IssueDetail {
  readonly severity: 'error' | 'warning';
  readonly path: readonly PathSegment[];
  readonly message: string;
}

export function compileRule(kind: RuleKind, raw: unknown): { rule: Rule | undefined; issues: Recorded[] } {
  const issues: Recorded[] = [];
  const ctx: CompileContext = {
    name: kind,
    source: { file: 'test.yaml', line: 1, column: 1 },
    error: (path, message, detail) => issues.push({ severity: 'error', path, message, ...detail }),
    warning: (path, message, detail) => issues.push({ severity: 'warning', path, message, ...detail }),
  };
  const definition = ruleKinds[kind] as { compile(raw: unknown, ctx: CompileContext): Rule | undefined };
  return { rule: definition.compile(raw, ctx), issues };
}

/** Compiles a rule that must be valid. */
export function rule(kind: RuleKind, raw: unknown): Rule {
  const { rule: compiled, issues } = compileRule(kind, raw);
  if (!compiled || issues.some((i) => i.severity === 'error')) {
    throw new Error(`rule did not compile: ${JSON.stringify(issues)}`);
  }
  return compiled;
}
