/**
 * Turning ajv's errors into sentences a policy author can act on, each tied to a path and to the part of
 * the document to point at (the key of an unknown field, the value of a bad one, the parent of a
 * missing one).
 */
import type { ErrorObject } from 'ajv/dist/2020.js';
import type { IssueDetail, PathSegment } from '../rules/types.ts';
import { RESERVED_RULE_KINDS } from '../rules/index.ts';
import type { Anchor } from './source.ts';
import { formatPath, pointerToPath } from './path.ts';

export interface Issue extends IssueDetail {
  readonly path: readonly PathSegment[];
  readonly anchor: Anchor;
  readonly message: string;
  readonly severity: 'error' | 'warning';
}

const RESERVED_SPEC_FIELDS: Record<string, string> = {
  match: 'Kubernetes admission selectors (namespaces, kinds, labels)',
};

/** Human descriptions of the schema's `pattern`s, keyed by the pattern itself. */
const PATTERN_MEANING: Record<string, string> = {
  '^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$':
    "lower-case letters, digits, '-' and '.', starting and ending with a letter or digit (a DNS-1123 subdomain)",
  '^[a-z0-9]([-a-z0-9]*[a-z0-9])?$':
    "lower-case letters, digits and '-', starting and ending with a letter or digit (a DNS-1123 label)",
  '^(sha256:[a-f0-9]{64}|sha512:[a-f0-9]{128})$':
    'algorithm:hex in lower case: sha256:<64 hex> or sha512:<128 hex>',
};
const HOST_MEANING =
  'a host[:port] such as ghcr.io or registry.acme.example:5000, or *.domain for its subdomains';

/** A short rendering of a value for `found`. */
export function describeValue(value: unknown): string {
  if (value === null || value === undefined) return 'nothing (null)';
  if (typeof value === 'string') return truncate(JSON.stringify(value));
  if (Array.isArray(value)) return `a list of ${value.length} item${value.length === 1 ? '' : 's'}`;
  if (typeof value === 'object') return 'a mapping';
  return `${typeof value} ${truncate(String(value))}`;
}

function truncate(s: string, max = 80): string {
  return s.length <= max ? s : `${s.slice(0, max - 3)}...`;
}

function typeName(type: unknown): string {
  const names: Record<string, string> = {
    object: 'a mapping',
    array: 'a list',
    string: 'a string',
    boolean: 'true or false',
    integer: 'an integer',
    number: 'a number',
  };
  const list = Array.isArray(type) ? type : [type];
  return list.map((t) => names[String(t)] ?? String(t)).join(' or ');
}

function editDistance(a: string, b: string): number {
  const row = Array.from({ length: b.length + 1 }, (_, i) => i);
  for (let i = 1; i <= a.length; i++) {
    let prev = row[0] as number;
    row[0] = i;
    for (let j = 1; j <= b.length; j++) {
      const tmp = row[j] as number;
      row[j] = Math.min(
        (row[j] as number) + 1,
        (row[j - 1] as number) + 1,
        prev + (a[i - 1] === b[j - 1] ? 0 : 1),
      );
      prev = tmp;
    }
  }
  return row[b.length] as number;
}

function suggestion(name: string, allowed: string[]): string {
  const lower = name.toLowerCase();
  let best: string | undefined;
  let bestDistance = Infinity;
  for (const candidate of allowed) {
    const d = editDistance(lower, candidate.toLowerCase());
    if (d < bestDistance) [best, bestDistance] = [candidate, d];
  }
  return best !== undefined && bestDistance <= Math.max(1, Math.floor(name.length / 3))
    ? ` (did you mean "${best}"?)`
    : '';
}

function kindsOf(parentSchema: unknown): string[] {
  const oneOf = (parentSchema as { oneOf?: { required?: string[] }[] } | undefined)?.oneOf ?? [];
  return oneOf.flatMap((b) => b.required ?? []);
}

function presentKinds(data: unknown, kinds: string[]): string[] {
  if (typeof data !== 'object' || data === null) return [];
  return kinds.filter((k) => Object.hasOwn(data, k));
}

function isRuleItem(path: readonly PathSegment[]): boolean {
  return path.length === 3 && path[0] === 'spec' && path[1] === 'rules' && typeof path[2] === 'number';
}

