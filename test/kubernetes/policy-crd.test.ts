/**
 * Policies in the cluster: ImagePolicy / NamespacedImagePolicy resources listed and watched through the
 * API — here a THIN STUB API server (test/kubernetes/stub-apiserver.ts: recorded API shapes, not a real
 * API server) — and a mounted ConfigMap directory whose `..data` symlink is swapped as the kubelet does.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdir, mkdtemp, rename, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createKubernetesApi, type KubernetesApi } from '../../src/kubernetes/api.ts';
import {
  compileResource,
  forNamespace,
  PolicyResourceWatcher,
  type PolicyWatchLogger,
} from '../../src/kubernetes/policy-crd.ts';
import { PolicyStore } from '../../src/webhook/policies.ts';
import { createDecider } from '../../src/app/decide.ts';
import { admit, parseAdmissionReview } from '../../src/webhook/admission.ts';
import { admissionReview, deployment, policyDir } from '../webhook/support.ts';
import { startStubApiServer, type StubApiServer } from './stub-apiserver.ts';
import { POLICY_RESOURCES } from '../../src/install/crd.ts';
import { POLICY_PLURALS } from '../../src/kubernetes/api.ts';

const DIGEST = 'sha256:' + 'c'.repeat(64);
let stub: StubApiServer;
let api: KubernetesApi;

before(async () => {
  stub = await startStubApiServer();
  const dir = await mkdtemp(join(tmpdir(), 'portcullis-crd-'));
  api = createKubernetesApi({ kubeconfig: await stub.writeKubeconfig(dir) });
});
after(() => stub?.close());

const forbidTag = (tag: string, glob = 'ghcr.io/**') => ({
  images: [{ glob }],
  rules: [{ name: `no-${tag}`, tags: { forbid: [tag] } }],
});

function recordingLogger() {
  const lines: { level: string; message: string; fields: object }[] = [];
  const logger: PolicyWatchLogger = {
    info: (fields, message) => lines.push({ level: 'info', message, fields }),
    warn: (fields, message) => lines.push({ level: 'warn', message, fields }),
    error: (fields, message) => lines.push({ level: 'error', message, fields }),
  };
  return { lines, logger };
}

/** Resolves when `check` holds; re-checked after each change the watcher reports (no clock involved). */
function startWatcher() {
  const { lines, logger } = recordingLogger();
  const waiters = new Set<() => void>();
  const watcher = new PolicyResourceWatcher(api, {
    onChange: () => waiters.forEach((w) => w()),
    logger: {
      ...logger,
      error: (fields, message) => {
        logger.error(fields, message);
        waiters.forEach((w) => w());
      },
      info: (fields, message) => {
        logger.info(fields, message);
        waiters.forEach((w) => w());
      },
    },
    backoff: { initialMs: 20, maxMs: 100 },
  });
  const until = (check: () => boolean) =>
    new Promise<void>((resolve) => {
      if (check()) return resolve();
      const w = () => {
        if (check()) {
          waiters.delete(w);
          resolve();
        }
      };
      waiters.add(w);
    });
  const names = () => watcher.policies().map((p) => p.name);
  return { watcher, lines, until, names };
}

test('the watched kinds are the CRDs that portcullis install creates, with the same scopes', () => {
  assert.deepEqual(
    POLICY_RESOURCES.map((r) => [r.kind, r.plural, r.scope]),
    [
      ['ImagePolicy', POLICY_PLURALS.ImagePolicy, 'Cluster'],
      ['NamespacedImagePolicy', POLICY_PLURALS.NamespacedImagePolicy, 'Namespaced'],
    ],
  );
});

test('a resource compiles like a policy file; a namespaced one is named namespace/name and bound to it', () => {
  const cluster = compileResource('ImagePolicy', {
    apiVersion: 'portcullis.dev/v1alpha1',
    kind: 'ImagePolicy',
    metadata: { name: 'no-latest', resourceVersion: '7', uid: 'x' } as never,
    spec: forbidTag('latest'),
  });
  assert.ok(cluster.ok);
  assert.equal(cluster.policy.name, 'no-latest');
  assert.equal(cluster.policy.namespace, undefined);
  assert.equal(cluster.policy.source.file, 'ImagePolicy no-latest');

  const namespaced = compileResource('NamespacedImagePolicy', {
    metadata: { name: 'strict', namespace: 'team-a' },
    spec: forbidTag('dev'),
  });
  assert.ok(namespaced.ok);
  assert.equal(namespaced.policy.name, 'team-a/strict');
  assert.equal(namespaced.policy.namespace, 'team-a');
  assert.deepEqual(
    namespaced.policy.match?.namespaces?.map((n) => n.matches('team-a')),
    [true],
    'compiled with an implicit spec.match.namespaces: [team-a]',
  );
  assert.equal(namespaced.policy.match?.namespaces?.[0]?.matches('team-b'), false);
  const widened = compileResource('NamespacedImagePolicy', {
    metadata: { name: 'wide', namespace: 'team-a' },
    spec: { ...forbidTag('dev'), match: { namespaces: ['*'] } },
  });
  assert.deepEqual(widened, {
    ok: false,
    errors: [
      'NamespacedImagePolicy team-a/wide: spec.match.namespaces and spec.match.namespaceSelector cannot be set in a NamespacedImagePolicy: it applies only to its own namespace (use an ImagePolicy)',
    ],
  });

  const bad = compileResource('ImagePolicy', {
    metadata: { name: 'broken' },
    spec: { images: [{ glob: 'ghcr.io/**' }], rules: [{ name: 'x', tags: { forbid: 'latest' } }] },
  });
  assert.equal(bad.ok, false);
  assert.ok(
    !bad.ok && bad.errors.every((e) => e.startsWith('ImagePolicy broken:')),
    String(!bad.ok && bad.errors),
  );
});

