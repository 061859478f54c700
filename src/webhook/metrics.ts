/**
 * Prometheus metrics of the webhook, on a registry of its own (not prom-client's global one), so two
 * servers in one process (tests) do not share counters. Label values are bounded: routes and codes
 * are ours, policy names come from the loaded set (admin-controlled), never from requests.
 */
import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from 'prom-client';
import type { AuditRecord } from './audit.ts';

export class WebhookMetrics {
  readonly registry = new Registry();
  readonly requests = new Counter({
    name: 'portcullis_webhook_requests_total',
    help: 'HTTP requests answered, by route and status code',
    labelNames: ['route', 'code'] as const,
    registers: [this.registry],
  });
  readonly duration = new Histogram({
    name: 'portcullis_webhook_request_duration_seconds',
    help: 'Time to answer a request, by route',
    labelNames: ['route'] as const,
    buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 9, 10],
    registers: [this.registry],
  });
  readonly reviews = new Counter({
    name: 'portcullis_webhook_reviews_total',
    help: 'Admission and image reviews, by webhook and verdict (allow, warn, deny, skip)',
    labelNames: ['webhook', 'verdict'] as const,
    registers: [this.registry],
  });
  readonly decisions = new Counter({
    name: 'portcullis_webhook_policy_decisions_total',
    help: 'Per image and matching policy: the policy verdict (pass, fail), by policy and mode; policy "(none)" when no policy matched, "(error)" when no decision was reached',
    labelNames: ['policy', 'mode', 'verdict'] as const,
    registers: [this.registry],
  });
  readonly policiesLoaded = new Gauge({
    name: 'portcullis_policies_loaded',
    help: 'Policies in the set in force (0 before the first successful load)',
    registers: [this.registry],
  });
  readonly policyReloads = new Counter({
    name: 'portcullis_policy_reloads_total',
    help: 'Policy reloads, by result (loaded, unchanged, rejected)',
    labelNames: ['result'] as const,
    registers: [this.registry],
  });
  readonly registryRequests = new Counter({
    name: 'portcullis_registry_requests_total',
    help: 'HTTP exchanges with registries, by host and status (error: no answer); hosts beyond the first 100 seen are counted as "other"',
    labelNames: ['host', 'status'] as const,
    registers: [this.registry],
  });
  readonly #registryHosts = new Set<string>();

  /** Workload images name any host they like: bound the label values a client can create. */
  recordRegistryResponse(host: string, status: number | 'error'): void {
    if (!this.#registryHosts.has(host) && this.#registryHosts.size < 100) this.#registryHosts.add(host);
    this.registryRequests.inc({
      host: this.#registryHosts.has(host) ? host : 'other',
      status: String(status),
    });
  }
  readonly tlsReloads = new Counter({
    name: 'portcullis_tls_reloads_total',
    help: 'Certificate reloads, by result (loaded, rejected)',
    labelNames: ['result'] as const,
    registers: [this.registry],
  });

  constructor(options: { defaultMetrics?: boolean } = {}) {
    if (options.defaultMetrics !== false) collectDefaultMetrics({ register: this.registry });
  }

  /** Exposes the caches' own counters (read at scrape time, so the caches stay free of metrics code). */
  observeCaches(
    caches: Readonly<Record<string, { readonly stats: { hits: number; misses: number; coalesced: number } }>>,
  ): void {
    const lookups = new Gauge({
      name: 'portcullis_cache_lookups',
      help: 'Cache lookups since start, by cache (verdicts, tags) and result (hit, miss, coalesced)',
      labelNames: ['cache', 'result'] as const,
      registers: [this.registry],
      collect() {
        for (const [cache, { stats }] of Object.entries(caches)) {
          this.set({ cache, result: 'hit' }, stats.hits);
          this.set({ cache, result: 'miss' }, stats.misses);
          this.set({ cache, result: 'coalesced' }, stats.coalesced);
        }
      },
    });
    void lookups;
  }

  record(audit: AuditRecord): void {
    this.reviews.inc({ webhook: audit.webhook, verdict: audit.verdict });
    for (const image of audit.images) {
      if (image.verdict === 'error') {
        this.decisions.inc({ policy: '(error)', mode: 'enforce', verdict: 'fail' });
        continue;
      }
      if (image.policies.length === 0) {
        this.decisions.inc({
          policy: '(none)',
          mode: image.mode ?? 'enforce',
          verdict: image.verdict === 'deny' ? 'fail' : 'pass',
        });
      }
      for (const p of image.policies)
        this.decisions.inc({ policy: p.name, mode: p.mode, verdict: p.verdict });
    }
  }
}
