/**
 * Authentication and where credentials go: Basic against docker-registry with htpasswd, Bearer through a
 * small token server in front of a plain registry (support.ts; distribution 2.8 needs an external token
 * service for Bearer), exact-host credential choice, and no credentials across a redirect to another host.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { startRegistry, type RunningRegistry } from '../harness/registry.ts';
import {
  startFaultProxy,
  startHeaderRecorder,
  type FaultProxy,
  type HeaderRecorder,
  type RecorderAnswer,
} from '../harness/fault-proxy.ts';
import { buildImage, pushBuilt, type BuiltManifest } from '../harness/images.ts';
import { createRegistryClient } from '../../src/registry/client.ts';
import { dockerConfigCredentials, staticCredentials } from '../../src/registry/credentials.ts';
import { parseChallenges } from '../../src/registry/auth.ts';
import { RegistryError } from '../../src/registry/errors.ts';
import { parseRetryAfter, backoffDelay } from '../../src/registry/retry.ts';
import { ref, startTokenServer, type TokenServer } from './support.ts';

const b64 = (text: string) => Buffer.from(text).toString('base64');
const auth = { username: 'alice', password: 's3cret-pass' };

function isRegistryError(code: string, pattern: RegExp) {
  return (error: unknown): boolean => {
    assert.ok(error instanceof RegistryError, `expected RegistryError, got ${String(error)}`);
    assert.equal(error.code, code, error.message);
    assert.match(error.message, pattern);
    return true;
  };
}

const challenges = (value: string | undefined) =>
  parseChallenges(value).map((c) => ({ scheme: c.scheme, params: { ...c.params } }));

void describe('challenge and Retry-After parsing', () => {
  void test('WWW-Authenticate: quoted and bare params, several challenges, garbage', () => {
    assert.deepEqual(
      challenges(
        'Bearer realm="https://auth.example/token",service="registry.example",scope="repository:a/b:pull,push"',
      ),
      [
        {
          scheme: 'bearer',
          params: {
            realm: 'https://auth.example/token',
            service: 'registry.example',
            scope: 'repository:a/b:pull,push',
          },
        },
      ],
    );
    assert.deepEqual(challenges('Basic realm=test'), [{ scheme: 'basic', params: { realm: 'test' } }]);
    const two = challenges('Basic realm="r", Bearer realm="https://t/x", service="s"');
    assert.deepEqual(
      two.map((c) => c.scheme),
      ['basic', 'bearer'],
    );
    assert.equal(two[1]?.params.service, 's');
    assert.deepEqual(challenges(undefined), []);
    assert.deepEqual(challenges('x'.repeat(10_000)), []);
  });
  void test('Retry-After as seconds or HTTP date; backoff has full jitter within the cap', () => {
    assert.equal(parseRetryAfter('3'), 3000);
    assert.equal(
      parseRetryAfter('Wed, 21 Oct 2015 07:28:10 GMT', Date.parse('Wed, 21 Oct 2015 07:28:00 GMT')),
      10_000,
    );
    assert.equal(parseRetryAfter('soon'), undefined);
    assert.equal(parseRetryAfter(undefined), undefined);
    assert.equal(
      backoffDelay(10, 200, 5000, () => 0.999),
      4995,
    );
    assert.equal(
      backoffDelay(0, 200, 5000, () => 0.5),
      100,
    );
    assert.equal(
      backoffDelay(3, 200, 5000, () => 0),
      0,
    );
  });
});

void describe('credentials on the wire', () => {
  let plain: RunningRegistry;
  let secured: RunningRegistry;
  let tokenServer: TokenServer;
  let securedProxy: FaultProxy;
  let plainProxy: FaultProxy;
  let storage: HeaderRecorder;
  let image: BuiltManifest;

  before(async () => {
    [plain, secured] = await Promise.all([startRegistry(), startRegistry({ auth })]);
    image = buildImage({ seed: 'auth-image' });
    await pushBuilt(secured.host, 'team/app', image, 'v1', { auth });
    await pushBuilt(plain.host, 'team/app', image, 'v1');
    await pushBuilt(plain.host, 'team/other', image, 'v1');
    securedProxy = await startFaultProxy(secured.url);
    plainProxy = await startFaultProxy(plain.url);
    tokenServer = await startTokenServer(plain.url, auth);
    const config = image.json.config as { digest: string };
    const configBytes = image.blobs.find((b) => b.digest === config.digest)?.bytes ?? new Uint8Array();
    // "Blob storage" on another loopback address: serves the right bytes, records what it receives.
    storage = await startHeaderRecorder({ respond: () => ({ status: 200, body: configBytes }) });
  });
  after(async () => {
    await Promise.all([securedProxy?.stop(), plainProxy?.stop(), tokenServer?.stop(), storage?.stop()]);
    await Promise.all([plain?.stop(), secured?.stop()]);
  });

  void test('Basic auth with credentials from a Docker config for the exact host', async () => {
    const credentials = dockerConfigCredentials({
      auths: { [`http://${secured.host}`]: { auth: b64(`${auth.username}:${auth.password}`) } },
    });
    const client = createRegistryClient({ credentials, insecureRegistries: [secured.host] });
    try {
      const descriptor = await client.resolve(ref(secured.host, 'team/app', 'v1'));
      assert.equal(descriptor.digest, image.digest);
    } finally {
      await client.close();
    }
  });

  void test('no or wrong credentials: UNAUTHORIZED naming the registry', async () => {
    const anonymous = createRegistryClient({ insecureRegistries: [secured.host] });
    const wrong = createRegistryClient({
      insecureRegistries: [secured.host],
      credentials: staticCredentials({
        [secured.host]: { kind: 'basic', username: 'alice', password: 'nope' },
      }),
    });
    try {
      await assert.rejects(
        anonymous.resolve(ref(secured.host, 'team/app', 'v1')),
        isRegistryError(
          'UNAUTHORIZED',
          new RegExp(
            `registry ${secured.host}/team/app:v1: authentication required and no credentials are configured for ${secured.host}`,
          ),
        ),
      );
      await assert.rejects(
        wrong.resolve(ref(secured.host, 'team/app', 'v1')),
        isRegistryError('UNAUTHORIZED', /refused our credentials/),
      );
    } finally {
      await Promise.all([anonymous.close(), wrong.close()]);
    }
  });

  void test('credentials for 127.0.0.1:Y are never sent to 127.0.0.1:X', async () => {
    // Creds exist for the secured registry's port only; the plain registry (another port) must get none.
    const credentials = dockerConfigCredentials({
      auths: { [securedProxy.host]: { auth: b64(`${auth.username}:${auth.password}`) } },
    });
    const client = createRegistryClient({
      credentials,
      insecureRegistries: [securedProxy.host, plainProxy.host],
    });
    plainProxy.clearRequests();
    securedProxy.clearRequests();
    try {
      assert.equal((await client.resolve(ref(plainProxy.host, 'team/app', 'v1'))).digest, image.digest);
      assert.equal((await client.resolve(ref(securedProxy.host, 'team/app', 'v1'))).digest, image.digest);
      assert.ok(plainProxy.requests.length > 0);
      assert.ok(
        plainProxy.requests.every((r) => r.headers.authorization === undefined),
        'no Authorization to the other port',
      );
      assert.ok(securedProxy.requests.some((r) => r.headers.authorization?.startsWith('Basic ')));
    } finally {
      await client.close();
    }
  });

  void test('a blob redirect to another host carries no Authorization header', async () => {
    const credentials = staticCredentials({
      [securedProxy.host]: { kind: 'basic', username: auth.username, password: auth.password },
    });
    const client = createRegistryClient({
      credentials,
      insecureRegistries: [securedProxy.host, storage.host],
    });
    const config = image.json.config as { digest: string; size: number; mediaType: string };
    try {
      const repo = client.repository(securedProxy.host, 'team/app');
      await repo.resolve(ref(securedProxy.host, 'team/app', 'v1'));
      securedProxy.clearRequests();
      securedProxy.setFaults([
        {
          method: 'GET',
          path: /^\/v2\/team\/app\/blobs\//,
          fault: 'redirect',
          location: `${storage.url}/storage/blob?sig=abc`,
        },
      ]);
      const bytes = await repo.fetchBlob(config, { maxBytes: 1024 * 1024 });
      assert.equal(bytes.length, config.size);
      assert.ok(
        securedProxy.requests[0]?.headers.authorization?.startsWith('Basic '),
        'the registry itself got credentials',
      );
      assert.equal(storage.requests.length, 1);
      assert.equal(storage.requests[0]?.headers.authorization, undefined, 'storage host got no credentials');
    } finally {
      securedProxy.setFaults([]);
      await client.close();
    }
  });

  void test('a redirect to a plain-HTTP host that is not configured insecure is refused', async () => {
    const client = createRegistryClient({ insecureRegistries: [plainProxy.host] });
    plainProxy.setFaults([
      { path: /\/manifests\//, fault: 'redirect', location: `${storage.url}/elsewhere` },
    ]);
    try {
      await assert.rejects(
        client.resolve(ref(plainProxy.host, 'team/app', image.digest)),
        isRegistryError(
          'INSECURE_REFUSED',
          new RegExp(`${storage.host} is not configured as insecure; refusing plain HTTP`),
        ),
      );
    } finally {
      plainProxy.setFaults([]);
      await client.close();
    }
  });

  void test('Bearer: token fetched from the realm with Basic credentials, cached per scope', async () => {
    const credentials = staticCredentials({
      [tokenServer.host]: { kind: 'basic', username: auth.username, password: auth.password },
    });
    const client = createRegistryClient({ credentials, insecureRegistries: [tokenServer.host] });
    tokenServer.requests.length = 0;
    tokenServer.tokenScopes.length = 0;
    try {
      assert.equal((await client.resolve(ref(tokenServer.host, 'team/app', 'v1'))).digest, image.digest);
      assert.equal(
        (await client.resolve(ref(tokenServer.host, 'team/app', image.digest))).digest,
        image.digest,
      );
      await client.repository(tokenServer.host, 'team/app').listTags();
      assert.deepEqual(tokenServer.tokenScopes, ['repository:team/app:pull'], 'one token for the scope');
      assert.equal((await client.resolve(ref(tokenServer.host, 'team/other', 'v1'))).digest, image.digest);
      assert.deepEqual(tokenServer.tokenScopes, ['repository:team/app:pull', 'repository:team/other:pull']);
      const tokenRequests = tokenServer.requests.filter((r) => r.path.startsWith('/token'));
      assert.ok(tokenRequests.every((r) => r.headers.authorization?.startsWith('Basic ')));
      const registryRequests = tokenServer.requests.filter((r) => r.path.startsWith('/v2/'));
      assert.ok(
        registryRequests.every((r) => !r.headers.authorization?.startsWith('Basic ')),
        'registry sees tokens only',
      );
      // Only the first request of all was unauthenticated: the token is sent up front for the next scope.
      assert.equal(registryRequests.filter((r) => r.headers.authorization === undefined).length, 1);
    } finally {
      await client.close();
    }
  });

  void test('Bearer: anonymous token request refused gives UNAUTHORIZED from the token service', async () => {
    const client = createRegistryClient({ insecureRegistries: [tokenServer.host] });
    try {
      await assert.rejects(
        client.resolve(ref(tokenServer.host, 'team/app', 'v1')),
        isRegistryError(
          'UNAUTHORIZED',
          new RegExp(
            `token service ${tokenServer.host} refused anonymous request for repository:team/app:pull with 401`,
          ),
        ),
      );
    } finally {
      await client.close();
    }
  });

  void test('Bearer: identity tokens are exchanged with the refresh-token grant; short-lived tokens are renewed', async () => {
    const refreshing = await startTokenServer(plain.url, auth, {
      refreshToken: 'refresh-123',
      expiresIn: 10,
    });
    let clock = 1_000_000;
    const client = createRegistryClient({
      now: () => clock,
      credentials: staticCredentials({ [refreshing.host]: { kind: 'identity-token', token: 'refresh-123' } }),
      insecureRegistries: [refreshing.host],
    });
    try {
      assert.equal((await client.resolve(ref(refreshing.host, 'team/app', 'v1'))).digest, image.digest);
      const posts = refreshing.requests.filter((r) => r.method === 'POST' && r.path === '/token');
      assert.equal(posts.length, 1);
      assert.equal(
        posts[0]?.headers.authorization,
        undefined,
        'the refresh token travels in the form body only',
      );
      // Past expires_in (10 s on the injected clock) the next request fetches a fresh token.
      clock += 11_000;
      assert.deepEqual(await client.repository(refreshing.host, 'team/app').listTags(), ['v1']);
      assert.equal(refreshing.requests.filter((r) => r.method === 'POST').length, 2);
    } finally {
      await client.close();
      await refreshing.stop();
    }
  });

  void test('a 401 from a host reached by redirect is refused: no credentials go to the realm it names', async () => {
    // "Storage" on another loopback address answers the redirected blob GET with its own Bearer challenge,
    // naming a realm on itself. Answering it would hand the registry's Basic credentials to that realm.
    const rogue: HeaderRecorder = await startHeaderRecorder({
      respond: (request): RecorderAnswer =>
        request.path.startsWith('/token')
          ? { status: 200, body: '{"token":"stolen"}' }
          : { status: 401, headers: { 'www-authenticate': `Bearer realm="${rogueUrl}/token",service="x"` } },
    });
    const rogueUrl = rogue.url;
    const credentials = staticCredentials({
      [securedProxy.host]: { kind: 'basic', username: auth.username, password: auth.password },
    });
    const client = createRegistryClient({
      credentials,
      insecureRegistries: [securedProxy.host, rogue.host],
    });
    const config = image.json.config as { digest: string; size: number; mediaType: string };
    try {
      const repo = client.repository(securedProxy.host, 'team/app');
      await repo.resolve(ref(securedProxy.host, 'team/app', 'v1'));
      securedProxy.setFaults([
        {
          method: 'GET',
          path: /^\/v2\/team\/app\/blobs\//,
          fault: 'redirect',
          location: `${rogue.url}/blob`,
        },
      ]);
      await assert.rejects(
        repo.fetchBlob(config, { maxBytes: 1024 * 1024 }),
        isRegistryError(
          'UNAUTHORIZED',
          new RegExp(
            `${rogue.host}, reached by a redirect, asked for authentication; credentials for ${securedProxy.host} go to ${securedProxy.host} only`,
          ),
        ),
      );
      assert.ok(
        rogue.requests.every((r) => !r.path.startsWith('/token')),
        'the rogue realm was never asked for a token',
      );
      assert.ok(rogue.requests.every((r) => r.headers.authorization === undefined));
      // The registry's own scheme is untouched: the next read still authenticates with Basic.
      securedProxy.setFaults([]);
      securedProxy.clearRequests();
      assert.equal((await repo.fetchBlob(config, { maxBytes: 1024 * 1024 })).length, config.size);
      assert.ok(securedProxy.requests[0]?.headers.authorization?.startsWith('Basic '));
    } finally {
      securedProxy.setFaults([]);
      await client.close();
      await rogue.stop();
    }
  });

  void test('a token request redirected to another host is refused: the refresh token stays home', async () => {
    const thief = await startHeaderRecorder({ bindAddress: '127.0.0.3' });
    // The "registry" challenges with a realm on itself, and the realm redirects (307 keeps the body) away.
    const registry: HeaderRecorder = await startHeaderRecorder({
      respond: (request): RecorderAnswer =>
        request.path.startsWith('/token')
          ? { status: 307, headers: { location: `${thief.url}/token` } }
          : {
              status: 401,
              headers: { 'www-authenticate': `Bearer realm="${registryUrl}/token",service="s"` },
            },
    });
    const registryUrl = registry.url;
    const client = createRegistryClient({
      credentials: staticCredentials({ [registry.host]: { kind: 'identity-token', token: 'refresh-xyz' } }),
      insecureRegistries: [registry.host, thief.host],
    });
    try {
      await assert.rejects(
        client.resolve(ref(registry.host, 'team/app', 'v1')),
        isRegistryError(
          'BAD_RESPONSE',
          new RegExp(
            `POST redirected to another host \\(${thief.host}\\); the request body is sent only to ${registry.host}`,
          ),
        ),
      );
      assert.equal(registry.requests.filter((r) => r.method === 'POST').length, 1);
      assert.deepEqual(thief.requests, [], 'nothing reached the other host');
    } finally {
      await client.close();
      await Promise.all([thief.stop(), registry.stop()]);
    }
  });

  void test('ghcr.io credentials are never chosen for cr.io', async () => {
    const store = dockerConfigCredentials({ auths: { 'ghcr.io': { auth: b64('u:p') } } });
    assert.equal(await store.get('cr.io'), undefined);
    assert.ok(await store.get('ghcr.io'));
  });
});
