/**
 * `portcullis check` gives each image its manifest's kind, namespace and labels, so `spec.match` selects
 * as it will at admission; a manifest that names no namespace keeps namespaced policies (unknown applies).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { cli } from '../cli/run.ts';

const POLICY = `apiVersion: portcullis.dev/v1alpha1
kind: PolicySet
metadata: {name: settings}
spec: {noMatch: allow}
---
apiVersion: portcullis.dev/v1alpha1
kind: ImagePolicy
metadata: {name: prod-no-latest}
spec:
  match: {namespaces: [prod]}
  images: [{glob: "ghcr.io/acme/**"}]
  rules: [{name: no-latest, tags: {forbid: [latest]}}]
---
apiVersion: portcullis.dev/v1alpha1
kind: ImagePolicy
metadata: {name: backend-pinned}
spec:
  match:
    kinds: [Deployment]
    objectSelector: {matchLabels: {tier: backend}}
  images: [{glob: "ghcr.io/acme/**"}]
  rules: [{name: pinned, tags: {requireDigest: true}}]
`;

const deployment = (name: string, namespace: string | undefined, image: string, labels = '{}') => `---
apiVersion: apps/v1
kind: Deployment
metadata:
  name: ${name}
${namespace ? `  namespace: ${namespace}\n` : ''}  labels: ${labels}
spec:
  template:
    spec:
      containers: [{name: app, image: "${image}"}]
`;

interface Entry {
  allowed: boolean;
  policies: { name: string }[];
  reasons: string[];
  source: { name: string; namespace?: string; labels?: Record<string, string> };
}

async function check(manifests: string, ...extra: string[]) {
  const dir = await mkdtemp(join(tmpdir(), 'portcullis-match-'));
  await writeFile(join(dir, 'policy.yaml'), POLICY);
  await writeFile(join(dir, 'app.yaml'), manifests);
  const r = await cli([
    'check',
    join(dir, 'app.yaml'),
    '-p',
    join(dir, 'policy.yaml'),
    '--offline',
    '-o',
    'json',
    ...extra,
  ]);
  const report = JSON.parse(r.stdout) as { results: Entry[] };
  const byName = Object.fromEntries(report.results.map((e) => [e.source.name, e]));
  return { code: r.code, stderr: r.stderr, byName };
}

test('check: a policy for namespace prod applies to the prod manifest only', async () => {
  const r = await check(
    deployment('in-prod', 'prod', 'ghcr.io/acme/api:latest') +
      deployment('in-dev', 'dev', 'ghcr.io/acme/api:latest'),
  );
  assert.equal(r.code, 1);
  const prod = r.byName['in-prod']!;
  assert.equal(prod.allowed, false);
  assert.deepEqual(
    prod.policies.map((p) => p.name),
    ['prod-no-latest'],
  );
  assert.deepEqual(prod.reasons, [
    'policy prod-no-latest, rule no-latest: tag "latest" is forbidden (matches "latest")',
  ]);
  const dev = r.byName['in-dev']!;
  assert.equal(dev.allowed, true);
  assert.deepEqual(dev.policies, []);
});

test('check: objectSelector and kinds read the manifest’s own labels and kind', async () => {
  const r = await check(
    deployment('backend', 'dev', 'ghcr.io/acme/api:1', '{tier: backend}') +
      deployment('frontend', 'dev', 'ghcr.io/acme/api:1', '{tier: frontend}'),
  );
  assert.equal(r.byName.backend!.allowed, false);
  assert.deepEqual(r.byName.backend!.source.labels, { tier: 'backend' });
  assert.deepEqual(
    r.byName.backend!.policies.map((p) => p.name),
    ['backend-pinned'],
  );
  assert.equal(r.byName.frontend!.allowed, true);
  assert.equal(r.code, 1);
});

test('check: a manifest without a namespace keeps namespaced policies, unless -n names one', async () => {
  const manifest = deployment('nowhere', undefined, 'ghcr.io/acme/api:latest');
  const unknown = await check(manifest);
  assert.equal(unknown.byName.nowhere!.allowed, false);
  const inDev = await check(manifest, '-n', 'dev');
  assert.equal(inDev.byName.nowhere!.allowed, true);
  assert.equal(inDev.code, 0);
  const inProd = await check(manifest, '--namespace', 'prod');
  assert.equal(inProd.byName.nowhere!.allowed, false);
});

test('check: labels that are not strings are an input problem, never read as no labels', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'portcullis-match-'));
  await writeFile(join(dir, 'policy.yaml'), POLICY);
  await writeFile(
    join(dir, 'app.yaml'),
    deployment('odd', 'dev', 'ghcr.io/acme/api:1', '{tier: backend, version: 2}'),
  );
  const r = await cli(['check', join(dir, 'app.yaml'), '-p', join(dir, 'policy.yaml'), '--offline']);
  assert.equal(r.code, 2);
  assert.match(
    r.stdout + r.stderr,
    /metadata\.labels: label "version" must map to a string \(quote numbers and booleans\), got a number \(2\)/,
  );
});

test('check: a bad --namespace is a usage error', async () => {
  const r = await cli(['check', '-', '-p', 'nowhere.yaml', '-n', 'Prod']);
  assert.equal(r.code, 2);
  assert.match(r.stderr, /--namespace takes a namespace name .* not "Prod"/);
});
