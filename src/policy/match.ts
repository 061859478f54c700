/**
 * `spec.match`: which Kubernetes objects a policy applies to. Compiled at load (namespace globs, label
 * selectors with Kubernetes syntax and semantics, kinds), evaluated purely against an AdmissionContext.
 *
 * Unknown context fails closed: a selector whose input is unknown (no namespace, no labels, namespace
 * labels not read from the API server, `portcullis verify IMAGE` with no object at all) counts as
 * matching, so the policy applies. A restriction is never dropped because we could not tell.
 */
import type { AdmissionContext } from '../engine/facts.ts';
import type {
  LabelRequirement,
  LabelSelector,
  Policy,
  PolicyMatch,
  SourcePosition,
  StringPattern,
} from './model.ts';
import type { ImageReference } from '../reference/types.ts';
import type { IssueDetail, PathSegment } from '../rules/types.ts';
import { isRecord, patternIssue } from '../rules/support.ts';

/** The object kinds the webhook admits (and `check` reads), spelt as Kubernetes spells them. */
export const MATCH_KINDS = [
  'Pod',
  'Deployment',
  'ReplicaSet',
  'StatefulSet',
  'DaemonSet',
  'Job',
  'CronJob',
  'ReplicationController',
] as const;

const OPERATORS: readonly LabelRequirement['operator'][] = ['In', 'NotIn', 'Exists', 'DoesNotExist'];
const MATCH_FIELDS = ['namespaces', 'namespaceSelector', 'kinds', 'objectSelector'] as const;

type Report = (path: readonly PathSegment[], message: string, detail?: IssueDetail) => void;

export interface MatchCompileContext {
  /** Where `spec.match` is. */
  readonly source: SourcePosition;
  /** Paths are relative to `spec.match`. */
  readonly error: Report;
  readonly warning: Report;
}

/** A problem at a known character of a string (for `patternIssue`: message and 0-based position). */
export class TextProblem extends Error {
  readonly code = 'MATCH_SYNTAX';
  readonly detail: string;
  readonly position: number | undefined;
  constructor(detail: string, position?: number) {
    super(detail);
    this.detail = detail;
    this.position = position;
  }
}

const NAMESPACE_CHARS = /^[-a-z0-9*]$/;
const NAMESPACE_MEANING =
  "namespace names are lower-case letters, digits and '-', and '*' stands for any run of them";

/** A glob over namespace names: anchored, `*` matches any run of name characters (none included). */
export function compileNamespacePattern(pattern: string): StringPattern {
  if (pattern.length === 0) throw new TextProblem('a namespace pattern cannot be empty');
  if (pattern.length > 63) {
    throw new TextProblem('namespace names have at most 63 characters', 63);
  }
  for (let i = 0; i < pattern.length; i++) {
    const ch = pattern[i]!;
    if (!NAMESPACE_CHARS.test(ch)) {
      throw new TextProblem(`${JSON.stringify(ch)} is not allowed: ${NAMESPACE_MEANING}`, i);
    }
  }
  if (pattern.startsWith('-')) throw new TextProblem("a namespace name cannot start with '-'", 0);
  if (pattern.endsWith('-'))
    throw new TextProblem("a namespace name cannot end with '-'", pattern.length - 1);
  // Only [-a-z0-9] remain between the stars, none of them special in a regular expression.
  const source = pattern.split('*').join('[-a-z0-9]*');
  const re = new RegExp(`^${source}$`);
  return { pattern, matches: (value) => re.test(value) };
}

