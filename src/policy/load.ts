/**
 * Loading a policy set: files -> YAML documents -> schema check -> compiled policies, with every
 * problem in every file reported at once, each at its file:line:column. Never throws on bad input.
 */
import type { NoMatchAction, Policy, SourcePosition } from './model.ts';
import { isRecord } from '../rules/support.ts';
import type { PathSegment } from '../rules/types.ts';
import { contentVersion } from './canonical.ts';
import { compilePolicy } from './compile.ts';
import type { Diagnostic, LoadResult, PolicyFile } from './diagnostic.ts';
import { formatPath } from './path.ts';
import { mib, readPolicyFiles, tooLarge } from './read-paths.ts';
import { API_VERSION, DOCUMENT_KINDS, schemaErrors } from './schema.ts';
import type { DocumentKind } from './schema.ts';
import type { Issue } from './schema-errors.ts';
import { describeValue, schemaIssues } from './schema-errors.ts';
import { locate, MAX_FILE_BYTES, parseSource } from './source.ts';
import type { SourceDocument } from './source.ts';

export type { Diagnostic, LoadResult, PolicyFile } from './diagnostic.ts';
export { MAX_FILES } from './read-paths.ts';

/** After this many problems in one file the rest are summarized: a garbage file yields a bounded report. */
export const MAX_DIAGNOSTICS_PER_FILE = 100;
/** All files together; beyond this the remaining files are refused rather than parsed. */
export const MAX_TOTAL_BYTES = 16 * 1024 * 1024;

const KIND_HINTS: Record<string, string> = {
  ClusterImagePolicy:
    'a policy-controller ClusterImagePolicy is not read directly; translate it (docs/policy-language.md, "Migrating from ClusterImagePolicy")',
};

/** A place in a file, for naming the other half of a pair (duplicate names, two PolicySets). */
class Place {
  readonly file: string;
  readonly position: SourcePosition;
  readonly path: string;
  constructor(position: SourcePosition, path: readonly PathSegment[]) {
    this.file = position.file;
    this.position = position;
    this.path = formatPath(path);
  }

  toString(): string {
    return `${this.file}:${this.position.line}:${this.position.column}`;
  }

  error(message: string, detail: { found?: string; expected?: string } = {}): Diagnostic {
    const { line, column } = this.position;
    return { file: this.file, line, column, path: this.path, message, ...detail, severity: 'error' };
  }
}

/** Everything learnt while loading one set: diagnostics (bounded per file), policies, settings. */
class SetBuilder {
  readonly diagnostics: Diagnostic[] = [];
  readonly policies: Policy[] = [];
  readonly policySets: { at: Place; noMatch: NoMatchAction }[] = [];
  failed = false;
  private readonly perFile = new Map<string, number>();
  private readonly names = new Map<string, Place>();
  private readonly reportedTwice = new Set<string>();

  add(d: Diagnostic): void {
    if (d.severity === 'error') this.failed = true;
    const n = (this.perFile.get(d.file) ?? 0) + 1;
    this.perFile.set(d.file, n);
    if (n <= MAX_DIAGNOSTICS_PER_FILE) this.diagnostics.push(d);
  }

  /** One closing line per file whose problems were cut short. */
  finish(): void {
    for (const [file, n] of this.perFile) {
      if (n <= MAX_DIAGNOSTICS_PER_FILE) continue;
      const message = `${n - MAX_DIAGNOSTICS_PER_FILE} more problems in this file not shown`;
      this.diagnostics.push({ file, line: 0, column: 0, path: '', message, severity: 'error' });
    }
  }

  /** Policy names are unique across the set; a clash is reported at both places. */
  claimName(name: string, at: Place): void {
    const first = this.names.get(name);
    if (!first) {
      this.names.set(name, at);
      return;
    }
    const detail = { found: JSON.stringify(name), expected: 'a name unique across the policy set' };
    this.add(at.error(`duplicate policy name "${name}": also defined at ${first}`, detail));
    if (this.reportedTwice.has(name)) return;
    this.reportedTwice.add(name);
    this.add(first.error(`duplicate policy name "${name}": also defined at ${at}`, detail));
  }

