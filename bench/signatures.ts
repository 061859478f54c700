/**
 * Signature benchmark: the time to verify one signed image, registry round trips included, against
 * Debian's docker-registry on loopback holding a real third-party signature (skopeo-signed `test/app:v1`,
 * ECDSA key k1, legacy cosign `.sig`).
 *
 * - cold: a fresh registry client and decider for each decision (new connections, nothing cached):
 *   what `portcullis verify` pays once per CLI run;
 * - warm: one decider reused (keep-alive connections; verified manifests cached by digest; the tag is
 *   still resolved by one HEAD each time, as it must be): what a long-running process pays per decision
 *   before any verdict cache (the webhook's verdict cache comes with issue 6).
 * Baseline in the same run: the same decisions under a policy with no signature rule (tag resolution
 * only), so the printed ratio is the cost of fetching and verifying the signature.
 */
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { createDecider } from '../src/app/decide.ts';
import { loadPolicySet } from '../src/policy/load.ts';
import type { PolicySet } from '../src/policy/model.ts';
import { createRegistryClient } from '../src/registry/client.ts';
import { startRegistry } from '../test/harness/registry.ts';
import { startFaultProxy } from '../test/harness/fault-proxy.ts';
import { FIXTURES_DIR, replayRegistryDump } from '../test/harness/fixtures.ts';

const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 20);

interface Series {
  readonly label: string;
  readonly samples: number[];
  readonly requestsPerDecision: number;
}

async function policy(withSignature: boolean): Promise<PolicySet> {
  const key = await readFile(join(FIXTURES_DIR, 'skopeo-signed/keys/k1.pub'), 'utf8');
  const signatureRule = withSignature
    ? `    - name: signed
      signatures:
        authorities:
          - name: k1
            key:
              data: |
${key
  .trim()
  .split('\n')
  .map((l) => `                ${l}`)
  .join('\n')}
`
    : '';
  const text = `apiVersion: portcullis.dev/v1alpha1
kind: ImagePolicy
metadata: {name: bench}
spec:
  images: [{glob: "**"}]
  rules:
    - name: no-latest
      tags: {forbid: [latest]}
${signatureRule}`;
  const result = loadPolicySet([{ path: 'bench.yaml', text }]);
  if (!result.ok) throw new Error(result.diagnostics.map((d) => d.message).join('; '));
  return result.policySet;
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
const p90 = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length * 0.9)]!;

export async function runSignatureBench(log: (line: string) => void = () => {}): Promise<string> {
  const registry = await startRegistry();
  const proxy = await startFaultProxy(registry.url);
  try {
    await replayRegistryDump(registry.host);
    const image = `${proxy.host}/test/app:v1`;
    const series: Series[] = [];
    for (const signed of [true, false]) {
      const set = await policy(signed);
      const open = () => createRegistryClient({ insecureRegistries: [proxy.host] });
      // cold
      const cold: number[] = [];
      proxy.clearRequests();
      for (let i = 0; i < ROUNDS; i++) {
        const client = open();
        const decider = createDecider(set, { offline: false, registry: client, timeoutMs: 30_000 });
        const t0 = performance.now();
        const d = await decider.decide(image);
        cold.push(performance.now() - t0);
        if (!d.allowed) throw new Error(`bench image denied: ${d.reasons.join('; ')}`);
        await client.close();
      }
      const coldRequests = proxy.requests.length / ROUNDS;
      // warm
      const client = open();
      const decider = createDecider(set, { offline: false, registry: client, timeoutMs: 30_000 });
      await decider.decide(image);
      proxy.clearRequests();
      const warm: number[] = [];
      for (let i = 0; i < ROUNDS; i++) {
        const t0 = performance.now();
        await decider.decide(image);
        warm.push(performance.now() - t0);
      }
      const warmRequests = proxy.requests.length / ROUNDS;
      const kinds = new Map<string, number>();
      for (const q of proxy.requests) {
        const path = q.path
          .split('?', 1)[0]!
          .replace(/sha256[-:][0-9a-f]{64}/g, '<digest>')
          .replace(/^\/v2\/[^]*?\/(manifests|blobs|referrers)\//, '$1/');
        const k = `${q.method} ${path}`;
        kinds.set(k, (kinds.get(k) ?? 0) + 1);
      }
      log(`  warm requests per decision: ${[...kinds].map(([k, n]) => `${k} x${n / ROUNDS}`).join(', ')}`);
      await client.close();
      const what = signed ? 'signature (key) verified' : 'baseline: tag rules only';
      series.push({ label: `cold, ${what}`, samples: cold, requestsPerDecision: coldRequests });
      series.push({ label: `warm, ${what}`, samples: warm, requestsPerDecision: warmRequests });
      log(`  ${what}: cold median ${median(cold).toFixed(1)} ms, warm median ${median(warm).toFixed(1)} ms`);
    }
    const rows = series.map(
      (s) =>
        `${s.label.padEnd(40)} ${median(s.samples).toFixed(1).padStart(8)} ${p90(s.samples).toFixed(1).padStart(8)} ${s.requestsPerDecision.toFixed(2).padStart(10)}`,
    );
    const [coldSig, warmSig, coldBase, warmBase] = series.map((s) => median(s.samples));
    return [
      `signatures: verify one signed image (skopeo-signed test/app:v1, key k1, legacy .sig) via local docker-registry, ${ROUNDS} rounds`,
      `${'decision'.padEnd(40)} ${'p50 ms'.padStart(8)} ${'p90 ms'.padStart(8)} ${'requests'.padStart(10)}`,
      `${'-'.repeat(40)} ${'-'.repeat(8)} ${'-'.repeat(8)} ${'-'.repeat(10)}`,
      ...rows,
      `ratio signed/baseline: cold ${(coldSig! / coldBase!).toFixed(2)}x, warm ${(warmSig! / warmBase!).toFixed(2)}x; warm/cold (signed) ${(warmSig! / coldSig!).toFixed(2)}x`,
    ].join('\n');
  } finally {
    await proxy.stop();
    await registry.stop();
  }
}
