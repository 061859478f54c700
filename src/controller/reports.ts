/**
 * Verification results as `wgpolicyk8s.io/v1alpha2` PolicyReport objects (one per namespace) and one
 * ClusterPolicyReport for findings with no namespace (reference/peers.md section 6). Pure: the loop
 * writes what this returns.
 *
 * Size: a report is one etcd object (1.5 MiB by default), so each keeps at most `maxResults` results.
 * Past the cap, results are kept by severity (error, fail, warn, skip, then pass) and the rest dropped;
 * `summary` still counts every result, and the annotation `portcullis.dev/results-dropped` says how
 * many are missing, so a dashboard never shows a truncated report as clean.
 */
import {
  findingsOf,
  type Finding,
  type ImageCheck,
  type ReportResult,
  type WorkloadRef,
} from './findings.ts';

export const REPORT_API_VERSION = 'wgpolicyk8s.io/v1alpha2';
export const REPORT_NAME = 'portcullis';
export const CLUSTER_REPORT_NAME = 'portcullis-cluster';
export const REPORT_SOURCE = 'portcullis';
export const DEFAULT_MAX_RESULTS = 1000;
export const DROPPED_ANNOTATION = 'portcullis.dev/results-dropped';
const MAX_MESSAGE = 1024;

export interface ReportSummary {
  pass: number;
  fail: number;
  warn: number;
  error: number;
  skip: number;
}

export interface ObjectReference {
  readonly apiVersion: string;
  readonly kind: string;
  readonly name: string;
  readonly namespace?: string;
  readonly uid?: string;
}

export interface PolicyReportResult {
  readonly source: string;
  readonly policy: string;
  readonly rule: string;
  readonly category: string;
  readonly severity: 'critical' | 'high' | 'medium' | 'low' | 'info';
  readonly timestamp: { readonly seconds: number; readonly nanos: number };
  readonly result: ReportResult;
  readonly scored: boolean;
  readonly resources: readonly ObjectReference[];
  readonly message: string;
  readonly properties: Readonly<Record<string, string>>;
}

export interface PolicyReport {
  readonly apiVersion: typeof REPORT_API_VERSION;
  readonly kind: 'PolicyReport' | 'ClusterPolicyReport';
  readonly metadata: {
    readonly name: string;
    readonly namespace?: string;
    readonly labels: Readonly<Record<string, string>>;
    readonly annotations?: Readonly<Record<string, string>>;
  };
  readonly summary: ReportSummary;
  readonly results: readonly PolicyReportResult[];
}

export interface ReportOptions {
  /** Results kept per report (default 1000). */
  readonly maxResults?: number;
  /** `properties.process`: background (resync) or watch. */
  readonly process?: string;
}

const SEVERITY: Readonly<Record<ReportResult, PolicyReportResult['severity']>> = {
  error: 'high',
  fail: 'high',
  warn: 'medium',
  skip: 'info',
  pass: 'info',
};
const RANK: Readonly<Record<ReportResult, number>> = { error: 0, fail: 1, warn: 2, skip: 3, pass: 4 };

export function emptySummary(): ReportSummary {
  return { pass: 0, fail: 0, warn: 0, error: 0, skip: 0 };
}

/** One result per (workload, image, policy). */
export function reportResults(check: ImageCheck, options: ReportOptions = {}): PolicyReportResult[] {
  return findingsOf(check).map((f) => toResult(check, f, options));
}

function toResult(check: ImageCheck, f: Finding, options: ReportOptions): PolicyReportResult {
  const properties: Record<string, string> = {
    image: check.image,
    checkedAt: check.checkedAt.toISOString(),
    process: options.process ?? 'background',
  };
  if (check.decision?.digest) properties.digest = check.decision.digest;
  return {
    source: REPORT_SOURCE,
    policy: f.policy,
    rule: f.rule,
    category: 'Supply Chain',
    severity: SEVERITY[f.result],
    timestamp: { seconds: Math.floor(check.checkedAt.getTime() / 1000), nanos: 0 },
    result: f.result,
    scored: f.result !== 'warn',
    resources: [objectReference(check.workload)],
    message: f.message.length > MAX_MESSAGE ? `${f.message.slice(0, MAX_MESSAGE - 1)}…` : f.message,
    properties,
  };
}

function objectReference(w: WorkloadRef): ObjectReference {
  return {
    apiVersion: w.apiVersion,
    kind: w.kind,
    name: w.name,
    ...(w.namespace ? { namespace: w.namespace } : {}),
    ...(w.uid ? { uid: w.uid } : {}),
  };
}

/**
 * The reports for these checks: a PolicyReport for each namespace in `checks` or in `namespaces` (so a
 * namespace whose last workload went away gets an empty report rather than a stale one), and the
 * ClusterPolicyReport (always, possibly empty).
 */
export function buildReports(
  checks: readonly ImageCheck[],
  options: ReportOptions & { readonly namespaces?: Iterable<string> } = {},
): PolicyReport[] {
  const byNamespace = new Map<string, PolicyReportResult[]>();
  for (const ns of options.namespaces ?? []) byNamespace.set(ns, []);
  const cluster: PolicyReportResult[] = [];
  for (const check of checks) {
    const results = reportResults(check, options);
    const ns = check.workload.namespace;
    if (!ns) cluster.push(...results);
    else byNamespace.set(ns, [...(byNamespace.get(ns) ?? []), ...results]);
  }
  const reports = [...byNamespace.entries()]
    .sort(([a], [b]) => a.localeCompare(b))
    .map(([ns, results]) => report('PolicyReport', REPORT_NAME, results, options.maxResults, ns));
  reports.push(report('ClusterPolicyReport', CLUSTER_REPORT_NAME, cluster, options.maxResults));
  return reports;
}

function report(
  kind: PolicyReport['kind'],
  name: string,
  all: readonly PolicyReportResult[],
  maxResults = DEFAULT_MAX_RESULTS,
  namespace?: string,
): PolicyReport {
  const summary = emptySummary();
  for (const r of all) summary[r.result] += 1;
  const ordered = [...all].sort(
    (a, b) =>
      RANK[a.result] - RANK[b.result] ||
      refName(a).localeCompare(refName(b)) ||
      a.policy.localeCompare(b.policy) ||
      (a.properties.image ?? '').localeCompare(b.properties.image ?? ''),
  );
  const kept = ordered.slice(0, Math.max(0, maxResults));
  const dropped = all.length - kept.length;
  return {
    apiVersion: REPORT_API_VERSION,
    kind,
    metadata: {
      name,
      ...(namespace ? { namespace } : {}),
      labels: { 'app.kubernetes.io/managed-by': 'portcullis' },
      ...(dropped > 0 ? { annotations: { [DROPPED_ANNOTATION]: String(dropped) } } : {}),
    },
    summary,
    results: kept,
  };
}

function refName(r: PolicyReportResult): string {
  const w = r.resources[0];
  return w ? `${w.kind}/${w.name}` : '';
}
