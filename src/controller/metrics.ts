/**
 * Prometheus metrics of the controller, on a registry of its own, or on the webhook's under
 * `serve --audit` (one /metrics for the process). Label values are bounded: namespaces are the
 * cluster's, policy names come from the loaded set (plus `(error)` and `(none)`).
 */
import { Counter, Gauge, Registry } from 'prom-client';

export class ControllerMetrics {
  readonly registry: Registry;
  readonly noncompliant: Gauge<'namespace' | 'policy'>;
  readonly resyncs: Counter<'result'>;
  readonly transitions: Counter<'transition'>;

  constructor(registry = new Registry()) {
    this.registry = registry;
    this.noncompliant = new Gauge({
      name: 'portcullis_noncompliant_workloads',
      help: 'Workloads with at least one image failing the policy or not verifiable against it (policy "(error)" when no decision was reached), by namespace and policy, as of the last verification',
      labelNames: ['namespace', 'policy'] as const,
      registers: [registry],
    });
    this.resyncs = new Counter({
      name: 'portcullis_controller_resyncs_total',
      help: 'Full resyncs, by result (ok, error)',
      labelNames: ['result'] as const,
      registers: [registry],
    });
    this.transitions = new Counter({
      name: 'portcullis_controller_transitions_total',
      help: 'Workload images that newly failed (violation) or passed again (recovery)',
      labelNames: ['transition'] as const,
      registers: [registry],
    });
  }

  /** Replaces the gauge's values (series that dropped to zero disappear). */
  setNoncompliant(
    counts: ReadonlyMap<string, { namespace: string; policy: string; workloads: number }>,
  ): void {
    this.noncompliant.reset();
    for (const c of counts.values())
      this.noncompliant.set({ namespace: c.namespace, policy: c.policy }, c.workloads);
  }
}
