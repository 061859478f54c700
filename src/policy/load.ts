/**
 * Loading a policy set: files -> YAML documents -> schema check -> compiled policies, with every
 * problem in every file reported at once, each at its file:line:column. Never throws on bad input.
 */
import { readdir, readFile, realpath, stat } from 'node:fs/promises';
import { extname, join } from 'node:path';
import type { NoMatchAction, Policy, SourcePosition } from './model.ts';
import type { PathSegment } from '../rules/types.ts';
import { contentVersion } from './canonical.ts';
import { compilePolicy } from './compile.ts';
import type { Diagnostic, LoadResult, PolicyFile } from './diagnostic.ts';
import { formatPath } from './path.ts';
import { API_VERSION, DOCUMENT_KINDS, schemaErrors } from './schema.ts';
import type { DocumentKind } from './schema.ts';
import type { Issue } from './schema-errors.ts';
import { describeValue, schemaIssues } from './schema-errors.ts';
import { locate, MAX_FILE_BYTES, parseSource } from './source.ts';
import type { SourceDocument } from './source.ts';

export type { Diagnostic, LoadResult, PolicyFile } from './diagnostic.ts';

/** After this many problems in one file the rest are summarized: a garbage file yields a bounded report. */
export const MAX_DIAGNOSTICS_PER_FILE = 100;
export const MAX_FILES = 10_000;
/** All files together; beyond this the remaining files are refused rather than parsed. */
export const MAX_TOTAL_BYTES = 16 * 1024 * 1024;
const POLICY_EXTENSIONS = new Set(['.yaml', '.yml', '.json']);

interface Located {
  readonly file: string;
  readonly position: SourcePosition;
  readonly path: readonly PathSegment[];
}

function mib(bytes: number): string {
  return `${(bytes / (1024 * 1024)).toFixed(1)} MiB`;
}

class Collector {
  readonly diagnostics: Diagnostic[] = [];
  private readonly perFile = new Map<string, number>();

  add(d: Diagnostic): void {
    const n = (this.perFile.get(d.file) ?? 0) + 1;
    this.perFile.set(d.file, n);
    if (n <= MAX_DIAGNOSTICS_PER_FILE) this.diagnostics.push(d);
  }

  /** One closing line per file whose problems were cut short. */
  finish(): void {
    for (const [file, n] of this.perFile) {
      if (n <= MAX_DIAGNOSTICS_PER_FILE) continue;
      this.diagnostics.push({
        file,
        line: 0,
        column: 0,
        path: '',
        message: `${n - MAX_DIAGNOSTICS_PER_FILE} more problems in this file not shown`,
        severity: 'error',
      });
    }
  }
}

