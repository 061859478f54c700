/**
 * Audit benchmark: `portcullis audit` of BENCH_AUDIT_WORKLOADS (default 1,000) Deployments over
 * BENCH_AUDIT_IMAGES (default 100) distinct key-signed images (legacy cosign .sig) in the local registry,
 * reached through the fault proxy so registry requests are counted,
 *   cold: a fresh registry client and decider (connections, tokens, caches all empty);
 *   warm: a second audit in the same process, same registry client (a full re-verification: tags
 *         resolved and signatures fetched again, no verdict cache);
 * beside a baseline measured in the same run: the same distinct images verified one by one, sequentially,
 * as `portcullis verify IMAGE` would (one decision each, no dedupe, no concurrency).
 *
 * Then the tags case: the same workloads, each image run under BENCH_AUDIT_TAGS (default 4) tags of its
 * one digest, audited with the run's evidence memo (as `portcullis audit` does) and without it (before
 * it existed): requests, decisions and digests of each.
 *
 * Last, the controller: the same workloads as running Pods (1 per Deployment) served by the THIN STUB
 * of the Kubernetes API server (test/kubernetes/stub-apiserver.ts), one resync with a fresh client and
 * one after it: what `portcullis controller` spends per full re-verification, reports written included.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { createDecider } from '../src/app/decide.ts';
import { inventoryFromObjects } from '../src/audit/inventory.ts';
import { auditWorkloads } from '../src/audit/run.ts';
import { loadPolicyPaths } from '../src/policy/load.ts';
import { createRegistryClient } from '../src/registry/client.ts';
import { EvidenceMemo } from '../src/app/evidence.ts';
import type { Inventory } from '../src/audit/inventory.ts';
import type { PolicySet } from '../src/policy/model.ts';
import type { RegistryClient } from '../src/registry/client.ts';
import { startRegistry } from '../test/harness/registry.ts';
import { pushSignedImages } from './signed-images.ts';
import { startStubApiServer } from '../test/kubernetes/stub-apiserver.ts';
import { createKubernetesApi } from '../src/kubernetes/api.ts';
import { Controller } from '../src/controller/loop.ts';
import { startFaultProxy } from '../test/harness/fault-proxy.ts';

const env = (name: string, fallback: number) => Number(process.env[name] ?? fallback);
const WORKLOADS = env('BENCH_AUDIT_WORKLOADS', 1000);
const IMAGES = env('BENCH_AUDIT_IMAGES', 100);
const TAGS = env('BENCH_AUDIT_TAGS', 4);

export async function runAuditBench(log: (line: string) => void = () => {}): Promise<string> {
  const registry = await startRegistry();
  const proxy = await startFaultProxy(registry.url);
  try {
    log(`pushing and signing ${IMAGES} images ...`);
    const signed = await pushSignedImages(registry.host, IMAGES, { seed: 'audit-bench', tags: TAGS });
    const images = signed.repositories.map((r) => `${proxy.host}/${r}`);
    const dir = signed.policyDir;
    const loaded = await loadPolicyPaths([dir]);
    if (!loaded.ok) throw new Error('the bench policy does not load');
    const policySet = loaded.policySet;
    const inventoryOf = (tagOf: (i: number) => number) =>
      inventoryFromObjects(
        Array.from({ length: WORKLOADS }, (_, i) => ({
          apiVersion: 'apps/v1',
          kind: 'Deployment',
          metadata: { name: `app-${i}`, namespace: `team-${i % 20}`, labels: { app: `app-${i}` } },
          spec: {
            template: {
              spec: { containers: [{ name: 'app', image: `${images[i % IMAGES]!}:v${tagOf(i)}` }] },
            },
          },
        })),
      );
    const inventory = inventoryOf(() => 1);
    const tagged = inventoryOf((i) => (Math.floor(i / IMAGES) % Math.max(1, TAGS)) + 1);

    const client = createRegistryClient({ insecureRegistries: [proxy.host] });
    const run = (label: string, inv: Inventory, memo: boolean) =>
      timedAudit(label, inv, policySet, client, memo, proxy, log);
    const cold = await run('cold audit', inventory, true);
    const warm = await run('warm audit', inventory, true);
    const taggedShared = await run(`${TAGS} tags per digest, shared evidence`, tagged, true);
    const taggedApart = await run(`${TAGS} tags per digest, no evidence memo`, tagged, false);
    await client.close();

    // Baseline: one `portcullis verify` per distinct image, one after another, a fresh client as verify has.
    const baseClient = createRegistryClient({ insecureRegistries: [proxy.host] });
    const baseDecider = createDecider(policySet, { offline: false, registry: baseClient, timeoutMs: 30_000 });
    const start = performance.now();
    for (const base of images) {
      const image = `${base}:v1`;
      const d = await baseDecider.decide(image);
      if (!d.allowed) throw new Error(`baseline: ${image} denied: ${d.reasons.join('; ')}`);
    }
    const baseline = performance.now() - start;
    await baseClient.close();

    const controller = await timedResyncs(images, policySet, proxy, log);

    const per = (ms: number) => `${((ms / WORKLOADS) * 1000).toFixed(0)} µs/workload`;
    const figures = (r: Timed) =>
      `${r.ms.toFixed(0)} ms (${per(r.ms)}), ${r.requests} requests, ${r.decisions} decisions, ${r.digests} digests`;
    return [
      `audit: ${WORKLOADS} workloads over ${IMAGES} distinct key-signed images (local registry, via a counting proxy)`,
      `  cold audit (fresh client):           ${figures(cold)}`,
      `  warm audit (same process, re-verify): ${figures(warm)}`,
      `  baseline, ${IMAGES} images verified one by one: ${baseline.toFixed(0)} ms`,
      `  ratio cold / baseline: ${(cold.ms / baseline).toFixed(2)}, warm / baseline: ${(warm.ms / baseline).toFixed(2)}`,
      `  ${TAGS} tags per digest, shared evidence (warm client): ${figures(taggedShared)}`,
      `  ${TAGS} tags per digest, no evidence memo (warm client): ${figures(taggedApart)}`,
      `  requests shared / apart: ${(taggedShared.requests / taggedApart.requests).toFixed(2)}`,
      `controller: ${WORKLOADS} running pods over ${IMAGES} images (API server stub), full resyncs with reports`,
      `  first resync (fresh client): ${controller.cold.ms.toFixed(0)} ms (${per(controller.cold.ms)}), ${controller.cold.requests} registry requests`,
      `  next resync (re-verify):     ${controller.warm.ms.toFixed(0)} ms (${per(controller.warm.ms)}), ${controller.warm.requests} registry requests`,
      `  ratio first resync / baseline: ${(controller.cold.ms / baseline).toFixed(2)}, next / baseline: ${(controller.warm.ms / baseline).toFixed(2)}`,
    ].join('\n');
  } finally {
    await proxy.stop();
    await registry.stop();
  }
}

interface Timed {
  readonly ms: number;
  readonly requests: number;
  readonly decisions: number;
  readonly digests: number;
}

/** One audit run as `portcullis audit` makes it: a fresh evidence memo per run (or none, to compare). */
async function timedAudit(
  label: string,
  inventory: Inventory,
  policySet: PolicySet,
  client: RegistryClient,
  memo: boolean,
  proxy: { readonly requests: readonly unknown[]; clearRequests(): void },
  log: (line: string) => void,
): Promise<Timed> {
  const decider = createDecider(policySet, {
    offline: false,
    registry: client,
    timeoutMs: 30_000,
    ...(memo ? { evidence: new EvidenceMemo() } : {}),
  });
  proxy.clearRequests();
  const start = performance.now();
  const result = await auditWorkloads(inventory, decider, { policySet });
  const ms = performance.now() - start;
  const requests = proxy.requests.length;
  const denied = result.workloads.filter((w) => w.verdict !== 'allow').length;
  const { decisions, digests } = result.stats;
  log(`  ${label}: ${ms.toFixed(0)} ms, ${requests} requests, ${decisions} decisions, ${digests} digests`);
  if (denied > 0) throw new Error(`${label}: ${denied} workloads not allowed; the bench setup is wrong`);
  return { ms, requests, decisions, digests };
}

