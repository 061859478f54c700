import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { get as httpsGet } from 'node:https';
import { HarnessError, basicAuthorization, requireExecutable, startRegistry } from './registry.ts';
import type { RunningRegistry } from './registry.ts';

void describe('test registry (Debian docker-registry)', () => {
  let plain: RunningRegistry;
  let secured: RunningRegistry;
  const auth = { username: 'alice', password: 's3cret-pass' };

  before(async () => {
    [plain, secured] = await Promise.all([startRegistry(), startRegistry({ auth })]);
  });
  after(async () => {
    await Promise.all([plain?.stop(), secured?.stop()]);
  });

  void test('answers GET /v2/ with {} on a loopback ephemeral port', async () => {
    assert.match(plain.host, /^127\.0\.0\.1:\d+$/);
    assert.equal(plain.url, `http://${plain.host}`);
    const response = await fetch(`${plain.url}/v2/`);
    assert.equal(response.status, 200);
    assert.deepEqual(await response.json(), {});
  });

  void test('two registries get distinct ports and storage', () => {
    assert.notEqual(plain.host, secured.host);
    assert.notEqual(plain.dir, secured.dir);
  });

  void test('Basic auth: no credentials and wrong credentials are rejected with a Basic challenge', async () => {
    const anonymous = await fetch(`${secured.url}/v2/`);
    assert.equal(anonymous.status, 401);
    assert.match(anonymous.headers.get('www-authenticate') ?? '', /^Basic realm=/);
    const wrong = await fetch(`${secured.url}/v2/`, {
      headers: { authorization: basicAuthorization({ username: 'alice', password: 'nope' }) },
    });
    assert.equal(wrong.status, 401);
  });

  void test('Basic auth: the right credentials are accepted', async () => {
    const response = await fetch(`${secured.url}/v2/`, {
      headers: { authorization: basicAuthorization(auth) },
    });
    assert.equal(response.status, 200);
    assert.deepEqual(secured.auth, auth);
  });

  void test('stop() ends the registry and removes its directory; stopping twice is harmless', async () => {
    const registry = await startRegistry();
    assert.ok(existsSync(registry.dir));
    await registry.stop();
    await registry.stop();
    assert.equal(existsSync(registry.dir), false);
    await assert.rejects(fetch(`${registry.url}/v2/`, { signal: AbortSignal.timeout(2000) }));
  });

  void test('TLS: served over HTTPS with a certificate from a fresh test CA, trusted only with that CA', async () => {
    const registry = await startRegistry({ tls: true });
    try {
      assert.match(registry.url, /^https:\/\/127\.0\.0\.1:\d+$/);
      assert.ok(registry.tls);
      assert.match(registry.tls.caPem, /^-----BEGIN CERTIFICATE-----/);
      const status = (ca?: string): Promise<number | string> =>
        new Promise((resolve) => {
          const req = httpsGet(`${registry.url}/v2/`, ca !== undefined ? { ca } : {}, (res) => {
            res.resume();
            resolve(res.statusCode ?? 0);
          });
          req.on('error', (error: NodeJS.ErrnoException) => resolve(error.code ?? error.message));
        });
      assert.equal(await status(registry.tls.caPem), 200);
      assert.equal(await status(), 'UNABLE_TO_VERIFY_LEAF_SIGNATURE');
      const plainHttp = await fetch(`http://${registry.host}/v2/`);
      assert.equal(plainHttp.status, 400);
    } finally {
      await registry.stop();
    }
  });

  void test('a missing tool is reported with the command that installs it', () => {
    assert.throws(
      () => requireExecutable('portcullis-no-such-tool', 'no-such-package'),
      (error: Error) => {
        assert.ok(error instanceof HarnessError);
        assert.equal(error.code, 'HARNESS_TOOL_MISSING');
        assert.match(
          error.message,
          /portcullis-no-such-tool is not installed.*apt-get install -y no-such-package/,
        );
        return true;
      },
    );
  });
});