  addPolicySet(at: Place, noMatch: NoMatchAction): void {
    const first = this.policySets[0];
    if (first) {
      this.add(at.error(`more than one PolicySet in the policy set (the first is at ${first.at})`));
      if (this.policySets.length === 1) {
        this.add(first.at.error(`more than one PolicySet in the policy set (another is at ${at})`));
      }
    }
    this.policySets.push({ at, noMatch });
  }
}

/** apiVersion and kind decide which schema applies; when they are wrong nothing else is worth checking. */
function documentKind(data: Record<string, unknown>, issues: Issue[]): DocumentKind | undefined {
  const hint = typeof data.kind === 'string' ? KIND_HINTS[data.kind] : undefined;
  const kinds: readonly string[] = DOCUMENT_KINDS;
  const problem = (field: string, message: string, expected: string, found?: string) =>
    issues.push({
      path: [field],
      anchor: 'value',
      severity: 'error',
      message,
      expected,
      ...(found === undefined ? {} : { found }),
    });
  const before = issues.length;
  if (!('apiVersion' in data)) problem('apiVersion', 'missing required field "apiVersion"', API_VERSION);
  else if (data.apiVersion !== API_VERSION) {
    const found = describeValue(data.apiVersion);
    problem('apiVersion', `unsupported apiVersion ${found}${hint ? `: ${hint}` : ''}`, API_VERSION, found);
  }
  const expectedKind = `one of ${kinds.join(', ')}`;
  if (!('kind' in data)) problem('kind', 'missing required field "kind"', expectedKind);
  else if (typeof data.kind !== 'string' || !kinds.includes(data.kind)) {
    const found = describeValue(data.kind);
    const withHint = hint && issues.length === before ? `: ${hint}` : '';
    problem('kind', `unsupported kind ${found}${withHint}`, expectedKind, found);
  }
  return issues.length === before ? (data.kind as DocumentKind) : undefined;
}

function loadDocument(set: SetBuilder, file: string, source: SourceDocument): void {
  const report = (issue: Issue) => {
    const { line, column } = locate(source, issue.path, issue.anchor, issue.offset);
    set.add({
      file,
      line,
      column,
      path: formatPath(issue.path),
      message: issue.message,
      ...(issue.found !== undefined ? { found: issue.found } : {}),
      ...(issue.expected !== undefined ? { expected: issue.expected } : {}),
      severity: issue.severity,
    });
  };
  const position = (path: readonly PathSegment[]): SourcePosition => ({
    file,
    ...locate(source, path, 'value'),
  });
  const { data } = source;
  if (!isRecord(data)) {
    const found = describeValue(data);
    const message = `a policy document must be a mapping with apiVersion, kind, metadata and spec; found ${found}`;
    report({ path: [], anchor: 'value', severity: 'error', message, found, expected: 'a mapping' });
    return;
  }
  const issues: Issue[] = [];
  const kind = documentKind(data, issues);
  if (kind) issues.push(...schemaIssues(schemaErrors(kind, data), data));
  issues.forEach(report);
  if (kind === 'PolicySet') {
    const spec = isRecord(data.spec) ? data.spec : {};
    const noMatch = (typeof spec.noMatch === 'string' ? spec.noMatch : 'deny') as NoMatchAction;
    set.addPolicySet(new Place(position(['kind']), ['kind']), noMatch);
  } else if (kind === 'ImagePolicy') {
    const policy = compilePolicy({ data, schemaIssues: issues, position, report });
    const metadata = isRecord(data.metadata) ? data.metadata : {};
    if (typeof metadata.name === 'string') {
      set.claimName(metadata.name, new Place(position(['metadata', 'name']), ['metadata', 'name']));
    }
    if (policy) set.policies.push(policy);
  }
}

