/**
 * Decisions keep each workload's context for `spec.match`: an image shared by workloads in different
 * namespaces is decided per context when a policy selects on it, and once otherwise. Offline (the rules
 * used need only the reference).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createDecider } from '../../src/app/decide.ts';
import { inventoryFromObjects, workloadName } from '../../src/audit/inventory.ts';
import { auditWorkloads } from '../../src/audit/run.ts';
import { auditRecords } from '../../src/audit/record.ts';
import { loadPolicyPaths } from '../../src/policy/load.ts';
import { PassThrough } from 'node:stream';
import { runAudit } from '../../src/cli/commands/audit.ts';
import { deployment, ownedPod, replicaSet } from './support.ts';

async function policySet(text: string) {
  const dir = await mkdtemp(join(tmpdir(), 'audit-context-'));
  await writeFile(join(dir, 'policy.yaml'), text);
  const loaded = await loadPolicyPaths([dir]);
  assert.ok(loaded.ok, JSON.stringify(loaded));
  return loaded.policySet;
}

const inventory = inventoryFromObjects([
  deployment('a', 'prod', 'other.example/app:1'),
  deployment('b', 'dev', 'other.example/app:1'),
  deployment('c', 'dev', 'other.example/app:1'),
]);

test('a policy matching namespace prod denies the prod workload only; one decision per context', async () => {
  const set = await policySet(`apiVersion: portcullis.dev/v1alpha1
kind: PolicySet
metadata: {name: default}
spec: {noMatch: allow}
---
apiVersion: portcullis.dev/v1alpha1
kind: ImagePolicy
metadata: {name: prod-registries}
spec:
  images: [{glob: "**"}]
  match: {namespaces: [prod]}
  rules:
    - name: trusted
      registries: {allow: [trusted.example]}
`);
  const result = await auditWorkloads(inventory, createDecider(set, { offline: true, timeoutMs: 5000 }), {
    policySet: set,
  });
  assert.deepEqual(
    result.workloads.map((w) => `${workloadName(w.workload)} ${w.verdict}`),
    ['Deployment prod/a deny', 'Deployment dev/b allow', 'Deployment dev/c allow'],
  );
  assert.equal(result.stats.decisions, 3);
  const [prod] = auditRecords(result, new Date(0));
  assert.equal(prod!.time, '1970-01-01T00:00:00.000Z');
  assert.deepEqual(prod!.reasons, [
    'spec.template.spec.containers[0].image: policy prod-registries, rule trusted: registry "other.example" is not in the allowed list [trusted.example]',
  ]);
});

test('without spec.match, the shared image is decided once for all its workloads', async () => {
  const set = await policySet(`apiVersion: portcullis.dev/v1alpha1
kind: ImagePolicy
metadata: {name: registries}
spec:
  images: [{glob: "**"}]
  rules:
    - name: trusted
      registries: {allow: [trusted.example]}
`);
  const result = await auditWorkloads(inventory, createDecider(set, { offline: true, timeoutMs: 5000 }), {
    policySet: set,
  });
  assert.equal(result.stats.decisions, 1);
  assert.ok(result.workloads.every((w) => w.verdict === 'deny'));
});

test('a decider that throws makes the image an error, denied (fail closed)', async () => {
  const set = await policySet(`apiVersion: portcullis.dev/v1alpha1
kind: ImagePolicy
metadata: {name: any}
spec:
  images: [{glob: "**"}]
  rules:
    - name: anywhere
      registries: {deny: [denied.example]}
`);
  const broken = {
    decide: () => Promise.reject(new Error('boom')),
  };
  const result = await auditWorkloads(inventory, broken, { policySet: set });
  assert.ok(result.workloads.every((w) => w.verdict === 'error'));
  const [record] = auditRecords(result);
  assert.equal(record!.verdict, 'deny');
  assert.equal(record!.allowed, false);
  assert.deepEqual(record!.reasons, ['spec.template.spec.containers[0].image: internal error: boom']);
});

const SELECTOR_POLICY = `apiVersion: portcullis.dev/v1alpha1
kind: PolicySet
metadata: {name: default}
spec: {noMatch: allow}
---
apiVersion: portcullis.dev/v1alpha1
kind: ImagePolicy
metadata: {name: pci-registries}
spec:
  images: [{glob: "**"}]
  match:
    namespaceSelector: {matchLabels: {compliance: pci}}
  rules:
    - name: trusted
      registries: {allow: [trusted.example]}
`;

/** A Namespace as `kubectl get ns -o json` prints it (the API server adds the metadata.name label). */
const namespace = (name: string, labels: Record<string, string>) => ({
  apiVersion: 'v1',
  kind: 'Namespace',
  metadata: { name, labels: { 'kubernetes.io/metadata.name': name, ...labels } },
  spec: { finalizers: ['kubernetes'] },
  status: { phase: 'Active' },
});

