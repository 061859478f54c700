/** Which workload a Pod's images are attributed to (pure). */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { podWorkload } from '../../src/controller/workloads.ts';
import type { Pod } from '../../src/kubernetes/api.ts';

const pod = (
  metadata: Partial<Pod['metadata']>,
  spec: unknown = { containers: [{ name: 'a', image: 'reg/a:1' }] },
): Pod => ({
  metadata: { name: 'p', namespace: 'shop', ...metadata },
  spec,
});

test("a Deployment's ReplicaSet is reported as the Deployment", () => {
  const w = podWorkload(
    pod({
      labels: { 'pod-template-hash': '7d9f8c' },
      ownerReferences: [
        { apiVersion: 'apps/v1', kind: 'ReplicaSet', name: 'web-7d9f8c', uid: 'u1', controller: true },
      ],
    }),
  );
  assert.deepEqual(w.workload, { apiVersion: 'apps/v1', kind: 'Deployment', name: 'web', namespace: 'shop' });
});

test('other controllers are reported as they are; a bare Pod is its own workload', () => {
  const owned = podWorkload(
    pod({
      ownerReferences: [
        { apiVersion: 'apps/v1', kind: 'StatefulSet', name: 'db', uid: 'u2', controller: true },
      ],
    }),
  );
  assert.deepEqual(owned.workload, {
    apiVersion: 'apps/v1',
    kind: 'StatefulSet',
    name: 'db',
    uid: 'u2',
    namespace: 'shop',
  });
  // A ReplicaSet whose name does not end in the pod's hash is not guessed into a Deployment.
  const rs = podWorkload(
    pod({
      labels: { 'pod-template-hash': 'zzz' },
      ownerReferences: [
        { apiVersion: 'apps/v1', kind: 'ReplicaSet', name: 'web-7d9f8c', uid: 'u3', controller: true },
      ],
    }),
  );
  assert.equal(rs.workload.kind, 'ReplicaSet');
  const bare = podWorkload(pod({ uid: 'u4' }));
  assert.deepEqual(bare.workload, { apiVersion: 'v1', kind: 'Pod', name: 'p', namespace: 'shop', uid: 'u4' });
});

test('images of every container kind, once each; an unreadable spec is a problem, not a skip', () => {
  const w = podWorkload(
    pod(
      {},
      {
        initContainers: [{ name: 'i', image: 'reg/init:1' }],
        containers: [
          { name: 'a', image: 'reg/a:1' },
          { name: 'b', image: 'reg/a:1' },
        ],
      },
    ),
  );
  assert.deepEqual(w.images, ['reg/init:1', 'reg/a:1']);
  assert.deepEqual(w.problems, []);
  const broken = podWorkload(pod({}, { containers: [{ name: 'a', image: 42 }] }));
  assert.equal(broken.problems.length, 1);
  assert.match(broken.problems[0]!, /^pod shop\/p: /);
});
