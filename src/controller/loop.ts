/**
 * Continuous re-verification: a periodic full resync of every Pod's images plus a watch on Pods so new
 * or changed ones are verified promptly. Each verification uses a decider the caller builds WITHOUT the
 * admission verdict cache (`deciderFor()` is called once per resync), so signatures and attestations are
 * fetched again: a verdict remembered from admission is not a re-verification.
 *
 * Per (workload, image) the loop remembers whether it was failing; a newly failing one gets a Warning
 * Event on the workload and a `dev.portcullis.violation` notification, one that passes again a Normal
 * Event and a `dev.portcullis.recovery` notification. After every change the namespace's PolicyReport
 * is rewritten and the `portcullis_noncompliant_workloads` gauge recomputed.
 *
 * Failures of the API server or of the receiver of notifications are logged and counted, never fatal:
 * the next resync starts from a fresh list.
 */
import type { ControllerApi, Pod, WatchEvent } from '../kubernetes/api.ts';
import type { PolicySet } from '../policy/model.ts';
import type { RegistryClient } from '../registry/client.ts';
import { mapLimit } from '../util/map-limit.ts';
import { KubernetesApiError } from '../kubernetes/api.ts';
import { findingsOf, violations, workloadKey, worseThan, type Finding, type ImageCheck } from './findings.ts';
import { buildReports, type PolicyReport } from './reports.ts';
import { workloadEvent, type Transition } from './events.ts';
import { RECOVERY_TYPE, VIOLATION_TYPE, type CloudEventNotifier } from './notify.ts';
import type { ControllerMetrics } from './metrics.ts';
import { podWorkload, type PodWorkload } from './workloads.ts';
import { VerificationRound, type MakeDecider, type Target } from './round.ts';
import { pause } from '../util/pause.ts';

export type Log = (
  level: 'info' | 'warn' | 'error',
  message: string,
  fields?: Record<string, unknown>,
) => void;

export interface ControllerOptions {
  readonly api: ControllerApi;
  /**
   * The whole policy set in force now (namespaced policies included), read at the start of every round
   * so a reloaded set applies from the next one; undefined until one has loaded.
   */
  readonly policies: () => PolicySet | undefined;
  /** A decider with NO verdict or tag cache (a round is a re-verification); one per namespace scope. */
  readonly makeDecider: MakeDecider;
  /**
   * The registry client holding a pod's pull secrets (its own and its service account's), so a private
   * image is verified with what the kubelet pulls it with; absent or undefined: the static client.
   */
  readonly credentials?: PodCredentials;
  /** Between the end of one resync and the start of the next. */
  readonly intervalMs: number;
  readonly metrics?: ControllerMetrics;
  readonly notifier?: CloudEventNotifier;
  /** Results kept per report (reports.ts). */
  readonly maxResults?: number;
  /** Images verified at once. Default 8. */
  readonly concurrency?: number;
  readonly now?: () => Date;
  readonly log?: Log;
  /** Wait before watching again after a watch failed. Default 5 s. */
  readonly watchRetryMs?: number;
  /** Told every check after each full resync (the audit trail), with the policy set it used. */
  readonly onResync?: (checks: readonly ImageCheck[], time: Date, policySet: PolicySet) => void;
}

export type PodCredentials = (
  pod: Pod,
) => Promise<{ readonly registry?: RegistryClient; readonly problem?: string } | undefined>;

export interface ResyncResult {
  readonly pods: number;
  readonly workloads: number;
  /** Distinct images verified (each once, however many workloads run it). */
  readonly images: number;
  readonly violations: number;
  readonly recoveries: number;
  readonly reports: number;
  /** API writes that failed (reports, events), with why. */
  readonly problems: readonly string[];
}

interface Entry {
  readonly check: ImageCheck;
  readonly findings: readonly Finding[];
  readonly failures: readonly Finding[];
}

export class Controller {
  readonly #o: ControllerOptions;
  readonly #log: Log;
  #state = new Map<string, Entry>();
  /** Namespaces a report was written for: they get an empty one once their workloads are gone. */
  readonly #reported = new Set<string>();
  /** Images of each pod as last verified, so a status-only MODIFIED event costs nothing. */
  readonly #podImages = new Map<string, string>();
  #serial: Promise<unknown> = Promise.resolve();
  #resourceVersion = '';
  /** The signal of `run`: once it aborts (the lease was lost), verifications in flight write nothing. */
  #running: AbortSignal | undefined;
  /** Cuts the wait before the next resync short (a new policy set). */
  #wake = new AbortController();

  constructor(options: ControllerOptions) {
    this.#o = options;
    this.#log = options.log ?? (() => {});
  }

