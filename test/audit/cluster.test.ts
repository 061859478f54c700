/**
 * Cluster mode against a STUB API server (no kube-apiserver can run here): a HTTPS server on
 * 127.0.0.1 (a test CA, given in the kubeconfig) that serves the list shapes of a real one (`kind: PodList` with items lacking kind and
 * apiVersion, `metadata.continue` paging, a bearer token from the kubeconfig). Nothing else of a real API
 * server (RBAC, field selectors, watches) is implemented.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:https';
import { readFileSync } from 'node:fs';
import { makeCa } from '../webhook/tls.ts';
import type { AddressInfo } from 'node:net';
import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createKubernetesApi, WORKLOAD_RESOURCES } from '../../src/kubernetes/api.ts';
import { inventoryFromCluster, workloadName } from '../../src/audit/inventory.ts';
import { deployment, ownedPod, replicaSet } from './support.ts';
import { PassThrough } from 'node:stream';
import { runAudit } from '../../src/cli/commands/audit.ts';

const TOKEN = 'stub-audit-token';
type Json = Record<string, unknown>;
const stored = new Map<string, Json[]>();
const seen: string[] = [];
let server: Server;
let kubeconfig: string;
let failPath: string | undefined;
/** Namespaces the stub serves at /api/v1/namespaces/NAME (labels), and those it refuses (403). */
const namespaces = new Map<string, Record<string, string>>();
const forbiddenNamespaces = new Set<string>();

const strip = ({ kind: _k, apiVersion: _a, ...rest }: Json) => rest;

before(async () => {
  stored.set(WORKLOAD_RESOURCES.deployments, [strip(deployment('web', 'shop', 'r.example/web:1'))]);
  stored.set(WORKLOAD_RESOURCES.replicasets, [
    strip(replicaSet('web-7d4', 'shop', 'web', 'r.example/web:1')),
  ]);
  // Three pods: two as the template says (folded), one drifted; served one per page.
  stored.set(WORKLOAD_RESOURCES.pods, [
    strip(ownedPod('web-7d4-a', 'shop', 'web-7d4', 'r.example/web:1')),
    strip(ownedPod('web-7d4-b', 'shop', 'web-7d4', 'r.example/web:2')),
    strip(ownedPod('web-7d4-c', 'shop', 'web-7d4', 'r.example/web:1')),
  ]);
  const ca = makeCa();
  const cert = ca.issue('stub-apiserver');
  server = createServer(
    { cert: readFileSync(cert.certFile), key: readFileSync(cert.keyFile) },
    (req, res) => {
      const url = new URL(req.url ?? '/', 'http://stub');
      seen.push(`${url.pathname}${url.search}`);
      if (req.headers.authorization !== `Bearer ${TOKEN}`) {
        res
          .writeHead(401, { 'content-type': 'application/json' })
          .end('{"kind":"Status","code":401,"message":"Unauthorized"}');
        return;
      }
      if (url.pathname === failPath) {
        res.writeHead(403, { 'content-type': 'application/json' });
        res.end(
          '{"kind":"Status","code":403,"message":"jobs.batch is forbidden: User cannot list resource"}',
        );
        return;
      }
      const ns = /^\/api\/v1\/namespaces\/([^/]+)$/.exec(url.pathname)?.[1];
      if (ns !== undefined && forbiddenNamespaces.has(ns)) {
        res.writeHead(403, { 'content-type': 'application/json' });
        res.end(
          `{"kind":"Status","code":403,"message":"namespaces \\"${ns}\\" is forbidden: User cannot get resource"}`,
        );
        return;
      }
      if (ns !== undefined && namespaces.has(ns)) {
        res.writeHead(200, { 'content-type': 'application/json' });
        res.end(
          JSON.stringify({
            kind: 'Namespace',
            apiVersion: 'v1',
            metadata: { name: ns, labels: { 'kubernetes.io/metadata.name': ns, ...namespaces.get(ns) } },
          }),
        );
        return;
      }
      if (!Object.values(WORKLOAD_RESOURCES).includes(url.pathname as never)) {
        res.writeHead(404).end('{"kind":"Status","code":404}');
        return;
      }
      const all = stored.get(url.pathname) ?? [];
      const start = Number(url.searchParams.get('continue') ?? '0');
      const limit = url.pathname === WORKLOAD_RESOURCES.pods ? 1 : Number(url.searchParams.get('limit'));
      const items = all.slice(start, start + limit);
      const next = start + limit < all.length ? String(start + limit) : undefined;
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(
        JSON.stringify({
          kind: 'List',
          apiVersion: 'v1',
          metadata: { resourceVersion: '42', ...(next ? { continue: next } : {}) },
          items,
        }),
      );
    },
  );
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const port = (server.address() as AddressInfo).port;
  const dir = await mkdtemp(join(tmpdir(), 'audit-cluster-'));
  kubeconfig = join(dir, 'kubeconfig');
  await writeFile(
    kubeconfig,
    `apiVersion: v1
kind: Config
clusters: [{name: stub, cluster: {server: "https://127.0.0.1:${port}", certificate-authority-data: ${Buffer.from(ca.caPem).toString('base64')}}}]
users: [{name: auditor, user: {token: ${TOKEN}}}]
contexts: [{name: stub, context: {cluster: stub, user: auditor}}]
current-context: stub
`,
  );
});

