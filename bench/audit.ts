/**
 * Audit benchmark: `portcullis audit` of BENCH_AUDIT_WORKLOADS (default 1,000) Deployments over
 * BENCH_AUDIT_IMAGES (default 100) distinct key-signed images (legacy cosign .sig) in the local registry,
 *   cold: a fresh registry client and decider (connections, tokens, caches all empty);
 *   warm: a second audit in the same process, same registry client (a full re-verification: tags
 *         resolved and signatures fetched again, no verdict cache);
 * beside a baseline measured in the same run: the same distinct images verified one by one, sequentially,
 * as `portcullis verify IMAGE` would (one decision each, no dedupe, no concurrency).
 */
import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { createDecider } from '../src/app/decide.ts';
import { inventoryFromObjects } from '../src/audit/inventory.ts';
import { auditWorkloads } from '../src/audit/run.ts';
import { loadPolicyPaths } from '../src/policy/load.ts';
import { createRegistryClient } from '../src/registry/client.ts';
import { createRegistryPusher } from '../src/registry/push.ts';
import { parseReference } from '../src/reference/index.ts';
import { decryptPrivateKey, generateKeyPair } from '../src/signing/keys.ts';
import { signImage } from '../src/signing/sign.ts';
import { startRegistry } from '../test/harness/registry.ts';
import { buildImage, pushBuilt } from '../test/harness/images.ts';

const env = (name: string, fallback: number) => Number(process.env[name] ?? fallback);
const WORKLOADS = env('BENCH_AUDIT_WORKLOADS', 1000);
const IMAGES = env('BENCH_AUDIT_IMAGES', 100);

export async function runAuditBench(log: (line: string) => void = () => {}): Promise<string> {
  const registry = await startRegistry();
  try {
    log(`pushing and signing ${IMAGES} images ...`);
    const pair = await generateKeyPair('bench');
    const key = await decryptPrivateKey(pair.privatePem, 'bench');
    const setup = createRegistryClient({ insecureRegistries: [registry.host] });
    const pusher = createRegistryPusher({ insecureRegistries: [registry.host] });
    const images: string[] = [];
    for (let i = 0; i < IMAGES; i++) {
      const built = buildImage({ seed: `audit-bench-${i}` });
      await pushBuilt(registry.host, `bench/app-${i}`, built, 'v1');
      await signImage(
        setup,
        pusher,
        key,
        parseReference(`${registry.host}/bench/app-${i}:v1@${built.digest}`),
      );
      images.push(`${registry.host}/bench/app-${i}:v1`);
    }
    await setup.close();

    const dir = await mkdtemp(join(tmpdir(), 'portcullis-bench-audit-'));
    await writeFile(
      join(dir, 'signed.yaml'),
      `apiVersion: portcullis.dev/v1alpha1
kind: ImagePolicy
metadata: {name: signed}
spec:
  images: [{glob: "127.0.0.1:*/**"}]
  rules:
    - name: signed
      signatures:
        authorities:
          - name: release
            key:
              data: |
${pair.publicPem
  .trim()
  .split('\n')
  .map((l) => `                ${l}`)
  .join('\n')}
`,
    );
    const loaded = await loadPolicyPaths([dir]);
    if (!loaded.ok) throw new Error('the bench policy does not load');
    const policySet = loaded.policySet;
    const inventory = inventoryFromObjects(
      Array.from({ length: WORKLOADS }, (_, i) => ({
        apiVersion: 'apps/v1',
        kind: 'Deployment',
        metadata: { name: `app-${i}`, namespace: `team-${i % 20}`, labels: { app: `app-${i}` } },
        spec: { template: { spec: { containers: [{ name: 'app', image: images[i % IMAGES]! }] } } },
      })),
    );

    const client = createRegistryClient({ insecureRegistries: [registry.host] });
    const decider = createDecider(policySet, { offline: false, registry: client, timeoutMs: 30_000 });
    const timed = async (label: string) => {
      const start = performance.now();
      const result = await auditWorkloads(inventory, decider, { policySet });
      const ms = performance.now() - start;
      const denied = result.workloads.filter((w) => w.verdict !== 'allow').length;
      log(`  ${label}: ${ms.toFixed(0)} ms, ${result.stats.decisions} decisions, ${denied} not allowed`);
      if (denied > 0) throw new Error(`${label}: ${denied} workloads not allowed; the bench setup is wrong`);
      return ms;
    };
    const cold = await timed('cold audit');
    const warm = await timed('warm audit');
    await client.close();

    // Baseline: one `portcullis verify` per distinct image, one after another, a fresh client as verify has.
    const baseClient = createRegistryClient({ insecureRegistries: [registry.host] });
    const baseDecider = createDecider(policySet, { offline: false, registry: baseClient, timeoutMs: 30_000 });
    const start = performance.now();
    for (const image of images) {
      const d = await baseDecider.decide(image);
      if (!d.allowed) throw new Error(`baseline: ${image} denied: ${d.reasons.join('; ')}`);
    }
    const baseline = performance.now() - start;
    await baseClient.close();

    const per = (ms: number) => `${((ms / WORKLOADS) * 1000).toFixed(0)} µs/workload`;
    return [
      `audit: ${WORKLOADS} workloads over ${IMAGES} distinct key-signed images (local registry)`,
      `  cold audit (fresh client):           ${cold.toFixed(0)} ms (${per(cold)})`,
      `  warm audit (same process, re-verify): ${warm.toFixed(0)} ms (${per(warm)})`,
      `  baseline, ${IMAGES} images verified one by one: ${baseline.toFixed(0)} ms`,
      `  ratio cold / baseline: ${(cold / baseline).toFixed(2)}, warm / baseline: ${(warm / baseline).toFixed(2)}`,
    ].join('\n');
  } finally {
    await registry.stop();
  }
}