  /** The last verification of each (workload, image). */
  get checks(): ImageCheck[] {
    return [...this.#state.values()].map((e) => e.check);
  }

  /** Lists every Pod, verifies each distinct image once, and replaces everything known. */
  resync(): Promise<ResyncResult> {
    return this.#exclusive(() => this.#resync());
  }

  /** Verifies one pod's images now (what the watch does for a new or changed pod). */
  verifyPod(pod: Pod): Promise<void> {
    return this.#exclusive(async () => {
      await this.#verifyPod(pod);
    });
  }

  /**
   * Starts the next resync now instead of at the end of the interval: after a policy reload, what runs
   * must be judged by the new set without waiting up to `intervalMs`. A resync in progress finishes
   * with the set it started with and another follows.
   */
  resyncSoon(): void {
    this.#wake.abort();
  }

  /** Resync every `intervalMs` and watch Pods in between, until the signal aborts. */
  async run(signal: AbortSignal): Promise<void> {
    this.#running = signal;
    const watching = this.#watchLoop(signal);
    while (!signal.aborted) {
      try {
        const r = await this.resync();
        this.#log('info', 'resync done', { ...r, problems: r.problems.length });
        for (const problem of r.problems) this.#log('warn', problem);
      } catch (error) {
        this.#log('error', `resync failed: ${(error as Error).message}`);
      }
      if (!this.#wake.signal.aborted)
        await pause(this.#o.intervalMs, AbortSignal.any([signal, this.#wake.signal]));
      this.#wake = new AbortController();
    }
    await watching;
    await this.#o.notifier?.flush();
  }

  #exclusive<T>(job: () => Promise<T>): Promise<T> {
    const run = this.#serial.then(job, job);
    this.#serial = run.catch(() => {});
    return run;
  }

  /** A round with the policy set in force now; none loaded yet is an error, never a pass. */
  #round(): VerificationRound {
    const policySet = this.#o.policies();
    if (!policySet) throw new Error('no policy set is loaded yet; nothing was verified');
    return new VerificationRound(policySet, this.#o.makeDecider, async (namespace) => {
      const found = await this.#o.api.getNamespace(namespace);
      return found ? (found.metadata.labels ?? {}) : undefined;
    });
  }

  async #resync(): Promise<ResyncResult> {
    let list;
    let round;
    try {
      round = this.#round();
      list = await this.#o.api.listPods();
    } catch (error) {
      this.#o.metrics?.resyncs.inc({ result: 'error' });
      throw error;
    }
    this.#resourceVersion = list.resourceVersion;
    const pods = list.items.map((pod) => podWorkload(pod));
    this.#podImages.clear();
    list.items.forEach((pod, i) => this.#podImages.set(podKey(pod), pods[i]!.images.join('\n')));
    const now = this.#now();
    const next = await this.#checksOf(round, pods, now);
    const problems: string[] = [...round.problems];
    this.#stillLeading();
    const { violations: v, recoveries } = await this.#transitions(next, undefined, problems);
    this.#state = next;
    const namespaces = new Set([...this.#reported, ...namespacesOf(next.values())]);
    const reports = await this.#writeReports(namespaces, problems, 'background');
    this.#updateGauge();
    this.#o.onResync?.(this.checks, now, round.policySet);
    this.#o.metrics?.resyncs.inc({ result: 'ok' });
    return {
      pods: list.items.length,
      workloads: new Set(pods.map((p) => workloadKey(p.workload))).size,
      images: new Set(pods.flatMap((p) => p.images)).size,
      violations: v,
      recoveries,
      reports,
      problems,
    };
  }

  async #verifyPod(pod: Pod): Promise<void> {
    const round = this.#round();
    const found = podWorkload(pod);
    const changed = await this.#checksOf(round, [found], this.#now());
    const problems: string[] = [...round.problems];
    this.#stillLeading();
    await this.#transitions(changed, this.#state, problems);
    for (const [k, e] of changed) this.#state.set(k, e);
    this.#podImages.set(podKey(pod), found.images.join('\n'));
    const ns = found.workload.namespace;
    if (ns) await this.#writeReports(new Set([ns]), problems, 'watch');
    this.#updateGauge();
    for (const p of problems) this.#log('warn', p);
  }

  /**
   * One entry per (workload, image). Pods of one workload may differ in labels (a rollout in progress),
   * and so in the policies that apply: the entry keeps the worst of their results.
   */
  async #checksOf(
    round: VerificationRound,
    pods: readonly PodWorkload[],
    now: Date,
  ): Promise<Map<string, Entry>> {
    const clients = await this.#clientsOf(pods, round.problems);
    const targets: (Target & { readonly path?: string })[] = pods.flatMap((p, i) =>
      p.images.map((image) => ({
        image,
        workload: p.workload,
        labels: p.labels,
        ...(clients[i] ? { registry: clients[i] } : {}),
        ...(p.paths.has(image) ? { path: p.paths.get(image)! } : {}),
      })),
    );
    const decided = await round.decideAll(targets, this.#o.concurrency);
    const next = new Map<string, Entry>();
    targets.forEach((t, i) => {
      const key = `${workloadKey(t.workload)}|${t.image}`;
      const candidate = entry({
        workload: t.workload,
        image: t.image,
        ...(t.path ? { path: t.path } : {}),
        ...decided[i]!,
        checkedAt: now,
      });
      const known = next.get(key);
      if (!known || worseThan(candidate.failures, known.failures)) next.set(key, candidate);
    });
    const problems = new Map<string, { workload: PodWorkload['workload']; problems: string[] }>();
    for (const p of pods) {
      if (p.problems.length === 0) continue;
      const key = workloadKey(p.workload);
      const w = problems.get(key) ?? { workload: p.workload, problems: [] };
      w.problems.push(...p.problems);
      problems.set(key, w);
    }
    for (const [key, w] of problems) {
      const image = '(unreadable pod spec)';
      next.set(
        `${key}|${image}`,
        entry({ workload: w.workload, image, error: w.problems.join('; '), checkedAt: now }),
      );
    }
    return next;
  }

  /** Each pod's pull-secret client; secrets that cannot be read are a problem, and the static client is used. */
  async #clientsOf(
    pods: readonly PodWorkload[],
    problems: string[],
  ): Promise<(RegistryClient | undefined)[]> {
    const credentials = this.#o.credentials;
    if (!credentials) return pods.map(() => undefined);
    const seen = new Set<string>();
    return mapLimit(pods, 8, async (p) => {
      try {
        const found = await credentials(p.pod);
        if (found?.problem !== undefined && !seen.has(found.problem)) {
          seen.add(found.problem);
          problems.push(`registry credentials of ${podKey(p.pod)}: ${found.problem}`);
        }
        return found?.registry;
      } catch (error) {
        problems.push(`registry credentials of ${podKey(p.pod)}: ${(error as Error).message}`);
        return undefined;
      }
    });
  }

  /** Events and notifications for what changed against `previous` (default the known state). */
  async #transitions(
    next: ReadonlyMap<string, Entry>,
    previous: ReadonlyMap<string, Entry> | undefined,
    problems: string[],
  ): Promise<{ violations: number; recoveries: number }> {
    const before = previous ?? this.#state;
    let violationCount = 0;
    let recoveries = 0;
    for (const [key, e] of next) {
      const was = before.get(key);
      const failing = e.failures.length > 0;
      const wasFailing = (was?.failures.length ?? 0) > 0;
      let transition: Transition | undefined;
      if (failing && !wasFailing) transition = 'violation';
      else if (!failing && wasFailing) transition = 'recovery';
      if (!transition) continue;
      if (transition === 'violation') violationCount += 1;
      else recoveries += 1;
      this.#o.metrics?.transitions.inc({ transition });
      await this.#announce(transition, e, transition === 'violation' ? e.failures : was!.failures, problems);
    }
    return { violations: violationCount, recoveries };
  }

  async #announce(transition: Transition, e: Entry, failures: readonly Finding[], problems: string[]) {
    const { workload, image, decision } = e.check;
    const now = this.#now();
    this.#stillLeading();
    if (workload.namespace) {
      try {
        await this.#o.api.createEvent(
          workload.namespace,
          workloadEvent(transition, workload, image, transition === 'violation' ? failures : [], now),
        );
      } catch (error) {
        problems.push(`event on ${workloadKey(workload)}: ${(error as Error).message}`);
      }
    }
    this.#o.notifier?.send(
      transition === 'violation' ? VIOLATION_TYPE : RECOVERY_TYPE,
      workloadKey(workload),
      {
        workload,
        image,
        ...(decision?.digest ? { digest: decision.digest } : {}),
        findings: (transition === 'violation' ? failures : e.findings).map((f) => ({
          policy: f.policy,
          rule: f.rule,
          result: f.result,
          message: f.message,
        })),
        ...(transition === 'recovery'
          ? { previously: failures.map((f) => ({ policy: f.policy, rule: f.rule })) }
          : {}),
      },
      now,
    );
  }

  async #writeReports(namespaces: ReadonlySet<string>, problems: string[], process: string): Promise<number> {
    const checks = [...this.#state.values()]
      .map((e) => e.check)
      .filter((c) =>
        c.workload.namespace ? namespaces.has(c.workload.namespace) : process === 'background',
      );
    let reports: PolicyReport[] = buildReports(checks, {
      namespaces,
      process,
      ...(this.#o.maxResults !== undefined ? { maxResults: this.#o.maxResults } : {}),
    });
    // A watched pod touches only its namespace; the cluster report is the resync's.
    if (process !== 'background') reports = reports.filter((r) => r.kind === 'PolicyReport');
    let written = 0;
    for (const report of reports) {
      this.#stillLeading();
      try {
        await this.#o.api.applyPolicyReport(report);
        written += 1;
        if (report.metadata.namespace) this.#reported.add(report.metadata.namespace);
      } catch (error) {
        problems.push(
          `${report.kind} ${report.metadata.namespace ?? ''}/${report.metadata.name}: ${(error as Error).message}`,
        );
      }
    }
    return written;
  }

  #updateGauge(): void {
    const metrics = this.#o.metrics;
    if (!metrics) return;
    const counted = new Map<string, { namespace: string; policy: string; workloads: number }>();
    const seen = new Set<string>();
    for (const e of this.#state.values()) {
      const namespace = e.check.workload.namespace ?? '';
      const wk = workloadKey(e.check.workload);
      for (const policy of new Set(e.failures.map((f) => f.policy))) {
        // A workload counts once per policy, however many of its images fail it.
        if (seen.has(`${wk}|${policy}`)) continue;
        seen.add(`${wk}|${policy}`);
        const key = `${namespace}|${policy}`;
        const c = counted.get(key) ?? { namespace, policy, workloads: 0 };
        c.workloads += 1;
        counted.set(key, c);
      }
    }
    metrics.setNoncompliant(counted);
  }

  async #watchLoop(signal: AbortSignal): Promise<void> {
    while (!signal.aborted) {
      if (!this.#resourceVersion) {
        // The first resync gives the version to watch from.
        await pause(200, signal);
        continue;
      }
      try {
        await this.#o.api.watchPods(this.#resourceVersion, (event) => this.#onWatch(event), signal);
      } catch (error) {
        if (signal.aborted) break;
        if (error instanceof KubernetesApiError && error.status === 410) {
          // Too old: the next resync lists again and gives a fresh version.
          this.#resourceVersion = '';
        } else {
          this.#log('warn', `pod watch failed: ${(error as Error).message}`);
          await pause(this.#o.watchRetryMs ?? 5_000, signal);
        }
      }
    }
  }

  #onWatch(event: WatchEvent<Pod>): void {
    if (event.type === 'BOOKMARK') {
      this.#resourceVersion = event.resourceVersion;
      return;
    }
    const pod = event.object;
    if (pod.metadata.resourceVersion) this.#resourceVersion = pod.metadata.resourceVersion;
    const key = podKey(pod);
    if (event.type === 'DELETED') {
      // The workload may have other pods: the next resync settles what it runs.
      this.#podImages.delete(key);
      return;
    }
    const found = podWorkload(pod);
    const images = found.images.join('\n');
    if (this.#podImages.get(key) === images) return;
    this.#podImages.set(key, images);
    // Another replica of a workload already verified with these images brings nothing new (the resync
    // re-verifies it): scaling to 1,000 replicas must not cost 1,000 verifications. The watch is for
    // new images, which are verified at once.
    const workload = workloadKey(found.workload);
    const known =
      found.problems.length === 0 &&
      found.images.length > 0 &&
      found.images.every((image) => this.#state.has(`${workload}|${image}`));
    if (known) return;
    this.verifyPod(pod).catch((error: unknown) =>
      this.#log('warn', `verifying pod ${key}: ${(error as Error).message}`),
    );
  }

  /**
   * A round can outlast the lease (a slow registry), and so can its writes (one slow API call after
   * another): checked before EACH write, so nothing is written beside the new leader's, which would
   * double Events and race on reports.
   */
  #stillLeading(): void {
    if (this.#running?.aborted) throw new Error('stopped before writing: this process no longer leads');
  }

  #now(): Date {
    return this.#o.now?.() ?? new Date();
  }
}

function entry(check: ImageCheck): Entry {
  const findings = findingsOf(check);
  return { check, findings, failures: violations(findings) };
}

function namespacesOf(entries: Iterable<Entry>): string[] {
  const out: string[] = [];
  for (const e of entries) if (e.check.workload.namespace) out.push(e.check.workload.namespace);
  return out;
}

function podKey(pod: Pod): string {
  return `${pod.metadata.namespace ?? ''}/${pod.metadata.name}`;
}
