/**
 * One round of verification (a full resync, or one watched pod): the policy set in force when the round
 * began, a fresh decider per namespace scope, and each pod's Kubernetes context, so that `spec.match`
 * and namespaced policies judge a running workload exactly as admission judged it. Without the context a
 * policy written for `prod` would be reported as failing in every namespace.
 *
 * The context is the namespace, the pod's labels and the namespace's labels (read once per round), and
 * two kinds: `Pod`, and the workload's kind when it differs (`Deployment`). A running pod comes back
 * through both admissions (its workload when updated, the pod when recreated), so a policy restricted
 * to either kind applies to it; of the two decisions the worse is kept. A namespace that cannot be read leaves its labels unknown,
 * and an unknown selector input counts as matching (src/policy/match.ts): fail closed, never silent.
 *
 * Each distinct image is decided once per round; when some policy selects on the context, once per
 * distinct (image, context).
 */
import type { ImageDecider } from '../app/decide.ts';
import { EvidenceMemo } from '../app/evidence.ts';
import { contextKey, selectsOnContext } from '../app/context.ts';
import type { AdmissionContext } from '../engine/facts.ts';
import { forNamespace } from '../kubernetes/policy-crd.ts';
import type { PolicySet } from '../policy/model.ts';
import type { RegistryClient } from '../registry/client.ts';
import { mapLimit } from '../util/map-limit.ts';
import { findingsOf, violations, worseThan, type ImageCheck, type WorkloadRef } from './findings.ts';

export type Labels = Readonly<Record<string, string>>;

/**
 * A decider for a policy set with NO verdict or tag cache: a round is a re-verification. The round's
 * evidence memo lets its decisions of one digest share what was fetched (src/app/evidence.ts); a new
 * round has a new memo, so nothing fetched outlives it.
 */
export type MakeDecider = (
  policySet: PolicySet,
  evidence: EvidenceMemo,
  /** A client holding the pod's pull secrets; absent: the static one. */
  registry?: RegistryClient,
) => ImageDecider;

export type Decided = Pick<ImageCheck, 'decision' | 'error'>;

/** One image of one pod, where it runs. */
export interface Target {
  readonly image: string;
  readonly workload: WorkloadRef;
  /** The pod's `metadata.labels`. */
  readonly labels: Labels;
  /** A client holding the pod's pull secrets (what the kubelet pulls with); absent: the static one. */
  readonly registry?: RegistryClient;
}

export const ROUND_CONCURRENCY = 8;
/** Namespace label reads in flight at once. */
export const NAMESPACE_READS = 8;

export class VerificationRound {
  readonly policySet: PolicySet;
  readonly #makeDecider: MakeDecider;
  readonly #namespaceLabels: (namespace: string) => Promise<Labels | undefined>;
  readonly #perContext: boolean;
  readonly #deciders = new Map<RegistryClient | undefined, Map<string, ImageDecider>>();
  /** Small numbers for registry clients in decision keys (two pull-secret sets never share a decision). */
  readonly #clientIds = new Map<RegistryClient | undefined, number>();
  readonly evidence = new EvidenceMemo();
  readonly #labels = new Map<string, Promise<Labels | undefined>>();
  /** Namespaces whose labels could not be read, with why (the round's caller logs them). */
  readonly problems: string[] = [];

  constructor(
    policySet: PolicySet,
    makeDecider: MakeDecider,
    namespaceLabels: (namespace: string) => Promise<Labels | undefined>,
  ) {
    this.policySet = policySet;
    this.#makeDecider = makeDecider;
    this.#namespaceLabels = namespaceLabels;
    this.#perContext = selectsOnContext(policySet);
  }

