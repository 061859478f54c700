import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, mkdir, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { inventoryFromObjects, inventoryFromPaths, workloadName } from '../../src/audit/inventory.ts';
import { deployment, list, ownedPod, replicaSet } from './support.ts';

test('a Pod and ReplicaSet running what their Deployment says fold into the Deployment', () => {
  const inv = inventoryFromObjects([
    list([
      deployment('web', 'shop', 'registry.example/web:1'),
      replicaSet('web-7d4', 'shop', 'web', 'registry.example/web:1'),
      ownedPod('web-7d4-abcde', 'shop', 'web-7d4', 'registry.example/web:1'),
    ]),
  ]);
  assert.deepEqual(inv.problems, []);
  assert.deepEqual(inv.workloads.map(workloadName), ['Deployment shop/web']);
  assert.equal(inv.workloads[0]!.images[0]!.path, 'spec.template.spec.containers[0].image');
  assert.equal(inv.workloads[0]!.labels.app, 'web');
});

test('a Pod running another image than its owner (drift) is kept, with its owner chain', () => {
  const inv = inventoryFromObjects([
    list([
      deployment('web', 'shop', 'registry.example/web:1'),
      replicaSet('web-7d4', 'shop', 'web', 'registry.example/web:1'),
      ownedPod('web-7d4-abcde', 'shop', 'web-7d4', 'registry.example/web:2'),
    ]),
  ]);
  assert.deepEqual(inv.workloads.map(workloadName), ['Deployment shop/web', 'Pod shop/web-7d4-abcde']);
  assert.deepEqual(inv.workloads[1]!.owners, [
    { kind: 'ReplicaSet', name: 'web-7d4' },
    { kind: 'Deployment', name: 'web' },
  ]);
});

test('an orphan Pod whose owner is not in the dump names its owner', () => {
  const inv = inventoryFromObjects([ownedPod('job-x', 'batch', 'rs-gone', 'a/b:1')]);
  assert.equal(inv.workloads.length, 1);
  assert.deepEqual(inv.workloads[0]!.owners, [{ kind: 'ReplicaSet', name: 'rs-gone' }]);
});

test('unreadable parts are problems of the workload; kinds without pods are ignored', () => {
  const inv = inventoryFromObjects([
    { apiVersion: 'v1', kind: 'Service', metadata: { name: 's' } },
    {
      apiVersion: 'v1',
      kind: 'Pod',
      metadata: { name: 'p', namespace: 'n' },
      spec: { containers: [{ name: 'c', image: 42 }] },
    },
  ]);
  assert.equal(inv.workloads.length, 1);
  assert.deepEqual(inv.workloads[0]!.problems, ['spec.containers[0].image must be a string, got a number']);
});

test('files: a JSON List, multi-document YAML in a directory, and a clear error for what cannot be read', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'audit-inv-'));
  await writeFile(join(dir, 'dump.json'), JSON.stringify(list([deployment('a', 'x', 'r.example/a:1')])));
  await mkdir(join(dir, 'manifests'));
  await writeFile(
    join(dir, 'manifests', 'app.yaml'),
    'apiVersion: v1\nkind: Pod\nmetadata: {name: p1, namespace: y}\nspec: {containers: [{name: c, image: "r.example/p:1"}]}\n---\n' +
      'apiVersion: v1\nkind: ConfigMap\nmetadata: {name: c}\n',
  );
  await writeFile(join(dir, 'manifests', 'broken.yaml'), 'kind: [unclosed\n');
  const inv = await inventoryFromPaths([dir, join(dir, 'missing.json')]);
  assert.deepEqual(inv.workloads.map(workloadName).sort(), ['Deployment x/a', 'Pod y/p1']);
  assert.ok(inv.workloads.every((w) => w.file !== undefined));
  assert.equal(inv.problems.length, 2);
  assert.ok(
    inv.problems.some((p) => /manifests\/broken\.yaml: not valid JSON or YAML/.test(p)),
    inv.problems.join('\n'),
  );
  assert.ok(
    inv.problems.some((p) => /missing\.json: cannot read: ENOENT$/.test(p)),
    inv.problems.join('\n'),
  );
});

test('files: a device or a pipe given as a dump is refused unread, never read without end', async () => {
  const inv = await inventoryFromPaths(['/dev/zero']);
  assert.deepEqual(inv.workloads, []);
  assert.deepEqual(inv.problems, ['/dev/zero: not a regular file or a directory']);
});
