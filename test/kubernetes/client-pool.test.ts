/**
 * Registry clients per credential set (src/kubernetes/pull-secrets.ts): the same set reuses its client,
 * the pool is bounded, evicted clients are closed after the grace period, and close() closes them all.
 * Plain objects stand in for clients here: only `close` is exercised (no API server, stub or real).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { RegistryClientPool, pullIdentity, secretStore } from '../../src/kubernetes/pull-secrets.ts';
import type { RegistryClient } from '../../src/registry/client.ts';
import { anonymousCredentials } from '../../src/registry/credentials.ts';

function pool(max: number) {
  const closed: number[] = [];
  let made = 0;
  const p = new RegistryClientPool(
    () => {
      const id = ++made;
      return { close: async () => void closed.push(id) } as unknown as RegistryClient;
    },
    { max, graceMs: 0 },
  );
  return { p, closed, made: () => made };
}

test('one client per credential set; bounded; evicted clients are closed', async () => {
  const { p, closed, made } = pool(2);
  const a = p.clientFor('ns/a@1', anonymousCredentials);
  assert.equal(p.clientFor('ns/a@1', anonymousCredentials), a);
  p.clientFor('ns/b@1', anonymousCredentials);
  p.clientFor('ns/a@1', anonymousCredentials); // a is now the most recent
  p.clientFor('ns/a@2', anonymousCredentials); // a changed secret: a new client; b is evicted
  assert.equal(made(), 3);
  assert.equal(p.size, 2);
  await new Promise((r) => setImmediate(r));
  await new Promise((r) => setTimeout(r, 5));
  assert.deepEqual(closed, [2]);
  await p.close();
  assert.deepEqual(closed.sort(), [1, 2, 3]);
});

test('pull identity: pod spec paths per kind, service account default, legacy serviceAccount', () => {
  assert.deepEqual(
    pullIdentity({ spec: { imagePullSecrets: [{ name: 'a' }, { name: 'a' }, {}, { name: 7 }] } }, 'Pod'),
    { imagePullSecrets: ['a'], serviceAccountName: 'default' },
  );
  assert.deepEqual(
    pullIdentity(
      { spec: { jobTemplate: { spec: { template: { spec: { serviceAccount: 'legacy' } } } } } },
      'CronJob',
    ),
    { imagePullSecrets: [], serviceAccountName: 'legacy' },
  );
  assert.equal(pullIdentity({ spec: {} }, 'ConfigMap'), undefined);
  // A kind named like an Object.prototype member is unknown too, not a TypeError.
  assert.equal(pullIdentity({ spec: {} }, 'constructor'), undefined);
  assert.equal(pullIdentity({ spec: {} }, '__proto__'), undefined);
});

test('secrets: dockerconfigjson and dockercfg read by exact host; bad content says what is wrong', async () => {
  const b64 = (s: string) => Buffer.from(s).toString('base64');
  const store = secretStore(
    {
      metadata: { name: 's' },
      type: 'kubernetes.io/dockerconfigjson',
      data: {
        '.dockerconfigjson': b64('{"auths":{"registry.acme.example":{"username":"u","password":"p"}}}'),
      },
    },
    'image pull secret ns/s',
  )!;
  assert.deepEqual(await store.get('registry.acme.example'), { kind: 'basic', username: 'u', password: 'p' });
  assert.equal(await store.get('registry.acme.example.evil.io'), undefined);
  assert.equal(await store.get('acme.example'), undefined);
  assert.throws(
    () =>
      secretStore(
        {
          metadata: { name: 's' },
          type: 'kubernetes.io/dockercfg',
          data: { '.dockercfg': 'not base64 json' },
        },
        'x',
      ),
    { message: 'data[".dockercfg"] is not base64 of JSON' },
  );
  assert.equal(secretStore({ metadata: { name: 's' }, type: 'Opaque', data: {} }, 'x'), undefined);
});
