/**
 * Judges every image of an inventory. Each distinct image (canonical reference, plus the workload's
 * context when some policy selects on it) is decided once, however many workloads run it: 1,000 Pods of
 * one Deployment cost one tag resolution and one signature fetch. Two tags of one digest stay two
 * decisions on purpose: tag rules read the reference as written; what they share is the evidence gathered
 * for the digest, when the decider was given the run's EvidenceMemo (src/app/evidence.ts).
 *
 * Fail closed: a decision that throws is an `error` result (denied), and a workload with unreadable parts
 * (`problems`) is denied whatever its readable images say.
 */
import type { AdmissionContext } from '../engine/facts.ts';
import type { PolicySet } from '../policy/model.ts';
import type { ImageDecider } from '../app/decide.ts';
import { contextKey, selectsOnContext } from '../app/context.ts';
import type { PodImage } from '../kubernetes/pod-spec.ts';
import { canonical, parseReference } from '../reference/index.ts';
import { mapLimit } from '../util/map-limit.ts';
import { failureLines } from '../webhook/messages.ts';
import type { ImageResult } from '../webhook/engine.ts';
import type { Inventory, Workload } from './inventory.ts';

export const AUDIT_CONCURRENCY = 8;

/** A decision, or why there is none: either way the image is denied. The webhook's: records share its format. */
export type { ImageResult };

export interface AuditedImage {
  readonly at: PodImage;
  readonly result: ImageResult;
}

export type Verdict = 'allow' | 'warn' | 'deny' | 'error';

export interface AuditedWorkload {
  readonly workload: Workload;
  /** The worst of its images (`deny` also when the workload had unreadable parts). */
  readonly verdict: Verdict;
  readonly images: readonly AuditedImage[];
}

export interface AuditResult {
  readonly policySetVersion: string;
  readonly workloads: readonly AuditedWorkload[];
  /** Inputs that could not be read (from the inventory). */
  readonly problems: readonly string[];
  readonly stats: {
    readonly workloads: number;
    readonly images: number;
    /** Decisions actually made (the rest were shared). */
    readonly decisions: number;
    /** Distinct image digests among those decisions (written or resolved): what evidence was gathered for. */
    readonly digests: number;
  };
}

export interface AuditOptions {
  /** The set the decider was made from (its version is reported; `spec.match` makes decisions per context). */
  readonly policySet: PolicySet;
  readonly concurrency?: number;
  /** Called after each decision (for a progress line). */
  readonly onProgress?: (done: number, total: number) => void;
}

export function verdictOf(result: ImageResult): Verdict {
  return 'error' in result ? 'error' : result.decision.outcome;
}

const RANK: Record<Verdict, number> = { allow: 0, warn: 1, deny: 2, error: 3 };

export function worst(verdicts: Iterable<Verdict>): Verdict {
  let out: Verdict = 'allow';
  for (const v of verdicts) if (RANK[v] > RANK[out]) out = v;
  return out;
}

export function contextOf(w: Workload): AdmissionContext {
  return {
    kind: w.kind,
    ...(w.namespace !== undefined ? { namespace: w.namespace } : {}),
    labels: w.labels,
    ...(w.namespaceLabels ? { namespaceLabels: w.namespaceLabels } : {}),
  };
}

/** Its own context, then each of the objects folded into it: what admission judged it as. */
function contextsOf(w: Workload): AdmissionContext[] {
  const own = contextOf(w);
  return [own, ...(w.admittedAs ?? []).map((as) => ({ ...own, kind: as.kind, labels: as.labels }))];
}

/** The result the workload must answer for: the first with the worst verdict. */
function worstResult(results: readonly ImageResult[]): ImageResult {
  let out = results[0]!;
  for (const r of results) if (RANK[verdictOf(r)] > RANK[verdictOf(out)]) out = r;
  return out;
}

/** The spelling-independent identity of an image string: `nginx` and `docker.io/library/nginx:latest` are one. */
function imageKey(image: string): string {
  try {
    return canonical(parseReference(image));
  } catch {
    return image;
  }
}

export async function auditWorkloads(
  inventory: Inventory,
  decider: ImageDecider,
  options: AuditOptions,
): Promise<AuditResult> {
  const { policySet } = options;
  const perContext = selectsOnContext(policySet);
  // One job per distinct (image, context-if-needed); workloads point at jobs, one per context they were
  // admitted in (their own, and those of the Pods and ReplicaSets folded into them).
  const jobs = new Map<string, { image: string; context: AdmissionContext }>();
  const keys: string[][][] = [];
  for (const w of inventory.workloads) {
    const contexts = perContext ? contextsOf(w) : [contextOf(w)];
    keys.push(
      w.images.map((at) =>
        contexts.map((context) => {
          const key = `${imageKey(at.image)}\u0000${perContext ? contextKey(context) : ''}`;
          if (!jobs.has(key)) jobs.set(key, { image: at.image, context });
          return key;
        }),
      ),
    );
  }
  const entries = [...jobs.entries()];
  let done = 0;
  const results = new Map<string, ImageResult>();
  await mapLimit(entries, options.concurrency ?? AUDIT_CONCURRENCY, async ([key, job]) => {
    let result: ImageResult;
    try {
      result = { decision: await decider.decide(job.image, { context: job.context }) };
    } catch (error) {
      result = { error: `internal error: ${error instanceof Error ? error.message : String(error)}` };
    }
    results.set(key, result);
    options.onProgress?.(++done, entries.length);
  });
  const workloads = inventory.workloads.map((workload, i): AuditedWorkload => {
    const images = workload.images.map((at, j) => ({
      at,
      result: worstResult(keys[i]![j]!.map((key) => results.get(key)!)),
    }));
    const verdicts = images.map((x) => verdictOf(x.result));
    if (workload.problems.length > 0) verdicts.push('deny');
    return { workload, verdict: worst(verdicts), images };
  });
  return {
    policySetVersion: policySet.version,
    workloads,
    problems: inventory.problems,
    stats: {
      workloads: workloads.length,
      images: workloads.reduce((n, w) => n + w.images.length, 0),
      decisions: entries.length,
      digests: distinctDigests(results.values()),
    },
  };
}

function distinctDigests(results: Iterable<ImageResult>): number {
  const digests = new Set<string>();
  for (const r of results) if ('decision' in r && r.decision.digest) digests.add(r.decision.digest);
  return digests.size;
}

/** Why a workload is denied: its unreadable parts, then each denied image's reasons after its path. */
export function deniedReasons(audited: AuditedWorkload): string[] {
  return [
    ...audited.workload.problems,
    ...audited.images.flatMap(({ at, result }) =>
      'error' in result || !result.decision.allowed ? reasonsOf(result).map((r) => `${at.path}: ${r}`) : [],
    ),
  ];
}

/** Reasons of one image result, audit-mode failures included (they are what an audit is for). */
export function reasonsOf(result: ImageResult): string[] {
  if ('error' in result) return [result.error];
  const d = result.decision;
  return [...d.reasons, ...failureLines(d, 'audit', (name) => `policy ${name} (audit)`)];
}
