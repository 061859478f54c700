import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { chmodSync, existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  CredentialError,
  dockerConfigCredentials,
  kubernetesSecretCredentials,
  loadDockerConfig,
  runCredentialHelper,
  staticCredentials,
} from '../../src/registry/credentials.ts';
import { apiHost, canonicalHost } from '../../src/registry/hosts.ts';

const b64 = (text: string) => Buffer.from(text).toString('base64');

void describe('canonical hosts', () => {
  void test('lower-cases, keeps the port, strips scheme and path, folds Docker Hub aliases', () => {
    assert.equal(canonicalHost('GHCR.IO'), 'ghcr.io');
    assert.equal(canonicalHost('127.0.0.1:5000'), '127.0.0.1:5000');
    assert.equal(canonicalHost('https://registry.example:8443/v2/'), 'registry.example:8443');
    for (const alias of [
      'docker.io',
      'index.docker.io',
      'registry-1.docker.io',
      'https://index.docker.io/v1/',
    ]) {
      assert.equal(canonicalHost(alias), 'docker.io', alias);
    }
    assert.equal(apiHost('docker.io'), 'registry-1.docker.io');
    assert.equal(apiHost('ghcr.io'), 'ghcr.io');
  });
  void test('rejects user information and garbage with a message', () => {
    assert.throws(() => canonicalHost('https://user:pw@ghcr.io'), /user information/);
    assert.throws(() => canonicalHost('ghcr io'), /invalid registry host "ghcr io": expected host\[:port\]/);
    assert.throws(() => canonicalHost('host:70000'), /port out of range/);
  });
});

void describe('Docker config credentials', () => {
  const config = {
    auths: {
      'ghcr.io': { auth: b64('gh-user:gh-pass') },
      'https://index.docker.io/v1/': { username: 'hub-user', password: 'hub-pass' },
      'http://127.0.0.1:5000/some/path': { auth: b64('local:pw:with:colons') },
      'quay.io': { identitytoken: 'refresh-me', auth: b64('robot:unused') },
      'empty.example': {},
    },
  };
  const store = dockerConfigCredentials(config);

  void test('auth, username/password, identitytoken; keys may be URLs', async () => {
    assert.deepEqual(await store.get('ghcr.io'), { kind: 'basic', username: 'gh-user', password: 'gh-pass' });
    assert.deepEqual(await store.get('docker.io'), {
      kind: 'basic',
      username: 'hub-user',
      password: 'hub-pass',
    });
    assert.deepEqual(await store.get('index.docker.io'), {
      kind: 'basic',
      username: 'hub-user',
      password: 'hub-pass',
    });
    assert.deepEqual(await store.get('127.0.0.1:5000'), {
      kind: 'basic',
      username: 'local',
      password: 'pw:with:colons',
    });
    assert.deepEqual(await store.get('quay.io'), {
      kind: 'identity-token',
      username: 'robot',
      token: 'refresh-me',
    });
    assert.equal(await store.get('empty.example'), undefined);
  });

  void test('exact host only: never substring, suffix, or another port (GHSA-pf56-329r-95rw)', async () => {
    assert.equal(await store.get('cr.io'), undefined);
    assert.equal(await store.get('evil-ghcr.io'), undefined);
    assert.equal(await store.get('ghcr.io.evil.example'), undefined);
    assert.equal(await store.get('127.0.0.1:5001'), undefined);
    assert.equal(await store.get('127.0.0.1'), undefined);
    const fixed = staticCredentials({ 'ghcr.io': { kind: 'basic', username: 'a', password: 'b' } });
    assert.equal(await fixed.get('cr.io'), undefined);
    assert.ok(await fixed.get('GHCR.io'));
  });

  void test('malformed entries are clear errors', () => {
    assert.throws(() => dockerConfigCredentials([]), /Docker config: expected a JSON object/);
    assert.throws(
      () => dockerConfigCredentials({ auths: { 'a.io': { auth: b64('nocolon') } } }),
      /auths\["a.io"\]\.auth must be base64 of "username:password"/,
    );
    assert.throws(
      () => dockerConfigCredentials({ auths: { 'a.io': { username: 'u' } } }),
      /needs both username and password/,
    );
    assert.throws(
      () => dockerConfigCredentials({ credsStore: '../../bin/sh' }),
      /credsStore must be a credential helper name/,
    );
  });

  void test('Kubernetes dockerconfigjson secrets never run helpers', async () => {
    const secret = kubernetesSecretCredentials({
      auths: { 'ghcr.io': { auth: b64('k:s') } },
      credsStore: 'test',
    });
    assert.deepEqual(await secret.get('ghcr.io'), { kind: 'basic', username: 'k', password: 's' });
    assert.equal(await secret.get('other.io'), undefined);
  });
});