/** Two full resyncs of the controller over the same workloads as pods; throws if any is not compliant. */
async function timedResyncs(
  images: readonly string[],
  policySet: PolicySet,
  proxy: { readonly host: string; readonly requests: readonly unknown[]; clearRequests(): void },
  log: (line: string) => void,
): Promise<{ cold: { ms: number; requests: number }; warm: { ms: number; requests: number } }> {
  const stub = await startStubApiServer();
  const dir = await mkdtemp(join(tmpdir(), 'portcullis-bench-controller-'));
  const client = createRegistryClient({ insecureRegistries: [proxy.host] });
  try {
    for (let i = 0; i < WORKLOADS; i++)
      stub.putPod(`team-${i % 20}`, `app-${i}-0`, {
        containers: [{ name: 'app', image: `${images[i % IMAGES]!}:v1` }],
      });
    const controller = new Controller({
      api: createKubernetesApi({ kubeconfig: await stub.writeKubeconfig(dir), requestTimeoutMs: 30_000 }),
      policies: () => policySet,
      makeDecider: (set, evidence) =>
        createDecider(set, { offline: false, registry: client, timeoutMs: 30_000, evidence }),
      intervalMs: 3_600_000,
    });
    const resync = async (label: string) => {
      proxy.clearRequests();
      const start = performance.now();
      const r = await controller.resync();
      const ms = performance.now() - start;
      const failing = controller.checks.filter((c) => !c.decision?.allowed).length;
      log(
        `  controller ${label}: ${ms.toFixed(0)} ms, ${proxy.requests.length} requests, ${r.reports} reports`,
      );
      if (failing > 0 || r.problems.length > 0)
        throw new Error(
          `controller ${label}: ${failing} failing, ${r.problems.join('; ')}; the bench setup is wrong`,
        );
      return { ms, requests: proxy.requests.length };
    };
    return { cold: await resync('first resync'), warm: await resync('next resync') };
  } finally {
    await client.close();
    await stub.close();
    await rm(dir, { recursive: true, force: true });
  }
}