const LABEL_NAME = /^([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]$/;
const LABEL_NAME_MEANING = "letters, digits, '-', '_' and '.', starting and ending with a letter or digit";
const DNS_SUBDOMAIN = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;

/** Where a label name or value goes wrong, in Kubernetes' rules (at most 63 characters). */
function labelNameProblem(text: string, offset: number, what: string): TextProblem | undefined {
  if (text.length > 63) return new TextProblem(`a label ${what} has at most 63 characters`, offset + 63);
  if (LABEL_NAME.test(text)) return undefined;
  const bad = [...text].findIndex((ch) => !/[-A-Za-z0-9_.]/.test(ch));
  if (bad >= 0) {
    return new TextProblem(
      `${JSON.stringify(text[bad])} is not allowed in a label ${what}: ${LABEL_NAME_MEANING}`,
      offset + bad,
    );
  }
  const edge = /[A-Za-z0-9]/.test(text[0] ?? '') ? text.length - 1 : 0;
  return new TextProblem(`a label ${what} must start and end with a letter or digit`, offset + edge);
}

/** Label keys: `[prefix/]name`, the prefix a DNS subdomain of at most 253 characters. */
export function labelKeyProblem(key: string): TextProblem | undefined {
  const slash = key.indexOf('/');
  if (slash < 0) {
    return key === '' ? new TextProblem('a label key cannot be empty') : labelNameProblem(key, 0, 'name');
  }
  const prefix = key.slice(0, slash);
  if (prefix === '') return new TextProblem('the prefix before "/" is empty', 0);
  if (prefix.length > 253) return new TextProblem('a label key prefix has at most 253 characters', 253);
  if (!DNS_SUBDOMAIN.test(prefix)) {
    const bad = [...prefix].findIndex((ch) => !/[-a-z0-9.]/.test(ch));
    return new TextProblem(
      "a label key prefix is a DNS subdomain: lower-case letters, digits, '-' and '.'",
      bad >= 0 ? bad : 0,
    );
  }
  const name = key.slice(slash + 1);
  if (name === '') return new TextProblem('the name after "/" is empty', slash);
  return labelNameProblem(name, slash + 1, 'name');
}

/** Label values: empty, or up to 63 name characters. */
export function labelValueProblem(value: string): TextProblem | undefined {
  return value === '' ? undefined : labelNameProblem(value, 0, 'value');
}

/**
 * A LabelSelector (`matchLabels` + `matchExpressions`) with Kubernetes' checks: In and NotIn need values,
 * Exists and DoesNotExist take none. An empty selector would match everything: an error, like an empty
 * rule (omit the field instead).
 */
function compileSelector(
  raw: unknown,
  path: readonly PathSegment[],
  what: string,
  error: Report,
  warning: Report,
): LabelSelector | undefined {
  if (!isRecord(raw)) return undefined;
  const requirements: LabelRequirement[] = [];
  let ok = true;
  const fail: Report = (p, message, detail) => {
    ok = false;
    error(p, message, detail);
  };
  /** `atValue`: the string checked is the value at `p` (so a character offset into it is meaningful). */
  const checkText = (
    p: readonly PathSegment[],
    kind: 'label key' | 'label value',
    text: string,
    atValue = true,
  ) => {
    const problem = kind === 'label key' ? labelKeyProblem(text) : labelValueProblem(text);
    if (!problem) return true;
    const { message, detail } = patternIssue(kind, text, problem);
    const { offset, ...rest } = detail;
    fail(p, message, atValue ? detail : rest);
    void offset;
    return false;
  };

  const labels = isRecord(raw.matchLabels) ? raw.matchLabels : {};
  for (const [key, value] of Object.entries(labels)) {
    if (typeof value !== 'string') continue; // the schema said so already
    const at = [...path, 'matchLabels', key];
    // A mapping key: the report points at its value, so no offset into the key.
    if (checkText(at, 'label key', key, false) && checkText(at, 'label value', value)) {
      requirements.push({ key, operator: 'In', values: [value] });
    }
  }
  const expressions = Array.isArray(raw.matchExpressions) ? (raw.matchExpressions as unknown[]) : [];
  expressions.forEach((item, index) => {
    const at = [...path, 'matchExpressions', index];
    if (!isRecord(item) || typeof item.key !== 'string' || typeof item.operator !== 'string') return;
    const operator = item.operator as LabelRequirement['operator'];
    if (!OPERATORS.includes(operator)) return;
    const values = Array.isArray(item.values)
      ? (item.values as unknown[]).filter((v): v is string => typeof v === 'string')
      : [];
    let good = checkText([...at, 'key'], 'label key', item.key);
    if (operator === 'In' || operator === 'NotIn') {
      if (values.length === 0) {
        fail(at, `operator ${operator} needs at least one value`, {
          expected: 'values: [...] with one or more label values',
        });
        good = false;
      }
    } else if (item.values !== undefined) {
      fail([...at, 'values'], `operator ${operator} takes no values; remove values`, {
        found: `a list of ${values.length} value${values.length === 1 ? '' : 's'}`,
      });
      good = false;
    }
    values.forEach((v, i) => {
      if (!checkText([...at, 'values', i], 'label value', v)) good = false;
    });
    const seen = new Map<string, number>();
    values.forEach((v, i) => {
      const first = seen.get(v);
      if (first !== undefined) {
        warning([...at, 'values', i], `${JSON.stringify(v)} is listed twice (also at values[${first}])`);
      } else seen.set(v, i);
    });
    if (good) requirements.push({ key: item.key, operator, values: [...new Set(values)] });
  });
  if (ok && requirements.length === 0) {
    error(
      path,
      `the ${what} is empty and would match everything; give matchLabels or matchExpressions, or remove it`,
      { expected: 'at least one of matchLabels, matchExpressions' },
    );
    return undefined;
  }
  return ok ? { requirements } : undefined;
}

/** Compiles schema-valid `spec.match`; undefined when an error was reported. */
export function compileMatch(raw: unknown, ctx: MatchCompileContext): PolicyMatch | undefined {
  if (!isRecord(raw)) return undefined;
  let ok = true;
  const error: Report = (path, message, detail) => {
    ok = false;
    ctx.error(path, message, detail);
  };
  if (!MATCH_FIELDS.some((f) => raw[f] !== undefined)) {
    error(
      [],
      'match has no selectors; set at least one of namespaces, namespaceSelector, kinds, objectSelector, or remove match',
      {
        expected: `one or more of ${MATCH_FIELDS.join(', ')}`,
      },
    );
    return undefined;
  }

  let namespaces: StringPattern[] | undefined;
  if (Array.isArray(raw.namespaces)) {
    namespaces = [];
    const seen = new Map<string, number>();
    (raw.namespaces as unknown[]).forEach((item, index) => {
      if (typeof item !== 'string') return;
      try {
        namespaces!.push(compileNamespacePattern(item));
      } catch (e) {
        const { message, detail } = patternIssue('namespace pattern', item, e);
        error(['namespaces', index], message, detail);
        return;
      }
      const first = seen.get(item);
      if (first !== undefined) {
        ctx.warning(
          ['namespaces', index],
          `${JSON.stringify(item)} is listed twice (also at namespaces[${first}])`,
        );
      } else seen.set(item, index);
    });
  }

  let kinds: string[] | undefined;
  if (Array.isArray(raw.kinds)) {
    kinds = [];
    (raw.kinds as unknown[]).forEach((item, index) => {
      if (typeof item !== 'string') return;
      if (!(MATCH_KINDS as readonly string[]).includes(item)) {
        const near = MATCH_KINDS.find((k) => k.toLowerCase() === item.toLowerCase().replace(/s$/, ''));
        error(
          ['kinds', index],
          `unknown kind ${JSON.stringify(item)}${near ? ` (did you mean "${near}"?)` : ''}`,
          {
            found: JSON.stringify(item),
            expected: `one of ${MATCH_KINDS.join(', ')} (as Kubernetes spells them)`,
          },
        );
        return;
      }
      if (kinds!.includes(item)) {
        ctx.warning(['kinds', index], `${JSON.stringify(item)} is listed twice`);
        return;
      }
      kinds!.push(item);
    });
  }

  const namespaceSelector =
    raw.namespaceSelector === undefined
      ? undefined
      : compileSelector(
          raw.namespaceSelector,
          ['namespaceSelector'],
          'namespaceSelector',
          error,
          ctx.warning,
        );
  const objectSelector =
    raw.objectSelector === undefined
      ? undefined
      : compileSelector(raw.objectSelector, ['objectSelector'], 'objectSelector', error, ctx.warning);

  if (!ok) return undefined;
  return {
    ...(namespaces ? { namespaces } : {}),
    ...(namespaceSelector ? { namespaceSelector } : {}),
    ...(kinds ? { kinds } : {}),
    ...(objectSelector ? { objectSelector } : {}),
    source: ctx.source,
  };
}

function labelOf(labels: Readonly<Record<string, string>>, key: string): string | undefined {
  if (!Object.hasOwn(labels, key)) return undefined;
  const value = labels[key];
  return typeof value === 'string' ? value : undefined;
}

/** Kubernetes LabelSelector semantics: every requirement holds; NotIn holds when the label is absent. */
export function selectorMatches(selector: LabelSelector, labels: Readonly<Record<string, string>>): boolean {
  return selector.requirements.every((r) => {
    const value = labelOf(labels, r.key);
    switch (r.operator) {
      case 'In':
        return value !== undefined && r.values.includes(value);
      case 'NotIn':
        return value === undefined || !r.values.includes(value);
      case 'Exists':
        return value !== undefined;
      case 'DoesNotExist':
        return value === undefined;
    }
    return false;
  });
}

/** The selector in kubectl's `-l` syntax, for messages: `tier=backend,env in (a,b),!legacy`. */
export function describeSelector(selector: LabelSelector): string {
  return selector.requirements
    .map((r) => {
      if (r.operator === 'Exists') return r.key;
      if (r.operator === 'DoesNotExist') return `!${r.key}`;
      if (r.operator === 'In' && r.values.length === 1) return `${r.key}=${r.values[0]}`;
      return `${r.key} ${r.operator === 'In' ? 'in' : 'notin'} (${r.values.join(',')})`;
    })
    .join(',');
}

export interface MatchVerdict {
  readonly applies: boolean;
  /** The first selector that did not match, for people (undefined when the policy applies). */
  readonly mismatch?: string;
  /** Selectors counted as matching because their input is unknown here (fail closed). */
  readonly assumed: readonly string[];
}

/**
 * Whether a policy's `match` selects the object in `context`; every set field must match. Pure. A field
 * whose input is unknown counts as matching and is listed in `assumed`.
 */
export function evaluateMatch(match: PolicyMatch, context: AdmissionContext = {}): MatchVerdict {
  const assumed: string[] = [];
  const miss = (mismatch: string): MatchVerdict => ({ applies: false, mismatch, assumed });
  if (match.kinds) {
    if (context.kind === undefined) assumed.push('kinds');
    else if (!match.kinds.includes(context.kind)) {
      return miss(`kind ${context.kind} is not one of ${match.kinds.join(', ')}`);
    }
  }
  if (match.namespaces) {
    if (context.namespace === undefined || context.namespace === '') assumed.push('namespaces');
    else if (!match.namespaces.some((p) => p.matches(context.namespace!))) {
      return miss(
        `namespace ${context.namespace} matches none of ${match.namespaces.map((p) => p.pattern).join(', ')}`,
      );
    }
  }
  if (match.namespaceSelector) {
    if (context.namespaceLabels === undefined) assumed.push('namespaceSelector');
    else if (!selectorMatches(match.namespaceSelector, context.namespaceLabels)) {
      return miss(`the namespace's labels do not match ${describeSelector(match.namespaceSelector)}`);
    }
  }
  if (match.objectSelector) {
    if (context.labels === undefined) assumed.push('objectSelector');
    else if (!selectorMatches(match.objectSelector, context.labels)) {
      return miss(`the object's labels do not match ${describeSelector(match.objectSelector)}`);
    }
  }
  return { applies: true, assumed };
}

/** Shorthand: does the policy's `match` (if any) select this context? */
export function matchesContext(
  match: PolicyMatch | undefined,
  context: AdmissionContext | undefined,
): boolean {
  return match === undefined || evaluateMatch(match, context).applies;
}

/**
 * Image patterns, then `spec.match` against the Kubernetes context. An absent context (or field) is
 * unknown, and unknown counts as matching: a policy is never skipped because we could not tell. The
 * providers ask without a context, so they gather for every policy that may apply.
 */
export function policyApplies(policy: Policy, ref: ImageReference, context?: AdmissionContext): boolean {
  return (
    policy.images.some((p) => p.matches(ref)) &&
    !policy.exclude.some((p) => p.matches(ref)) &&
    matchesContext(policy.match, context)
  );
}