test('watch: added, modified and deleted resources change the active set; a bad one keeps the last good', async () => {
  stub.putPolicy('ImagePolicy', 'listed', forbidTag('latest'));
  const { watcher, lines, until, names } = startWatcher();
  watcher.start();
  try {
    await watcher.synced();
    assert.deepEqual(names(), ['listed']);

    stub.putPolicy('ImagePolicy', 'added', forbidTag('dev'));
    stub.putPolicy('NamespacedImagePolicy', 'team', forbidTag('edge'), 'team-a');
    await until(() => names().length === 3);
    assert.deepEqual(names(), ['added', 'listed', 'team-a/team']);

    const before = watcher.policies().find((p) => p.name === 'added')!.version;
    stub.putPolicy('ImagePolicy', 'added', forbidTag('nightly'));
    await until(() => watcher.policies().find((p) => p.name === 'added')!.version !== before);
    const good = watcher.policies().find((p) => p.name === 'added')!;
    assert.deepEqual((good.rules[0] as unknown as { name: string }).name, 'no-nightly');

    // A bad change: rejected, logged with the resource's name, the last good version stays.
    stub.putPolicy('ImagePolicy', 'added', {
      images: [{ glob: 'ghcr.io/**' }],
      rules: [{ name: 'x' }],
    });
    stub.putPolicy('ImagePolicy', 'never-good', { images: 'not a list' });
    await until(() => lines.some((l) => l.message.startsWith('ImagePolicy never-good rejected')));
    assert.ok(
      lines.some(
        (l) =>
          l.level === 'error' &&
          l.message === 'ImagePolicy added rejected; its last good version stays in force',
      ),
    );
    assert.equal(
      lines.find((l) => l.message.startsWith('ImagePolicy never-good'))!.message,
      'ImagePolicy never-good rejected; it is not in force',
    );
    assert.equal(watcher.policies().find((p) => p.name === 'added')!.version, good.version);
    assert.deepEqual(names(), ['added', 'listed', 'team-a/team']);

    stub.deletePolicy('ImagePolicy', 'listed');
    stub.deletePolicy('NamespacedImagePolicy', 'team', 'team-a');
    await until(() => names().length === 1);
    assert.deepEqual(names(), ['added']);
  } finally {
    await watcher.close();
    stub.deletePolicy('ImagePolicy', 'added');
    stub.deletePolicy('ImagePolicy', 'never-good');
  }
});

test('410 Gone: the watcher lists again and sees what changed meanwhile; API errors are retried', async () => {
  const { watcher, lines, until, names } = startWatcher();
  watcher.start();
  try {
    await watcher.synced();
    assert.deepEqual(names(), []);
    // The API server goes away: errors are logged and retried with backoff.
    stub.setDown(true);
    await until(() => lines.some((l) => l.level === 'error' && /HTTP 503/.test(JSON.stringify(l.fields))));
    // Meanwhile etcd is compacted past the watcher's version, and a resource is added.
    stub.compact();
    stub.putPolicy('ImagePolicy', 'after-compaction', forbidTag('latest'));
    const lists = () => stub.requests.filter((r) => /\/imagepolicies$/.test(r)).length;
    const listsBefore = lists();
    stub.setDown(false);
    // Back: the watch from the old version gets 410 Gone, so the watcher lists again and sees it.
    await until(() => names().includes('after-compaction'));
    assert.ok(lines.some((l) => l.message === 'policy watch expired (410 Gone); listing again'));
    assert.equal(lists(), listsBefore + 1);
    // And it watches again from the new list: a later change arrives as an event.
    stub.putPolicy('ImagePolicy', 'after-outage', forbidTag('dev'));
    await until(() => names().includes('after-outage'));
    assert.equal(lists(), listsBefore + 1);
  } finally {
    await watcher.close();
    stub.deletePolicy('ImagePolicy', 'after-compaction');
    stub.deletePolicy('ImagePolicy', 'after-outage');
  }
});