after(() => new Promise<void>((r) => server.close(() => r())));

test('cluster mode (stub API): every workload resource listed across namespaces, paged, owners named', async () => {
  failPath = undefined;
  seen.length = 0;
  const inv = await inventoryFromCluster(createKubernetesApi({ kubeconfig }));
  assert.deepEqual(inv.problems, []);
  assert.deepEqual(inv.workloads.map(workloadName), ['Pod shop/web-7d4-b', 'Deployment shop/web']);
  assert.equal(inv.workloads[0]!.apiVersion, 'v1');
  assert.deepEqual(inv.workloads[0]!.owners, [
    { kind: 'ReplicaSet', name: 'web-7d4' },
    { kind: 'Deployment', name: 'web' },
  ]);
  assert.ok(seen.includes('/api/v1/pods?limit=500&continue=2'), seen.join('\n'));
  for (const path of Object.values(WORKLOAD_RESOURCES))
    assert.ok(
      seen.some((s) => s.startsWith(`${path}?`)),
      path,
    );
});

test('cluster mode (stub API): a resource that cannot be listed fails the audit, never a partial one', async () => {
  failPath = WORKLOAD_RESOURCES.jobs;
  await assert.rejects(
    inventoryFromCluster(createKubernetesApi({ kubeconfig })),
    (error: Error & { status?: number }) => {
      assert.equal(error.status, 403);
      assert.match(error.message, /\/apis\/batch\/v1\/jobs\?limit=500: HTTP 403: jobs\.batch is forbidden/);
      return true;
    },
  );
});

test('portcullis audit --kubeconfig (stub API): the cluster audited end to end, offline registry rules', async () => {
  failPath = undefined;
  const dir = await mkdtemp(join(tmpdir(), 'audit-cluster-policy-'));
  await writeFile(
    join(dir, 'policy.yaml'),
    `apiVersion: portcullis.dev/v1alpha1
kind: ImagePolicy
metadata: {name: registries}
spec:
  images: [{glob: "**"}]
  rules:
    - name: trusted
      registries: {allow: [r.example]}
`,
  );
  const stdout = new PassThrough();
  let out = '';
  stdout.on('data', (c: Buffer) => (out += c.toString()));
  const code = await runAudit(
    { kubeconfig, policy: [dir], output: 'json', offline: true, timeout: '30' },
    { stdout, stderr: new PassThrough(), readStdin: async () => '' },
  );
  assert.equal(code, 0, out);
  const report = JSON.parse(out);
  assert.deepEqual(
    report.workloads.map(
      (w: { kind: string; name: string; verdict: string }) => `${w.kind} ${w.name} ${w.verdict}`,
    ),
    ['v1/Pod web-7d4-b allow', 'apps/v1/Deployment web allow'],
  );
  const missing = await runAudit(
    { kubeconfig: join(dir, 'no-kubeconfig'), policy: [dir], output: 'json', offline: true, timeout: '30' },
    { stdout: new PassThrough(), stderr: new PassThrough(), readStdin: async () => '' },
  ).catch((error: Error) => error);
  assert.ok(missing instanceof Error);
  assert.match(
    missing.message,
    /^cannot list the cluster's workloads: cannot load Kubernetes API configuration from .*no-kubeconfig/,
  );
});