function issueToDiagnostic(file: string, source: SourceDocument, issue: Issue): Diagnostic {
  const { line, column } = locate(source, issue.path, issue.anchor, issue.offset);
  return {
    file,
    line,
    column,
    path: formatPath(issue.path),
    message: issue.message,
    ...(issue.found !== undefined ? { found: issue.found } : {}),
    ...(issue.expected !== undefined ? { expected: issue.expected } : {}),
    severity: issue.severity,
  };
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

const KIND_HINTS: Record<string, string> = {
  ClusterImagePolicy:
    'a policy-controller ClusterImagePolicy is not read directly; translate it (docs/policy-language.md, "Migrating from ClusterImagePolicy")',
};

/** apiVersion and kind decide which schema applies; when they are wrong nothing else is worth checking. */
function documentKind(data: Record<string, unknown>, issues: Issue[]): DocumentKind | undefined {
  let ok = true;
  const hint = typeof data.kind === 'string' ? KIND_HINTS[data.kind] : undefined;
  if (!('apiVersion' in data)) {
    issues.push({
      path: ['apiVersion'],
      anchor: 'value',
      severity: 'error',
      message: 'missing required field "apiVersion"',
      expected: API_VERSION,
    });
    ok = false;
  } else if (data.apiVersion !== API_VERSION) {
    issues.push({
      path: ['apiVersion'],
      anchor: 'value',
      severity: 'error',
      message: `unsupported apiVersion ${describeValue(data.apiVersion)}${hint ? `: ${hint}` : ''}`,
      found: describeValue(data.apiVersion),
      expected: API_VERSION,
    });
    ok = false;
  }
  const kinds: readonly string[] = DOCUMENT_KINDS;
  if (!('kind' in data)) {
    issues.push({
      path: ['kind'],
      anchor: 'value',
      severity: 'error',
      message: 'missing required field "kind"',
      expected: `one of ${kinds.join(', ')}`,
    });
    ok = false;
  } else if (typeof data.kind !== 'string' || !kinds.includes(data.kind)) {
    issues.push({
      path: ['kind'],
      anchor: 'value',
      severity: 'error',
      message: `unsupported kind ${describeValue(data.kind)}${hint && ok ? `: ${hint}` : ''}`,
      found: describeValue(data.kind),
      expected: `one of ${kinds.join(', ')}`,
    });
    ok = false;
  }
  return ok ? (data.kind as DocumentKind) : undefined;
}

function where(l: Located): string {
  return `${l.file}:${l.position.line}:${l.position.column}`;
}

export function loadPolicySet(files: readonly PolicyFile[]): LoadResult {
  const out = new Collector();
  try {
    return loadAll(files, out);
  } catch (error) {
    // A bug in the loader must not become an accepted policy set or a crash: report it and fail closed.
    const message = error instanceof Error ? error.message : String(error);
    out.add({
      file: '',
      line: 0,
      column: 0,
      path: '',
      message: `internal error while loading policies: ${message}`,
      severity: 'error',
    });
    out.finish();
    return { ok: false, diagnostics: out.diagnostics };
  }
}

function loadAll(files: readonly PolicyFile[], out: Collector): LoadResult {
  const policies: { policy: Policy; at: Located }[] = [];
  const names = new Map<string, Located>();
  const duplicateReported = new Set<string>();
  const policySets: { at: Located; noMatch: NoMatchAction; version: string }[] = [];
  let failed = false;

  let total = 0;
  for (const file of files) {
    const bytes = Buffer.byteLength(file.text, 'utf8');
    total += Math.min(bytes, MAX_FILE_BYTES + 1);
    if (total > MAX_TOTAL_BYTES) {
      out.add({
        file: file.path,
        line: 0,
        column: 0,
        path: '',
        message: `not read: the policy files together exceed ${mib(MAX_TOTAL_BYTES)}`,
        severity: 'error',
      });
      failed = true;
      continue;
    }
    if (bytes > MAX_FILE_BYTES) {
      out.add({
        file: file.path,
        line: 1,
        column: 1,
        path: '',
        message: `file is ${mib(bytes)}; policy files are limited to ${mib(MAX_FILE_BYTES)}`,
        severity: 'error',
      });
      failed = true;
      continue;
    }
    const parsed = parseSource(file.text);
    for (const p of parsed.problems) {
      out.add({
        file: file.path,
        line: p.line,
        column: p.column,
        path: '',
        message: p.message,
        severity: p.severity,
      });
      if (p.severity === 'error') failed = true;
    }
    if (parsed.documents.length === 0 && parsed.problems.length === 0) {
      out.add({
        file: file.path,
        line: 1,
        column: 1,
        path: '',
        message: 'file contains no documents',
        severity: 'error',
      });
      failed = true;
    }
    for (const source of parsed.documents) {
      const issues: Issue[] = [];
      const report = (issue: Issue) => {
        if (issue.severity === 'error') failed = true;
        out.add(issueToDiagnostic(file.path, source, issue));
      };
      const { data } = source;
      if (!isRecord(data)) {
        report({
          path: [],
          anchor: 'value',
          severity: 'error',
          message: `a policy document must be a mapping with apiVersion, kind, metadata and spec; found ${describeValue(data)}`,
          found: describeValue(data),
          expected: 'a mapping',
        });
        continue;
      }
      const kind = documentKind(data, issues);
      if (!kind) {
        issues.forEach(report);
        continue;
      }
      issues.push(...schemaIssues(schemaErrors(kind, data), data));
      const position = (path: readonly PathSegment[]): SourcePosition => ({
        file: file.path,
        ...locate(source, path, 'value'),
      });
      const metadata = isRecord(data.metadata) ? data.metadata : {};
      const at: Located = { file: file.path, position: position([]), path: [] };

      if (kind === 'PolicySet') {
        issues.forEach(report);
        const setAt: Located = { file: file.path, position: position(['kind']), path: ['kind'] };
        const first = policySets[0];
        if (first) {
          report({
            path: ['kind'],
            anchor: 'value',
            severity: 'error',
            message: `more than one PolicySet in the policy set (the first is at ${where(first.at)})`,
          });
          if (policySets.length === 1) {
            failed = true;
            out.add({
              file: first.at.file,
              line: first.at.position.line,
              column: first.at.position.column,
              path: 'kind',
              message: `more than one PolicySet in the policy set (another is at ${where(setAt)})`,
              severity: 'error',
            });
          }
        }
        const spec = isRecord(data.spec) ? data.spec : {};
        const noMatch = (typeof spec.noMatch === 'string' ? spec.noMatch : 'deny') as NoMatchAction;
        policySets.push({ at: setAt, noMatch, version: contentVersion(data) });
        continue;
      }

      const policy = compilePolicy({ data, schemaIssues: issues, position, report });
      issues.forEach(report);
      if (typeof metadata.name === 'string') {
        const nameAt: Located = {
          file: file.path,
          position: position(['metadata', 'name']),
          path: ['metadata', 'name'],
        };
        const first = names.get(metadata.name);
        if (first) {
          report({
            path: ['metadata', 'name'],
            anchor: 'value',
            severity: 'error',
            message: `duplicate policy name "${metadata.name}": also defined at ${where(first)}`,
            found: JSON.stringify(metadata.name),
            expected: 'a name unique across the policy set',
          });
          if (!duplicateReported.has(metadata.name)) {
            duplicateReported.add(metadata.name);
            out.add({
              file: first.file,
              line: first.position.line,
              column: first.position.column,
              path: 'metadata.name',
              message: `duplicate policy name "${metadata.name}": also defined at ${where(nameAt)}`,
              found: JSON.stringify(metadata.name),
              expected: 'a name unique across the policy set',
              severity: 'error',
            });
          }
        } else {
          names.set(metadata.name, nameAt);
        }
      }
      if (policy) policies.push({ policy, at });
    }
  }

  if (policies.length === 0 && !failed) {
    const file = files[0]?.path ?? '';
    out.add({
      file,
      line: 0,
      column: 0,
      path: '',
      message:
        files.length === 0 ? 'no policy files were given' : 'the policy set has no ImagePolicy documents',
      severity: 'error',
    });
    failed = true;
  }

  out.finish();
  const ordered = sortDiagnostics(out.diagnostics, files);
  if (failed) return { ok: false, diagnostics: ordered };
  const noMatch = policySets[0]?.noMatch ?? 'deny';
  const list = policies.map((p) => p.policy);
  return {
    ok: true,
    policySet: { policies: list, noMatch, version: setVersion(list, noMatch) },
    warnings: ordered,
  };
}

/**
 * The set version depends on what the policies say, not on how they are split into files: policy
 * versions are taken in name order.
 */
export function setVersion(policies: readonly Policy[], noMatch: NoMatchAction): string {
  const entries = policies
    .map((p) => [p.name, p.version])
    .sort((a, b) => (a[0]! < b[0]! ? -1 : a[0]! > b[0]! ? 1 : 0));
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

/**
 * Reads files and directories (recursively: *.yaml, *.yml, *.json; entries starting with `.` are skipped,
 * which also skips the `..data` twins of a mounted Kubernetes ConfigMap). Files are read in path order
 * so the result does not depend on directory listing order.
 */
export async function loadPolicyPaths(paths: readonly string[]): Promise<LoadResult> {
  const early: Diagnostic[] = [];
  const found: string[] = [];
  const seenReal = new Set<string>();
  const fileProblem = (file: string, message: string) =>
    early.push({ file, line: 0, column: 0, path: '', message, severity: 'error' });

  const walk = async (dir: string, top: string): Promise<number> => {
    let real: string;
    try {
      real = await realpath(dir);
    } catch (error) {
      fileProblem(dir, `cannot read directory: ${errorText(error)}`);
      return 0;
    }
    if (seenReal.has(real)) return 0;
    seenReal.add(real);
    let entries;
    try {
      entries = await readdir(dir, { withFileTypes: true });
    } catch (error) {
      fileProblem(dir, `cannot read directory: ${errorText(error)}`);
      return 0;
    }
    let count = 0;
    for (const entry of entries.map((e) => e.name).sort()) {
      if (entry.startsWith('.')) continue;
      if (found.length >= MAX_FILES) {
        fileProblem(top, `more than ${MAX_FILES} policy files; refusing to load the rest`);
        return count;
      }
      const full = join(dir, entry);
      let info;
      try {
        info = await stat(full);
      } catch (error) {
        fileProblem(full, `cannot read: ${errorText(error)}`);
        continue;
      }
      if (info.isDirectory()) count += await walk(full, top);
      else if (info.isFile() && POLICY_EXTENSIONS.has(extname(entry).toLowerCase())) {
        found.push(full);
        count++;
      }
    }
    return count;
  };

  for (const path of paths) {
    let info;
    try {
      info = await stat(path);
    } catch (error) {
      fileProblem(path, `cannot read: ${errorText(error)}`);
      continue;
    }
    if (info.isDirectory()) {
      if ((await walk(path, path)) === 0)
        fileProblem(path, 'no policy files (*.yaml, *.yml, *.json) in this directory');
    } else found.push(path);
  }

  const files: PolicyFile[] = [];
  const readReal = new Set<string>();
  for (const path of found) {
    try {
      const real = await realpath(path);
      if (readReal.has(real)) continue;
      readReal.add(real);
      const info = await stat(path);
      if (info.size > MAX_FILE_BYTES) {
        early.push({
          file: path,
          line: 1,
          column: 1,
          path: '',
          message: `file is ${mib(info.size)}; policy files are limited to ${mib(MAX_FILE_BYTES)}`,
          severity: 'error',
        });
        continue;
      }
      const bytes = await readFile(path);
      let text: string;
      try {
        text = new TextDecoder('utf-8', { fatal: true }).decode(bytes);
      } catch {
        fileProblem(path, 'file is not valid UTF-8 text');
        continue;
      }
      files.push({ path, text: text.startsWith('\uFEFF') ? text.slice(1) : text });
    } catch (error) {
      fileProblem(path, `cannot read: ${errorText(error)}`);
    }
  }

  const result = loadPolicySet(files);
  if (early.length === 0) return result;
  const rest = result.ok ? result.warnings : result.diagnostics;
  // With no files at all loadPolicySet adds "no policy files were given"; the early problems already say why.
  const kept = files.length === 0 ? rest.filter((d) => d.file !== '') : rest;
  return { ok: false, diagnostics: [...early, ...kept] };
}

function errorText(error: unknown): string {
  const e = error as { code?: unknown; message?: unknown };
  if (e && e.code === 'ENOENT') return 'no such file or directory';
  if (e && e.code === 'EACCES') return 'permission denied';
  return e && typeof e.message === 'string' ? e.message : String(error);
}