test('namespaceSelector from a dump with Namespace objects: only the selected namespace is judged; an unknown one fails closed', async () => {
  const set = await policySet(SELECTOR_POLICY);
  const inv = inventoryFromObjects([
    {
      apiVersion: 'v1',
      kind: 'List',
      items: [namespace('payments', { compliance: 'pci' }), namespace('dev', { team: 'web' })],
    },
    deployment('pay', 'payments', 'other.example/app:1'),
    deployment('web', 'dev', 'other.example/app:1'),
    deployment('tool', 'unlisted', 'other.example/app:1'),
  ]);
  assert.deepEqual(
    inv.workloads.map((w) => w.namespaceLabels?.compliance ?? (w.namespaceLabels ? '-' : 'unknown')),
    ['pci', '-', 'unknown'],
  );
  const result = await auditWorkloads(inv, createDecider(set, { offline: true, timeoutMs: 5000 }), {
    policySet: set,
  });
  assert.deepEqual(
    result.workloads.map((w) => `${workloadName(w.workload)} ${w.verdict}`),
    ['Deployment payments/pay deny', 'Deployment dev/web allow', 'Deployment unlisted/tool deny'],
  );
  // Three contexts, namespace labels included in each: three decisions of one image, none with a digest.
  assert.equal(result.stats.decisions, 3);
  assert.equal(result.stats.digests, 0);
  const [pay] = auditRecords(result);
  assert.deepEqual(pay!.reasons, [
    'spec.template.spec.containers[0].image: policy pci-registries, rule trusted: registry "other.example" is not in the allowed list [trusted.example]',
  ]);
});

test('without Namespace objects the labels stay unknown: every namespaceSelector applies (as before)', async () => {
  const set = await policySet(SELECTOR_POLICY);
  const result = await auditWorkloads(inventory, createDecider(set, { offline: true, timeoutMs: 5000 }), {
    policySet: set,
  });
  assert.ok(result.workloads.every((w) => w.verdict === 'deny' && w.workload.namespaceLabels === undefined));
});

test('portcullis audit --from-file: namespaces without a Namespace object are named in a note (fail closed)', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'audit-ns-note-'));
  await writeFile(join(dir, 'policy.yaml'), SELECTOR_POLICY);
  await writeFile(
    join(dir, 'dump.json'),
    JSON.stringify([
      namespace('payments', { compliance: 'pci' }),
      deployment('pay', 'payments', 'trusted.example/app:1'),
      deployment('tool', 'unlisted', 'other.example/app:1'),
    ]),
  );
  const stdout = new PassThrough();
  const stderr = new PassThrough();
  let out = '';
  let err = '';
  stdout.on('data', (c: Buffer) => (out += c.toString()));
  stderr.on('data', (c: Buffer) => (err += c.toString()));
  const code = await runAudit(
    {
      fromFile: [join(dir, 'dump.json')],
      policy: [join(dir, 'policy.yaml')],
      output: 'json',
      offline: true,
      timeout: '5',
    },
    { stdout, stderr, readStdin: async () => '' },
  );
  assert.equal(code, 1, out);
  assert.equal(
    err,
    'portcullis: note: no Namespace object in the files for 1 namespace(s) (unlisted), so every namespaceSelector is assumed to select their workloads; add `kubectl get namespaces -o json` to the dumps\n',
  );
  assert.deepEqual(
    JSON.parse(out).workloads.map((w: { name: string; verdict: string }) => `${w.name} ${w.verdict}`),
    ['pay allow', 'tool deny'],
  );
});

test('a Pod folded into its Deployment is still judged as a Pod: a kinds: [Pod] policy denies the Deployment', async () => {
  const set = await policySet(`apiVersion: portcullis.dev/v1alpha1
kind: PolicySet
metadata: {name: default}
spec: {noMatch: allow}
---
apiVersion: portcullis.dev/v1alpha1
kind: ImagePolicy
metadata: {name: pods-from-trusted}
spec:
  images: [{glob: "**"}]
  match: {kinds: [Pod]}
  rules:
    - name: trusted
      registries: {allow: [trusted.example]}
`);
  const folded = inventoryFromObjects([
    deployment('web', 'prod', 'other.example/app:1'),
    replicaSet('web-7d4', 'prod', 'web', 'other.example/app:1'),
    ownedPod('web-7d4-x1', 'prod', 'web-7d4', 'other.example/app:1'),
  ]);
  // The Pod and the ReplicaSet run what the Deployment says: one workload is reported.
  assert.deepEqual(
    folded.workloads.map((w) => workloadName(w)),
    ['Deployment prod/web'],
  );
  const result = await auditWorkloads(folded, createDecider(set, { offline: true, timeoutMs: 5000 }), {
    policySet: set,
  });
  // Admission judged the Pod by the policy; the audit must not report its Deployment as allowed.
  assert.deepEqual(
    result.workloads.map((w) => `${workloadName(w.workload)} ${w.verdict}`),
    ['Deployment prod/web deny'],
  );
  assert.deepEqual(auditRecords(result, new Date(0))[0]!.reasons, [
    'spec.template.spec.containers[0].image: policy pods-from-trusted, rule trusted: registry "other.example" is not in the allowed list [trusted.example]',
  ]);
});
