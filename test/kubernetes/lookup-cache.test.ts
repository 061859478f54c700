/**
 * API reads at admission are cached briefly and bounded (src/kubernetes/lookup-cache.ts), and namespace
 * labels are read through that cache (src/kubernetes/namespace-labels.ts) from the THIN STUB API server
 * (test/kubernetes/stub-apiserver.ts), with a hand-moved clock instead of waiting.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { LookupCache } from '../../src/kubernetes/lookup-cache.ts';
import { NAMESPACE_LABEL_LIMITS, namespaceLabelReader } from '../../src/kubernetes/namespace-labels.ts';
import { createKubernetesApi, type KubernetesApi } from '../../src/kubernetes/api.ts';
import { startStubApiServer, type StubApiServer } from './stub-apiserver.ts';

let stub: StubApiServer;
let api: KubernetesApi;

before(async () => {
  stub = await startStubApiServer();
  const kubeconfig = await stub.writeKubeconfig(await mkdtemp(join(tmpdir(), 'portcullis-lookup-')));
  api = createKubernetesApi({ kubeconfig });
});

after(async () => {
  await stub?.close();
});

const reads = (path: string) => stub.requests.filter((r) => r === path).length;

test('namespace labels: one API read per namespace within the TTL, read again after it', async () => {
  stub.putNamespace('shop', { env: 'prod' });
  let now = 1_000_000;
  const labels = namespaceLabelReader(api, () => now);
  const [first, second] = await Promise.all([labels('shop'), labels('shop')]);
  assert.deepEqual(first, { 'kubernetes.io/metadata.name': 'shop', env: 'prod' });
  assert.deepEqual(second, first);
  assert.deepEqual(await labels('shop'), first);
  assert.equal(reads('/api/v1/namespaces/shop'), 1, 'concurrent and later reads share the first');
  stub.putNamespace('shop', { env: 'dev' });
  now += NAMESPACE_LABEL_LIMITS.ttlMs;
  assert.deepEqual(await labels('shop'), { 'kubernetes.io/metadata.name': 'shop', env: 'dev' });
  assert.equal(reads('/api/v1/namespaces/shop'), 2);
});

test('namespace labels: a missing namespace is undefined; one without labels has none ({}), not unknown', async () => {
  const labels = namespaceLabelReader(api);
  assert.equal(await labels('nowhere'), undefined);
  const bare = namespaceLabelReader({ getNamespace: async (name) => ({ metadata: { name } }) });
  assert.deepEqual(await bare('bare'), {});
});

test('namespace labels: a failed read rejects and is not remembered', async () => {
  stub.putNamespace('flaky', {});
  const labels = namespaceLabelReader(api, () => 0);
  stub.setDown(true);
  try {
    await assert.rejects(labels('flaky'), { code: 'KUBERNETES_API_ERROR', message: /HTTP 503/ });
  } finally {
    stub.setDown(false);
  }
  assert.deepEqual(await labels('flaky'), { 'kubernetes.io/metadata.name': 'flaky' });
});

test('lookup cache: bounded, oldest out first', async () => {
  const cache = new LookupCache<string>({ ttlMs: 60_000, maxEntries: 2, now: () => 0 });
  let loads = 0;
  const load = (v: string) => async () => (loads++, v);
  await cache.get('a', load('a'));
  await cache.get('b', load('b'));
  await cache.get('c', load('c'));
  assert.equal(cache.size, 2);
  assert.equal(await cache.get('c', load('c2')), 'c');
  assert.equal(await cache.get('a', load('a2')), 'a2', 'a was evicted, so it is read again');
  assert.equal(loads, 4);
});

test('lookup cache: a late failure does not evict the newer read that replaced it', async () => {
  let now = 0;
  const cache = new LookupCache<string>({ ttlMs: 10, maxEntries: 8, now: () => now });
  let fail!: (error: Error) => void;
  const stale = cache.get('k', () => new Promise<string>((_, reject) => (fail = reject)));
  now = 10;
  assert.equal(await cache.get('k', async () => 'fresh'), 'fresh');
  fail(new Error('API down'));
  await assert.rejects(stale, /API down/);
  assert.equal(await cache.get('k', async () => 'read again'), 'fresh');
});

test('lookup cache: a load that throws at once is a rejection, and is not remembered', async () => {
  const cache = new LookupCache<string>({ ttlMs: 60_000, maxEntries: 8, now: () => 0 });
  await assert.rejects(
    cache.get('bad', () => {
      throw new Error('"Bad_Name" is not a valid object name');
    }),
    /not a valid object name/,
  );
  await new Promise((r) => setImmediate(r));
  assert.equal(cache.size, 0);
});
