/**
 * The contract every rule kind implements. Adding a kind (signatures, attestations, ...) means one new
 * module exporting a RuleKindDefinition, one entry in ./index.ts, one member of `Rule` in
 * src/policy/model.ts and one schema fragment; the loader and the engine do not change.
 */
import type { ImageFacts } from '../engine/facts.ts';
import type { RuleOutcome } from '../engine/outcome.ts';
import type { Rule, RuleKind, SourcePosition } from '../policy/model.ts';

/** A step into a parsed document: a mapping key or a sequence index. */
export type PathSegment = string | number;

export interface IssueDetail {
  /** What was written, as shown to the user (already quoted where it is a string). */
  readonly found?: string;
  /** What would have been accepted. */
  readonly expected?: string;
  /**
   * 0-based character offset inside the string value at `path`, when the problem is at a known place
   * inside it (e.g. the position a pattern error names).
   */
  readonly offset?: number;
}

/** Where a rule kind reports lint problems while compiling. Paths are relative to the rule kind's object. */
export interface CompileContext {
  /** The rule's name (explicit or defaulted). */
  readonly name: string;
  /** Where the rule item starts. */
  readonly source: SourcePosition;
  error(path: readonly PathSegment[], message: string, detail?: IssueDetail): void;
  warning(path: readonly PathSegment[], message: string, detail?: IssueDetail): void;
}

export interface RuleKindDefinition<R extends Rule = Rule> {
  readonly kind: R['kind'];
  /**
   * Turn the rule kind's raw (schema-valid) object into a compiled rule. Every problem is reported
   * through `ctx`; the result is undefined when at least one error was reported.
   */
  compile(raw: unknown, ctx: CompileContext): R | undefined;
  /** Pure: no I/O, no clock, no state. A missing or unavailable fact fails; it never passes. */
  evaluate(rule: R, facts: ImageFacts): RuleOutcome;
}

/** One definition per kind, keyed by kind, so a missing kind is a type error. */
export type RuleKindRegistry = { readonly [K in RuleKind]: RuleKindDefinition<Extract<Rule, { kind: K }>> };