test('portcullis audit --kubeconfig (stub API): namespace labels read once per namespace for a namespaceSelector; an unreadable one fails closed with a note', async () => {
  failPath = undefined;
  const deployments = stored.get(WORKLOAD_RESOURCES.deployments)!;
  stored.set(WORKLOAD_RESOURCES.deployments, [
    ...deployments,
    strip(deployment('api', 'shop', 'r.example/api:1')),
    strip(deployment('lab', 'dev', 'r.example/web:1')),
    strip(deployment('vault', 'locked', 'r.example/web:1')),
  ]);
  namespaces.set('shop', { compliance: 'pci' });
  namespaces.set('dev', {});
  forbiddenNamespaces.add('locked');
  try {
    const dir = await mkdtemp(join(tmpdir(), 'audit-cluster-ns-'));
    await writeFile(
      join(dir, 'policy.yaml'),
      `apiVersion: portcullis.dev/v1alpha1
kind: PolicySet
metadata: {name: default}
spec: {noMatch: allow}
---
apiVersion: portcullis.dev/v1alpha1
kind: ImagePolicy
metadata: {name: pci-pinned}
spec:
  images: [{glob: "**"}]
  match:
    namespaceSelector: {matchLabels: {compliance: pci}}
  rules:
    - name: pinned
      tags: {requireDigest: true}
`,
    );
    const stdout = new PassThrough();
    const stderr = new PassThrough();
    let out = '';
    let err = '';
    stdout.on('data', (c: Buffer) => (out += c.toString()));
    stderr.on('data', (c: Buffer) => (err += c.toString()));
    seen.length = 0;
    const code = await runAudit(
      { kubeconfig, policy: [dir], output: 'json', offline: true, timeout: '30' },
      { stdout, stderr, readStdin: async () => '' },
    );
    assert.equal(code, 1, out);
    const report = JSON.parse(out);
    assert.deepEqual(
      report.workloads.map(
        (w: { namespace: string; name: string; verdict: string }) => `${w.namespace}/${w.name} ${w.verdict}`,
      ),
      ['shop/web-7d4-b deny', 'shop/web deny', 'shop/api deny', 'dev/lab allow', 'locked/vault deny'],
    );
    // Each namespace read once, however many workloads it holds.
    assert.deepEqual(seen.filter((p) => p.startsWith('/api/v1/namespaces/')).sort(), [
      '/api/v1/namespaces/dev',
      '/api/v1/namespaces/locked',
      '/api/v1/namespaces/shop',
    ]);
    assert.match(
      err,
      /^portcullis: note: namespace locked: labels unreadable, so every namespaceSelector is assumed to select it: .*HTTP 403: namespaces "locked" is forbidden/m,
    );
    assert.equal(report.problems.length, 0);
  } finally {
    stored.set(WORKLOAD_RESOURCES.deployments, deployments);
    namespaces.clear();
    forbiddenNamespaces.clear();
  }
});

test('cluster mode without a namespaceSelector policy reads no namespace (no extra RBAC asked)', async () => {
  failPath = undefined;
  seen.length = 0;
  const inv = await inventoryFromCluster(createKubernetesApi({ kubeconfig }));
  assert.ok(inv.workloads.every((w) => w.namespaceLabels === undefined));
  assert.deepEqual(
    seen.filter((p) => p.startsWith('/api/v1/namespaces/')),
    [],
  );
});