function loadFile(set: SetBuilder, file: PolicyFile, bytes: number): void {
  if (bytes > MAX_FILE_BYTES) {
    set.add(tooLarge(file.path, bytes));
    return;
  }
  const parsed = parseSource(file.text);
  for (const p of parsed.problems) {
    const { line, column, message, severity } = p;
    set.add({ file: file.path, line, column, path: '', message, severity });
  }
  if (parsed.documents.length === 0 && parsed.problems.length === 0) {
    set.add({
      file: file.path,
      line: 1,
      column: 1,
      path: '',
      message: 'file contains no documents',
      severity: 'error',
    });
  }
  for (const source of parsed.documents) loadDocument(set, file.path, source);
}

export function loadPolicySet(files: readonly PolicyFile[]): LoadResult {
  const set = new SetBuilder();
  try {
    let total = 0;
    for (const file of files) {
      const bytes = Buffer.byteLength(file.text, 'utf8');
      total += Math.min(bytes, MAX_FILE_BYTES + 1);
      if (total > MAX_TOTAL_BYTES) {
        const message = `not read: the policy files together exceed ${mib(MAX_TOTAL_BYTES)}`;
        set.add({ file: file.path, line: 0, column: 0, path: '', message, severity: 'error' });
        continue;
      }
      loadFile(set, file, bytes);
    }
    if (set.policies.length === 0 && !set.failed) {
      const message =
        files.length === 0 ? 'no policy files were given' : 'the policy set has no ImagePolicy documents';
      set.add({ file: files[0]?.path ?? '', line: 0, column: 0, path: '', message, severity: 'error' });
    }
  } catch (error) {
    // A bug in the loader must not become an accepted policy set or a crash: report it and fail closed.
    const message = `internal error while loading policies: ${error instanceof Error ? error.message : String(error)}`;
    set.add({ file: '', line: 0, column: 0, path: '', message, severity: 'error' });
  }
  set.finish();
  const ordered = sortDiagnostics(set.diagnostics, files);
  if (set.failed) return { ok: false, diagnostics: ordered };
  const noMatch = set.policySets[0]?.noMatch ?? 'deny';
  return {
    ok: true,
    policySet: { policies: set.policies, noMatch, version: setVersion(set.policies, noMatch) },
    warnings: ordered,
  };
}

/**
 * The set version depends on what the policies say, not on how they are split into files: policy
 * versions are taken in name order.
 */
export function setVersion(policies: readonly Policy[], noMatch: NoMatchAction): string {
  const entries = policies.map((p) => [p.name, p.version] as const);
  entries.sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0));
  return contentVersion({ apiVersion: API_VERSION, noMatch, policies: entries });
}

function sortDiagnostics(list: Diagnostic[], files: readonly PolicyFile[]): Diagnostic[] {
  const order = new Map(files.map((f, i) => [f.path, i] as const));
  return list
    .map((d, i) => ({ d, i }))
    .sort(
      (a, b) =>
        (order.get(a.d.file) ?? -1) - (order.get(b.d.file) ?? -1) ||
        (a.d.line || Infinity) - (b.d.line || Infinity) ||
        a.d.column - b.d.column ||
        a.i - b.i,
    )
    .map(({ d }) => d);
}

/** Reads files and directories (see read-paths.ts), then loads them; all problems are reported together. */
export async function loadPolicyPaths(paths: readonly string[]): Promise<LoadResult> {
  const { files, problems } = await readPolicyFiles(paths);
  const result = loadPolicySet(files);
  if (problems.length === 0) return result;
  const rest = result.ok ? result.warnings : result.diagnostics;
  // With no readable file loadPolicySet says "no policy files were given"; the problems already say why.
  const kept = files.length === 0 ? rest.filter((d) => d.file !== '') : rest;
  return { ok: false, diagnostics: [...problems, ...kept] };
}
