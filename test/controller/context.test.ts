/**
 * The controller judges a running workload in its Kubernetes context, as admission would: `spec.match`
 * (namespaces, namespace labels, kinds, pod labels) and namespaced policies. Real local registry; THIN
 * STUB of the Kubernetes API server (test/kubernetes/stub-apiserver.ts: no kube-apiserver runs here).
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createDecider } from '../../src/app/decide.ts';
import { loadPolicySet } from '../../src/policy/load.ts';
import type { PolicySet } from '../../src/policy/model.ts';
import { createRegistryClient, type RegistryClient } from '../../src/registry/client.ts';
import { createKubernetesApi } from '../../src/kubernetes/api.ts';
import { Controller } from '../../src/controller/loop.ts';
import { startRegistry, type RunningRegistry } from '../harness/registry.ts';
import { buildImage, pushBuilt } from '../harness/images.ts';
import { startStubApiServer, type StubApiServer } from '../kubernetes/stub-apiserver.ts';

let registry: RunningRegistry;
let stub: StubApiServer;
let client: RegistryClient;
let dir: string;

const POLICIES = `apiVersion: portcullis.dev/v1alpha1
kind: PolicySet
metadata: {name: default}
spec: {noMatch: allow}
---
apiVersion: portcullis.dev/v1alpha1
kind: ImagePolicy
metadata: {name: prod-pinned}
spec:
  match:
    namespaceSelector: {matchLabels: {env: prod}}
  images: [{glob: "**"}]
  rules:
    - {name: by-digest, tags: {requireDigest: true}}
---
apiVersion: portcullis.dev/v1alpha1
kind: ImagePolicy
metadata: {name: frontend-no-latest}
spec:
  match:
    objectSelector: {matchLabels: {tier: frontend}}
  images: [{glob: "**"}]
  rules:
    - {name: no-latest, tags: {forbid: [latest]}}
---
apiVersion: portcullis.dev/v1alpha1
kind: ImagePolicy
metadata: {name: pods-no-beta}
spec:
  match:
    kinds: [Pod]
  images: [{glob: "**"}]
  rules:
    - {name: no-beta, tags: {forbid: [beta]}}
`;

function load(text: string): PolicySet {
  const loaded = loadPolicySet([{ path: 'policies.yaml', text }]);
  assert.ok(loaded.ok, JSON.stringify(!loaded.ok && loaded.diagnostics));
  return loaded.policySet;
}

before(async () => {
  registry = await startRegistry();
  stub = await startStubApiServer();
  client = createRegistryClient({ insecureRegistries: [registry.host] });
  dir = await mkdtemp(join(tmpdir(), 'portcullis-controller-context-'));
  for (const tag of ['v1', 'latest', 'beta'])
    await pushBuilt(registry.host, 'acme/app', buildImage({ seed: `app-${tag}` }), tag);
});

after(async () => {
  await client?.close();
  await stub?.close();
  await registry?.stop();
  if (dir) await rm(dir, { recursive: true, force: true });
});

async function controllerWith(policySet: PolicySet) {
  const api = createKubernetesApi({ kubeconfig: await stub.writeKubeconfig(dir) });
  return new Controller({
    api,
    policies: () => policySet,
    makeDecider: (set, evidence) =>
      createDecider(set, { offline: false, registry: client, timeoutMs: 20_000, evidence }),
    intervalMs: 3_600_000,
  });
}

/** `result policy` of each result in the namespace's report, keyed by workload name. */
function results(namespace: string): Record<string, string[]> {
  const report = stub.report('portcullis', namespace);
  assert.ok(report, `no report in ${namespace}`);
  const out: Record<string, string[]> = {};
  for (const r of report.results as Record<string, unknown>[]) {
    const name = String((r.resources as Record<string, unknown>[])[0]!.name);
    (out[name] ??= []).push(`${String(r.result)} ${String(r.policy)}`);
  }
  for (const list of Object.values(out)) list.sort();
  return out;
}