test('a NamespacedImagePolicy applies only in its namespace; file and cluster policies everywhere', async () => {
  const dir = await policyDir({
    'set.yaml': `apiVersion: portcullis.dev/v1alpha1
kind: PolicySet
metadata: {name: default}
spec: {noMatch: deny}
`,
    'acme.yaml': `apiVersion: portcullis.dev/v1alpha1
kind: ImagePolicy
metadata: {name: acme}
spec:
  images: [{glob: "ghcr.io/acme/**"}]
  rules:
    - name: no-latest
      tags: {forbid: [latest]}
`,
  });
  const { watcher, until, names } = startWatcher();
  watcher.start();
  const store = new PolicyStore([dir], (set) => createDecider(set, { offline: true, timeoutMs: 5000 }), {
    resources: () => watcher.policies(),
  });
  try {
    await watcher.synced();
    stub.putPolicy('NamespacedImagePolicy', 'no-edge', forbidTag('edge', 'ghcr.io/acme/**'), 'team-a');
    await until(() => names().includes('team-a/no-edge'));
    assert.equal((await store.reload()).status, 'loaded');
    const set = store.policySet()!;
    assert.deepEqual(
      set.policies.map((p) => p.name),
      ['acme', 'team-a/no-edge'],
    );
    assert.deepEqual(
      forNamespace(set, 'team-b').policies.map((p) => p.name),
      ['acme'],
    );

    const decide = async (namespace: string) => {
      const review = admissionReview(deployment('api', `ghcr.io/acme/api:edge@${DIGEST}`), { namespace });
      const { review: out } = await admit(parseAdmissionReview(review), 'validate', {
        engine: () => store.current(),
        deadlineMs: 5000,
        pin: false,
      });
      return out.response;
    };
    const inTeamA = await decide('team-a');
    assert.equal(inTeamA.allowed, false);
    assert.equal(
      inTeamA.status?.message,
      `spec.template.spec.containers[0].image ghcr.io/acme/api:edge@${DIGEST}: denied by policy team-a/no-edge, rule no-edge: tag "edge" is forbidden (matches "edge")`,
    );
    assert.equal((await decide('team-b')).allowed, true);
    // Without a namespace (ImageReview, cluster-scoped objects) only cluster-wide policies apply.
    assert.deepEqual(
      store.current()!.policySet.policies.map((p) => p.name),
      ['acme'],
    );
    // Each namespace's set is made once per load, not per request; one without policies of its own
    // is served the cluster-wide set itself.
    const engine = store.current()!;
    const teamA = engine.scoped!({ namespace: 'team-a' }).policySet;
    assert.deepEqual(
      teamA.policies.map((p) => p.name),
      ['acme', 'team-a/no-edge'],
    );
    assert.equal(teamA.version, forNamespace(set, 'team-a').version);
    assert.equal(engine.scoped!({ namespace: 'team-a' }).policySet, teamA);
    assert.equal(engine.scoped!({ namespace: 'team-b' }).policySet, engine.policySet);
    assert.equal(engine.scoped!({}).policySet, engine.policySet);
  } finally {
    store.close();
    await watcher.close();
    stub.deletePolicy('NamespacedImagePolicy', 'no-edge', 'team-a');
  }
});

test('a mounted ConfigMap: the kubelet swapping the ..data symlink reloads the policies', async () => {
  // The layout the kubelet writes: ..<timestamp>/ with the files, ..data -> it, and FILE -> ..data/FILE.
  const dir = await mkdtemp(join(tmpdir(), 'portcullis-configmap-'));
  const writeVersion = async (stamp: string, tag: string) => {
    const data = join(dir, `..2026_11_27_12_00_${stamp}.000000001`);
    await mkdir(data);
    await writeFile(
      join(data, 'policy.yaml'),
      `apiVersion: portcullis.dev/v1alpha1
kind: ImagePolicy
metadata: {name: configmap}
spec:
  images: [{glob: "ghcr.io/**"}]
  rules:
    - name: no-${tag}
      tags: {forbid: [${tag}]}
`,
    );
    return data;
  };
  const first = await writeVersion('00', 'latest');
  await symlink(first.split('/').pop()!, join(dir, '..data'));
  await symlink('..data/policy.yaml', join(dir, 'policy.yaml'));

  const loaded: string[] = [];
  let notify: (() => void) | undefined;
  const store = new PolicyStore([dir], (set) => createDecider(set, { offline: true, timeoutMs: 5000 }), {
    onReload(result) {
      if (result.status === 'loaded') loaded.push(result.version);
      notify?.();
    },
  });
  try {
    assert.equal((await store.reload()).status, 'loaded');
    const ruleName = () =>
      (store.current()!.policySet.policies[0]!.rules[0] as unknown as { name: string }).name;
    assert.equal(ruleName(), 'no-latest');
    store.watch({ debounceMs: 20, pollMs: 50 });

    // The update: a new timestamped directory, ..data_tmp -> it, renamed over ..data (atomic), old removed.
    const second = await writeVersion('30', 'dev');
    const changed = new Promise<void>((resolve) => (notify = () => loaded.length >= 2 && resolve()));
    await symlink(second.split('/').pop()!, join(dir, '..data_tmp'));
    await rename(join(dir, '..data_tmp'), join(dir, '..data'));
    await rm(first, { recursive: true });
    await changed;
    assert.equal(ruleName(), 'no-dev');
    assert.equal(
      store.current()!.policySet.policies.length,
      1,
      'the timestamped directories are not read twice',
    );
  } finally {
    store.close();
  }
});