function one(error: ErrorObject, root: unknown): Issue | undefined {
  const path = pointerToPath(error.instancePath, root);
  const found = describeValue(error.data);
  const base = { severity: 'error' as const };
  const params = error.params as Record<string, unknown>;
  switch (error.keyword) {
    case 'additionalProperties': {
      const key = String(params.additionalProperty);
      const allowed = Object.keys(
        (error.parentSchema as { properties?: object } | undefined)?.properties ?? {},
      );
      const at = [...path, key];
      if (isRuleItem(path) && RESERVED_RULE_KINDS.includes(key)) {
        return {
          ...base,
          path: at,
          anchor: 'key',
          message: `rule kind "${key}" is reserved for a future version of the policy language and not supported yet`,
          expected: `one of ${kindsOf(error.parentSchema).join(', ')}`,
        };
      }
      if (path.length === 1 && path[0] === 'spec' && RESERVED_SPEC_FIELDS[key]) {
        return {
          ...base,
          path: at,
          anchor: 'key',
          message: `field "${key}" (${RESERVED_SPEC_FIELDS[key]}) is reserved for a future version and not supported yet`,
        };
      }
      return {
        ...base,
        path: at,
        anchor: 'key',
        message: `unknown field "${key}"${suggestion(key, allowed)}`,
        expected: allowed.length ? `one of ${allowed.join(', ')}` : 'no fields',
      };
    }
    case 'required': {
      const missing = String(params.missingProperty);
      return {
        ...base,
        path: [...path, missing],
        anchor: 'value',
        message: `missing required field "${missing}"`,
      };
    }
    case 'type':
      return {
        ...base,
        path,
        anchor: 'value',
        message: `wrong type: expected ${typeName(params.type)}`,
        found,
        expected: typeName(params.type),
      };
    case 'enum': {
      const allowed = (params.allowedValues as unknown[]).map(String);
      const last = path[path.length - 1];
      const field = typeof last === 'string' ? `${last} ` : '';
      return {
        ...base,
        path,
        anchor: 'value',
        message: `unsupported ${field}value ${found}`,
        found,
        expected: `one of ${allowed.join(', ')}`,
      };
    }
    case 'oneOf': {
      const kinds = kindsOf(error.parentSchema);
      const present = presentKinds(error.data, kinds);
      if (present.length > 1) {
        return {
          ...base,
          path,
          anchor: 'value',
          message: `a rule must have exactly one rule kind, found ${present.length} (${present.join(', ')}); write each as its own list item`,
          found: present.join(', '),
          expected: `exactly one of ${kinds.join(', ')}`,
        };
      }
      return {
        ...base,
        path,
        anchor: 'value',
        message: `a rule must have exactly one rule kind, found none`,
        expected: `exactly one of ${kinds.join(', ')}`,
      };
    }
    case 'minItems':
      return {
        ...base,
        path,
        anchor: 'value',
        message: `the list is empty; it needs at least ${String(params.limit)} item${params.limit === 1 ? '' : 's'} (an optional list can be left out instead)`,
        found,
      };
    case 'maxItems':
      return {
        ...base,
        path,
        anchor: 'value',
        message: `too many items (at most ${String(params.limit)})`,
        found,
      };
    case 'minLength':
      return {
        ...base,
        path,
        anchor: 'value',
        message: 'the value is empty',
        found,
        expected: 'a non-empty string',
      };
    case 'maxLength':
      return {
        ...base,
        path,
        anchor: 'value',
        message: `the value is too long (at most ${String(params.limit)} characters)`,
        found,
      };
    case 'maxProperties':
      return {
        ...base,
        path,
        anchor: 'value',
        message: `too many entries (at most ${String(params.limit)})`,
        found,
      };
    case 'minProperties': {
      const last = path[path.length - 1];
      const fields = Object.keys(
        (error.parentSchema as { properties?: object } | undefined)?.properties ?? {},
      );
      return {
        ...base,
        path,
        anchor: 'value',
        message: `the ${typeof last === 'string' ? `${last} ` : ''}rule has no constraints; set at least one of ${fields.join(', ')}`,
        expected: `one of ${fields.join(', ')}`,
      };
    }
    case 'pattern': {
      const pattern = String(params.pattern);
      const isHost = path.includes('registries');
      const meaning = isHost ? HOST_MEANING : (PATTERN_MEANING[pattern] ?? `text matching ${pattern}`);
      const last = path[path.length - 1];
      const what = path.includes('registries')
        ? 'registry'
        : path.includes('digests')
          ? 'digest'
          : last === 'name'
            ? 'name'
            : 'value';
      return {
        ...base,
        path,
        anchor: 'value',
        message: `invalid ${what} ${found}`,
        found,
        expected: meaning,
      };
    }
    case 'if':
      return undefined; // the failing `then` branch reports the real problems
    default:
      return {
        ...base,
        path,
        anchor: 'value',
        message: `${formatPath(path) || 'document'} ${error.message ?? 'is invalid'}`,
        found,
      };
  }
}

/** `oneOf` branches only list `required`; their individual failures are summarized by the `oneOf` error. */
function insideOneOfBranch(error: ErrorObject): boolean {
  return /\/oneOf\/\d+\//.test(error.schemaPath);
}

export function schemaIssues(errors: readonly ErrorObject[], root: unknown): Issue[] {
  const issues = collect(errors, root);
  // A rule whose only key is a reserved kind already says so; "found none" would only add noise.
  const reserved = new Set(
    issues.filter((i) => i.message.startsWith('rule kind ')).map((i) => formatPath(i.path.slice(0, -1))),
  );
  return issues.filter((i) => !(i.message.endsWith('found none') && reserved.has(formatPath(i.path))));
}

function collect(errors: readonly ErrorObject[], root: unknown): Issue[] {
  const out: Issue[] = [];
  const seen = new Set<string>();
  // A value of the wrong type fails its other checks too (enum, pattern); the type is the one to report.
  const wrongType = new Set(errors.filter((e) => e.keyword === 'type').map((e) => e.instancePath));
  for (const error of errors) {
    if (insideOneOfBranch(error)) continue;
    if (error.keyword !== 'type' && wrongType.has(error.instancePath)) continue;
    const issue = one(error, root);
    if (!issue) continue;
    const key = `${formatPath(issue.path)}\u0000${issue.message}`;
    if (seen.has(key)) continue;
    seen.add(key);
    out.push(issue);
  }
  return out;
}