  /** Decisions with equal keys are made once. */
  #keyOf(target: Target, context: AdmissionContext): string {
    let client = this.#clientIds.get(target.registry);
    if (client === undefined) this.#clientIds.set(target.registry, (client = this.#clientIds.size));
    return JSON.stringify([target.image, client, this.#perContext ? contextKey(context) : '']);
  }

  /**
   * Decides every distinct (image, context) once; the results are in the order of `targets`. Never
   * throws: a decider that throws gives an `error`.
   */
  async decideAll(targets: readonly Target[], concurrency = ROUND_CONCURRENCY): Promise<Decided[]> {
    if (this.#perContext) {
      // A few namespace reads at a time: a cluster with thousands of namespaces must not get them at once.
      const namespaces = [
        ...new Set(targets.flatMap((t) => (t.workload.namespace ? [t.workload.namespace] : []))),
      ];
      await mapLimit(namespaces, NAMESPACE_READS, (ns) => this.#labelsOf(ns));
    }
    const perTarget = await Promise.all(targets.map((t) => this.#contextsOf(t)));
    const jobs = new Map<string, { target: Target; context: AdmissionContext }>();
    const keys = perTarget.map((contexts, i) =>
      contexts.map((context) => {
        const key = this.#keyOf(targets[i]!, context);
        if (!jobs.has(key)) jobs.set(key, { target: targets[i]!, context });
        return key;
      }),
    );
    const out = new Map<string, Decided>();
    await mapLimit([...jobs], concurrency, async ([key, { target, context }]) => {
      try {
        const decider = this.#deciderFor(target.workload.namespace, target.registry);
        out.set(key, { decision: await decider.decide(target.image, { context }) });
      } catch (error) {
        out.set(key, { error: `${target.image}: ${(error as Error).message}` });
      }
    });
    return keys.map((ks, i) =>
      worst(
        targets[i]!,
        ks.map((k) => out.get(k)!),
      ),
    );
  }

  #deciderFor(namespace: string | undefined, registry: RegistryClient | undefined): ImageDecider {
    const key = namespace ?? '';
    let byNamespace = this.#deciders.get(registry);
    if (!byNamespace) this.#deciders.set(registry, (byNamespace = new Map()));
    let decider = byNamespace.get(key);
    if (!decider) {
      decider = this.#makeDecider(forNamespace(this.policySet, namespace), this.evidence, registry);
      byNamespace.set(key, decider);
    }
    return decider;
  }

  async #contextsOf(target: Target): Promise<AdmissionContext[]> {
    const { kind, namespace } = target.workload;
    // Labels are only read when some policy could select on them.
    const namespaceLabels = namespace && this.#perContext ? await this.#labelsOf(namespace) : undefined;
    const shared = {
      ...(namespace ? { namespace } : {}),
      labels: target.labels,
      ...(namespaceLabels ? { namespaceLabels } : {}),
    };
    // Without selectors the kind changes nothing: one decision.
    const kinds = this.#perContext && kind !== 'Pod' ? ['Pod', kind] : [kind];
    return kinds.map((k) => ({ kind: k, ...shared }));
  }

  #labelsOf(namespace: string): Promise<Labels | undefined> {
    let found = this.#labels.get(namespace);
    if (!found) {
      found = this.#namespaceLabels(namespace).then(
        (labels) => labels,
        (error: unknown) => {
          this.problems.push(
            `namespace ${namespace}: labels unreadable, so every namespaceSelector is assumed to select it: ${(error as Error).message}`,
          );
          return undefined;
        },
      );
      this.#labels.set(namespace, found);
    }
    return found;
  }
}

/** The decision the workload must answer for: as the loop ranks a workload's pods (findings.ts worseThan). */
function worst(target: Target, decided: readonly Decided[]): Decided {
  const failuresOf = (d: Decided) => violations(findingsOf({ ...target, ...d, checkedAt: new Date(0) }));
  let out = decided[0]!;
  let most = failuresOf(out);
  for (const d of decided.slice(1)) {
    const failures = failuresOf(d);
    if (worseThan(failures, most)) [out, most] = [d, failures];
  }
  return out;
}