test('namespace labels, pod labels and kinds select policies as at admission; unreadable namespaces fail closed', async () => {
  const app = (tag: string) => ({ containers: [{ name: 'app', image: `${registry.host}/acme/app:${tag}` }] });
  stub.putNamespace('shop-prod', { env: 'prod' });
  stub.putNamespace('shop-dev', { env: 'dev' });
  // Same tag in both namespaces: only prod requires a digest.
  stub.putPod('shop-prod', 'api', app('v1'));
  stub.putPod('shop-dev', 'api', app('v1'));
  // Pod labels: only the frontend may not run :latest.
  stub.putPod('shop-dev', 'web', app('latest'), undefined, { tier: 'frontend' });
  stub.putPod('shop-dev', 'tool', app('latest'), undefined, { tier: 'batch' });
  // kinds: [Pod] applies to a Deployment's pods too: the pod is admitted as a Pod when recreated.
  stub.putPod('shop-dev', 'beta-5d8c-x1', app('beta'), { kind: 'ReplicaSet', name: 'beta-5d8c' });
  // No such namespace object (its labels cannot be read): the namespaceSelector is assumed to match.
  stub.putPod('shop-ghost', 'api', app('v1'));

  const controller = await controllerWith(load(POLICIES));
  const r = await controller.resync();
  assert.deepEqual(r.problems, []);
  // pods-no-beta (kinds: [Pod]) applies to every pod; it fails only the :beta one.
  assert.deepEqual(results('shop-prod'), { api: ['fail prod-pinned', 'pass pods-no-beta'] });
  assert.deepEqual(results('shop-dev'), {
    api: ['pass pods-no-beta'],
    web: ['fail frontend-no-latest', 'pass pods-no-beta'],
    tool: ['pass pods-no-beta'],
    'beta-5d8c': ['fail pods-no-beta'],
  });
  assert.deepEqual(results('shop-ghost'), { api: ['fail prod-pinned', 'pass pods-no-beta'] });
  const failing = (stub.report('portcullis', 'shop-prod')!.results as Record<string, unknown>[])[0]!;
  assert.match(String(failing.message), /rule by-digest: /);

  // The same set without any selector judges the prod-only rule everywhere (the control for this test).
  const everywhere = load(
    POLICIES.replace(/ {2}match:\n {4}namespaceSelector: \{matchLabels: \{env: prod\}\}\n/, ''),
  );
  await (await controllerWith(everywhere)).resync();
  assert.deepEqual(results('shop-dev').api, ['fail prod-pinned', 'pass pods-no-beta']);

  for (const [ns, name] of [
    ['shop-prod', 'api'],
    ['shop-dev', 'api'],
    ['shop-dev', 'web'],
    ['shop-dev', 'tool'],
    ['shop-dev', 'beta-5d8c-x1'],
    ['shop-ghost', 'api'],
  ] as const)
    stub.deletePod(ns, name);
});

test('a namespaced policy applies only in its own namespace', async () => {
  stub.putNamespace('team-a', {});
  stub.putNamespace('team-b', {});
  stub.putPod('team-a', 'svc', { containers: [{ name: 's', image: `${registry.host}/acme/app:latest` }] });
  stub.putPod('team-b', 'svc', { containers: [{ name: 's', image: `${registry.host}/acme/app:latest` }] });
  const base = load(POLICIES);
  const namespaced = load(`apiVersion: portcullis.dev/v1alpha1
kind: ImagePolicy
metadata: {name: team-a-no-latest}
spec:
  match: {namespaces: [team-a]}
  images: [{glob: "**"}]
  rules:
    - {name: no-latest, tags: {forbid: [latest]}}
`).policies.map((p) => ({ ...p, namespace: 'team-a' }));
  const set: PolicySet = {
    ...base,
    policies: [...base.policies, ...namespaced],
    version: `${base.version}+a`,
  };
  await (await controllerWith(set)).resync();
  assert.deepEqual(results('team-a'), { svc: ['fail team-a-no-latest', 'pass pods-no-beta'] });
  assert.deepEqual(results('team-b'), { svc: ['pass pods-no-beta'] });
  stub.deletePod('team-a', 'svc');
  stub.deletePod('team-b', 'svc');
});
