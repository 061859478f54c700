import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { basicAuthorization, startRegistry } from './registry.ts';
import type { RunningRegistry } from './registry.ts';
import { MEDIA_TYPES, buildImage, pushBuilt, sha256 } from './images.ts';

const alice = { username: 'alice', password: 'wonderland' };

async function tokenFor(registry: RunningRegistry, scope: string, auth?: typeof alice): Promise<Response> {
  assert.ok(registry.token);
  const url = new URL(registry.token.realm);
  url.searchParams.set('service', registry.token.service);
  url.searchParams.set('scope', scope);
  return await fetch(url, { headers: auth !== undefined ? { authorization: basicAuthorization(auth) } : {} });
}

void describe('test registry with Docker token auth (Bearer)', () => {
  let registry: RunningRegistry;
  const image = buildImage({ seed: 'token' });

  before(async () => {
    registry = await startRegistry({ token: { users: { alice: alice.password } } });
    await pushBuilt(registry.host, 'private/app', image, 'v1', { auth: alice });
  });
  after(async () => {
    await registry?.stop();
  });

  void test('the registry answers with a Bearer challenge naming the token realm and service', async () => {
    const response = await fetch(`${registry.url}/v2/private/app/manifests/v1`, { method: 'HEAD' });
    assert.equal(response.status, 401);
    const challenge = response.headers.get('www-authenticate') ?? '';
    assert.match(
      challenge,
      /^Bearer realm="http:\/\/127\.0\.0\.1:\d+\/token",service="portcullis-test-registry"/,
    );
    assert.match(challenge, /scope="repository:private\/app:pull"/);
  });

  void test('a token for a user with the password grants pull, and the registry accepts it', async () => {
    const response = await tokenFor(registry, 'repository:private/app:pull', alice);
    const body = (await response.json()) as { token: string; expires_in: number };
    assert.equal(body.expires_in, 300);
    const manifest = await fetch(`${registry.url}/v2/private/app/manifests/v1`, {
      headers: { authorization: `Bearer ${body.token}`, accept: MEDIA_TYPES.ociManifest },
    });
    assert.equal(manifest.status, 200);
    assert.equal(sha256(Buffer.from(await manifest.arrayBuffer())), image.digest);
    const record = registry.token?.requests.at(-1);
    assert.equal(record?.account, 'alice');
    assert.deepEqual(record?.granted, ['repository:private/app:pull']);
  });

  void test('anonymous callers get a token with no access, which the registry refuses', async () => {
    const response = await tokenFor(registry, 'repository:private/app:pull');
    const { token } = (await response.json()) as { token: string };
    assert.deepEqual(registry.token?.requests.at(-1)?.granted, []);
    const manifest = await fetch(`${registry.url}/v2/private/app/manifests/v1`, {
      headers: { authorization: `Bearer ${token}` },
    });
    assert.equal(manifest.status, 401);
    assert.match(manifest.headers.get('www-authenticate') ?? '', /error="insufficient_scope"/);
  });

  void test('wrong credentials at the token endpoint are refused', async () => {
    const response = await tokenFor(registry, 'repository:private/app:pull', {
      username: 'alice',
      password: 'x',
    });
    assert.equal(response.status, 401);
    assert.equal(registry.token?.requests.at(-1)?.account, 'rejected');
  });

  void test('a token signed by another key is refused by the registry', async () => {
    const other = await startRegistry({ token: { users: { alice: alice.password } } });
    try {
      const response = await tokenFor(other, 'repository:private/app:pull', alice);
      const { token } = (await response.json()) as { token: string };
      const manifest = await fetch(`${registry.url}/v2/private/app/manifests/v1`, {
        headers: { authorization: `Bearer ${token}` },
      });
      assert.equal(manifest.status, 401);
    } finally {
      await other.stop();
    }
  });

  void test('anonymousPull grants pull without credentials, never push', async () => {
    const open = await startRegistry({ token: { anonymousPull: true, users: { alice: alice.password } } });
    try {
      await pushBuilt(open.host, 'public/app', image, 'v1', { auth: alice });
      const response = await tokenFor(open, 'repository:public/app:pull,push');
      const { token } = (await response.json()) as { token: string };
      assert.deepEqual(open.token?.requests.at(-1)?.granted, ['repository:public/app:pull']);
      const manifest = await fetch(`${open.url}/v2/public/app/manifests/v1`, {
        headers: { authorization: `Bearer ${token}`, accept: MEDIA_TYPES.ociManifest },
      });
      assert.equal(manifest.status, 200);
      await manifest.body?.cancel();
      await assert.rejects(
        pushBuilt(open.host, 'public/app', buildImage({ seed: 'anon' }), 'v2'),
        /answered 401/,
      );
    } finally {
      await open.stop();
    }
  });
});

void describe('pushing to a TLS registry', () => {
  void test('pushImage over https with the test CA', async () => {
    const registry = await startRegistry({ tls: true });
    try {
      assert.ok(registry.tls);
      const image = buildImage({ seed: 'tls' });
      await pushBuilt(registry.url, 'secure/app', image, 'v1', { ca: registry.tls.caPem });
      await assert.rejects(pushBuilt(registry.url, 'secure/app', image, 'v1'), /fetch failed/);
    } finally {
      await registry.stop();
    }
  });
});
