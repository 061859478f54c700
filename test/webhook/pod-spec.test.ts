import { test } from 'node:test';
import assert from 'node:assert/strict';
import { podImages, pointerOf, POD_SPEC_LIMITS } from '../../src/kubernetes/pod-spec.ts';
import { cronJob, deployment, pod } from './support.ts';

const summary = (object: unknown) => {
  const r = podImages(object);
  return { images: r.images.map((i) => `${i.path} ${i.pointer} ${i.image}`), problems: r.problems };
};

test('a Deployment made by kubectl: every container with its path and pointer', () => {
  const d = deployment('web', 'ghcr.io/acme/api:1', 'ghcr.io/acme/sidecar:2');
  assert.deepEqual(summary(d), {
    images: [
      'spec.template.spec.containers[0].image /spec/template/spec/containers/0/image ghcr.io/acme/api:1',
      'spec.template.spec.containers[1].image /spec/template/spec/containers/1/image ghcr.io/acme/sidecar:2',
    ],
    problems: [],
  });
});

test('a CronJob made by kubectl: the jobTemplate path', () => {
  assert.deepEqual(summary(cronJob('nightly', 'busybox:1')).images, [
    'spec.jobTemplate.spec.template.spec.containers[0].image /spec/jobTemplate/spec/template/spec/containers/0/image busybox:1',
  ]);
  const v1beta1 = { ...cronJob('old', 'busybox:1'), apiVersion: 'batch/v1beta1' };
  assert.equal(podImages(v1beta1).images.length, 1);
});

test('init, ephemeral containers and image volumes of a Pod are all listed', () => {
  const p = pod('debug', 'alpine:3') as { spec: Record<string, unknown> };
  p.spec.initContainers = [
    { name: 'a', image: 'init:1' },
    { name: 'b', image: 'init:2' },
  ];
  p.spec.ephemeralContainers = [{ name: 'dbg', image: 'evil.example/shell:1' }];
  p.spec.volumes = [
    { name: 'cfg', configMap: { name: 'x' } },
    { name: 'v', emptyDir: {} },
    { name: 'models', image: { reference: 'ghcr.io/acme/models:7' } },
  ];
  assert.deepEqual(summary(p).images, [
    'spec.initContainers[0].image /spec/initContainers/0/image init:1',
    'spec.initContainers[1].image /spec/initContainers/1/image init:2',
    'spec.containers[0].image /spec/containers/0/image alpine:3',
    'spec.ephemeralContainers[0].image /spec/ephemeralContainers/0/image evil.example/shell:1',
    'spec.volumes[2].image.reference /spec/volumes/2/image/reference ghcr.io/acme/models:7',
  ]);
});

test('every built-in workload kind', () => {
  const template = { spec: { template: { spec: { containers: [{ name: 'c', image: 'x:1' }] } } } };
  for (const kind of [
    'Deployment',
    'ReplicaSet',
    'StatefulSet',
    'DaemonSet',
    'Job',
    'ReplicationController',
  ]) {
    assert.deepEqual(
      summary({ kind, ...template }).images,
      ['spec.template.spec.containers[0].image /spec/template/spec/containers/0/image x:1'],
      kind,
    );
  }
});

test('malformed objects are problems, never silently skipped', () => {
  assert.deepEqual(summary({ kind: 'Pod', spec: { containers: [{ name: 'c' }] } }).problems, [
    'spec.containers[0].image is missing',
  ]);
  assert.deepEqual(summary({ kind: 'Pod', spec: { containers: [{ image: 7 }] } }).problems, [
    'spec.containers[0].image must be a string, got a number',
  ]);
  assert.deepEqual(summary({ kind: 'Pod', spec: { containers: {} } }).problems, [
    'spec.containers must be a list, got an object',
  ]);
  assert.deepEqual(summary({ kind: 'Pod', spec: { containers: ['x:1'] } }).problems, [
    'spec.containers[0] must be an object (a container), got a string',
  ]);
  assert.deepEqual(summary({ kind: 'Deployment', spec: { template: [] } }).problems, [
    'spec.template must be an object, got a list',
  ]);
  assert.deepEqual(summary({ kind: 'Pod', spec: { volumes: [{ name: 'v', image: 'x:1' }] } }).problems, [
    'spec.volumes[0].image must be an object, got a string',
  ]);
  assert.match(
    summary({ kind: 'ConfigMap' }).problems[0]!,
    /^kind ConfigMap is not supported \(supported: Pod, Deployment/,
  );
  assert.deepEqual(summary([]).problems, ['the object must be a JSON object, got a list']);
  assert.deepEqual(summary(undefined).problems, ['the object must be a JSON object, got nothing']);
  assert.deepEqual(summary({ spec: {} }).problems, ['the object has no kind']);
  assert.deepEqual(summary({ kind: 'constructor' }).problems.length, 1, 'no prototype lookups');
});

test('bounds: too many images and absurdly long strings are refused', () => {
  const many = {
    kind: 'Pod',
    spec: {
      containers: Array.from({ length: POD_SPEC_LIMITS.maxImages + 5 }, (_, i) => ({ image: `x:${i}` })),
    },
  };
  const r = podImages(many);
  assert.equal(r.images.length, POD_SPEC_LIMITS.maxImages);
  assert.deepEqual(r.problems, [
    `more than ${POD_SPEC_LIMITS.maxImages} images in one object; refusing to check a part of it`,
  ]);
  const long = podImages({ kind: 'Pod', spec: { containers: [{ image: 'a'.repeat(5000) }] } });
  assert.deepEqual(long.problems, [
    'spec.containers[0].image is 5000 characters long, over the 1024 a reference can have',
  ]);
});

test('JSON pointers escape ~ and /', () => {
  assert.equal(pointerOf(['a/b', 'c~d', 0]), '/a~1b/c~0d/0');
});