void describe('credential helpers (docker-credential-* on PATH)', () => {
  let dir: string;
  let env: NodeJS.ProcessEnv;
  before(() => {
    dir = mkdtempSync(join(tmpdir(), 'portcullis-credhelper-'));
    const script = (name: string, body: string) => {
      const file = join(dir, `docker-credential-${name}`);
      writeFileSync(file, `#!/bin/sh\n${body}\n`);
      chmodSync(file, 0o755);
    };
    // Answers for two hosts, "credentials not found" otherwise; logs what it was asked.
    script(
      'test',
      [
        '[ "$1" = get ] || exit 2',
        'read host',
        `echo "$host" >> "${join(dir, 'asked.log')}"`,
        'case "$host" in',
        '  ghcr.io) echo \'{"ServerURL":"ghcr.io","Username":"helper-user","Secret":"helper-pass"}\' ;;',
        '  https://index.docker.io/v1/) echo \'{"ServerURL":"x","Username":"<token>","Secret":"hub-refresh"}\' ;;',
        '  *) echo "credentials not found in native keychain"; exit 1 ;;',
        'esac',
      ].join('\n'),
    );
    script('slow', 'sleep 30');
    script('chatty', 'yes xxxxxxxxxxxxxxxx');
    script('broken', 'echo "boom" >&2; exit 3');
    script('garbage', 'echo not-json');
    env = { ...process.env, PATH: `${dir}:${process.env.PATH ?? ''}` };
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  void test('credHelpers per host and credsStore, with auths as the fallback', async () => {
    const store = dockerConfigCredentials(
      {
        credHelpers: { 'GHCR.IO': 'test' },
        credsStore: 'test',
        auths: { 'other.io': { auth: b64('file:pw') } },
      },
      { allowHelpers: true, env },
    );
    assert.deepEqual(await store.get('ghcr.io'), {
      kind: 'basic',
      username: 'helper-user',
      password: 'helper-pass',
    });
    assert.deepEqual(await store.get('docker.io'), { kind: 'identity-token', token: 'hub-refresh' });
    assert.deepEqual(await store.get('other.io'), { kind: 'basic', username: 'file', password: 'pw' });
    assert.equal(await store.get('cr.io'), undefined);
  });

  void test("a helper's answer is reused for a while, then asked again (its tokens expire)", async () => {
    let clock = 1_000_000;
    const log = join(dir, 'asked.log');
    const asked = () =>
      readFileSync(log, 'utf8')
        .split('\n')
        .filter((l) => l === 'ghcr.io').length;
    const store = dockerConfigCredentials(
      { credHelpers: { 'ghcr.io': 'test' }, auths: { 'other.io': { auth: b64('file:pw') } } },
      { allowHelpers: true, env, helperCacheMs: 60_000, now: () => clock },
    );
    const before = existsSync(log) ? asked() : 0;
    assert.equal((await store.get('ghcr.io'))?.kind, 'basic');
    assert.equal((await store.get('ghcr.io'))?.kind, 'basic');
    assert.equal(asked(), before + 1, 'reused within the cache time');
    clock += 60_001;
    assert.equal((await store.get('ghcr.io'))?.kind, 'basic');
    assert.equal(asked(), before + 2, 'asked again once expired');
    assert.deepEqual(await store.get('other.io'), { kind: 'basic', username: 'file', password: 'pw' });
  });

  void test('loadDockerConfig reads the file and runs helpers; a missing default file is anonymous', async () => {
    const file = join(dir, 'config.json');
    writeFileSync(file, JSON.stringify({ credHelpers: { 'ghcr.io': 'test' } }));
    const store = await loadDockerConfig(file, { env });
    assert.equal((await store.get('ghcr.io'))?.kind, 'basic');
    const none = await loadDockerConfig(undefined, { env: { ...env, DOCKER_CONFIG: join(dir, 'nowhere') } });
    assert.equal(await none.get('ghcr.io'), undefined);
    await assert.rejects(
      loadDockerConfig(join(dir, 'missing.json')),
      /cannot read Docker config .*missing\.json/,
    );
    writeFileSync(join(dir, 'bad.json'), '{');
    await assert.rejects(loadDockerConfig(join(dir, 'bad.json')), /bad\.json is not valid JSON/);
  });

  void test('helpers are bounded in time and output, and failures are errors', async () => {
    const run = (name: string) => runCredentialHelper(name, 'ghcr.io', { timeoutMs: 500, env });
    await assert.rejects(
      run('slow'),
      (e: unknown) => e instanceof CredentialError && /did not finish within 500 ms/.test(e.message),
    );
    await assert.rejects(run('chatty'), /wrote more than 65536 bytes/);
    await assert.rejects(run('broken'), /exited with 3: boom/);
    await assert.rejects(run('garbage'), /output is not JSON/);
    await assert.rejects(run('absent'), /docker-credential-absent for ghcr.io could not run/);
    assert.equal(await run('test').then((c) => c?.kind), 'basic');
  });
});
