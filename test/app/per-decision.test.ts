/**
 * One decision lists an image's referrers once, even when a signatures rule and an attestations rule
 * both read them (real registry, requests counted by the proxy).
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { createDecider } from '../../src/app/decide.ts';
import { loadPolicySet } from '../../src/policy/load.ts';
import { createRegistryClient } from '../../src/registry/client.ts';
import { generateKeyPair } from '../../src/signing/keys.ts';
import { startRegistry } from '../harness/registry.ts';
import { startFaultProxy } from '../harness/fault-proxy.ts';
import { buildImage, pushBuilt } from '../harness/images.ts';

let registry: Awaited<ReturnType<typeof startRegistry>>;
let proxy: Awaited<ReturnType<typeof startFaultProxy>>;
const image = buildImage({ seed: 'per-decision' });

before(async () => {
  registry = await startRegistry();
  proxy = await startFaultProxy(registry.url);
  await pushBuilt(registry.host, 'acme/app', image, 'v1');
});
after(async () => {
  await proxy?.stop();
  await registry?.stop();
});

test('signatures and attestations rules share one referrers listing per decision', async () => {
  const { publicPem } = await generateKeyPair('x');
  const indent = (n: number, text: string) =>
    text
      .trim()
      .split('\n')
      .map((l) => ' '.repeat(n) + l)
      .join('\n');
  const authority = (n: number) =>
    [
      `${' '.repeat(n)}- name: release`,
      `${' '.repeat(n)}  key:`,
      `${' '.repeat(n)}    data: |`,
      indent(n + 6, publicPem),
    ].join('\n');
  const text = [
    'apiVersion: portcullis.dev/v1alpha1',
    'kind: ImagePolicy',
    'metadata: {name: p}',
    'spec:',
    '  images: [{glob: "**"}]',
    '  rules:',
    '    - name: signed',
    '      signatures:',
    '        authorities:',
    authority(10),
    '    - name: provenance',
    '      attestations:',
    '        - name: slsa',
    '          predicateType: slsaprovenance1',
    '          authorities:',
    authority(12),
    '',
  ].join('\n');
  const loaded = loadPolicySet([{ path: 'p.yaml', text }]);
  assert.ok(loaded.ok, JSON.stringify(!loaded.ok && loaded.diagnostics));
  const client = createRegistryClient({ insecureRegistries: [proxy.host] });
  const decider = createDecider(loaded.policySet, { offline: false, registry: client, timeoutMs: 10_000 });
  proxy.clearRequests();
  const decision = await decider.decide(`${proxy.host}/acme/app:v1`);
  assert.equal(decision.allowed, false, 'unsigned: both rules fail');
  const referrerLookups = proxy.requests.filter(
    (r) => r.path.includes('/referrers/') || /\/manifests\/sha256-[0-9a-f]{64}$/.test(r.path),
  );
  assert.deepEqual(
    referrerLookups.map((r) => `${r.method} ${r.path.replace(/sha256[-:][0-9a-f]{64}/, 'D')}`),
    [
      'GET /v2/acme/app/referrers/D?artifactType=application%2Fvnd.dev.sigstore.bundle.v0.3%2Bjson',
      'GET /v2/acme/app/manifests/D',
    ],
  );
  await client.close();
});
