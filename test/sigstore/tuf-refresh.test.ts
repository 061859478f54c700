import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { createServer } from 'node:http';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startTufRepo, canonicalJson, type TufRepo } from '../harness/tuf-repo.ts';
import { cli } from '../cli/run.ts';
import { SIGSTORE, sha256Hex } from './support.ts';
import { SigstoreError } from '../../src/sigstore/index.ts';
import {
  bundledPublicGoodSeed,
  describePublicGoodTrustRoot,
  loadPublicGoodTrustRoot,
} from '../../src/sigstore/trust/public-good.ts';
import { updateTrustRoot, TufUpdateError } from '../../src/sigstore/trust/refresh.ts';
import { STATE_FILE, tufCacheDir, writeRefreshedTrustRoot } from '../../src/sigstore/trust/tuf-cache.ts';

const STAGING_ROOT = readFileSync(join(SIGSTORE, 'staging/trusted_root.json'));
const PUBLIC_GOOD_ROOT = readFileSync(join(SIGSTORE, 'public-good/trusted_root.json'));
const BUNDLED_DIGEST = `sha256:${sha256Hex(bundledPublicGoodSeed().trustedRootText)}`;

const tempDirs: string[] = [];
function cacheDir(): string {
  const dir = mkdtempSync(join(tmpdir(), 'portcullis-tuf-cache-'));
  tempDirs.push(dir);
  return dir;
}

/** The staging root with its first transparency log's validFor.start removed: TUF-valid, refused by our loader. */
function rootWithoutLogStart(): Buffer {
  const json = JSON.parse(STAGING_ROOT.toString('utf8')) as {
    tlogs: Array<{ publicKey: { validFor: Record<string, unknown> } }>;
  };
  delete json.tlogs[0]!.publicKey.validFor.start;
  return Buffer.from(JSON.stringify(json, null, 2));
}

const update = (repo: TufRepo, dir: string): Promise<Awaited<ReturnType<typeof cli>>> =>
  cli(['trust-root', 'update', '--mirror', repo.url, '--cache', dir, '--root', repo.rootPath]);

void describe('canonical JSON (harness)', () => {
  void it('sorts keys, has no whitespace and escapes only quote and backslash', () => {
    assert.equal(canonicalJson({ b: [1, true, null], a: 'x"\\\n' }), '{"a":"x\\"\\\\\n","b":[1,true,null]}');
    assert.throws(() => canonicalJson({ a: 1.5 }), /non-integer/);
  });
});

void describe('trust-root update through a real TUF repository on 127.0.0.1', () => {
  let repo: TufRepo;
  before(async () => {
    repo = await startTufRepo();
  });
  after(async () => {
    await repo.close();
    for (const d of tempDirs) rmSync(d, { recursive: true, force: true });
  });

  void it('verifies the chain, caches the target, and verification then uses the refreshed root', async () => {
    repo.publish({ 'trusted_root.json': STAGING_ROOT });
    const dir = cacheDir();
    const r = await update(repo, dir);
    assert.equal(r.code, 0, r.stderr);
    const sha = sha256Hex(STAGING_ROOT);
    assert.match(
      r.stdout,
      new RegExp(
        `^trust root updated from ${repo.url}: trusted_root.json sha256:${sha}; TUF root v1 \\(expires [0-9T:-]+Z\\), timestamp v1 \\(expires [0-9T:-]+Z\\), targets v1; cached in ${dir}\\n$`,
      ),
    );
    // Consistent snapshots, as Sigstore's CDN serves them.
    assert.deepEqual(repo.requests, [
      '/2.root.json',
      '/timestamp.json',
      '/1.snapshot.json',
      '/1.targets.json',
      `/targets/${sha}.trusted_root.json`,
    ]);
    assert.deepEqual(readFileSync(join(dir, 'trusted_root.json')), STAGING_ROOT);

    const info = describePublicGoodTrustRoot({ cacheDir: dir });
    assert.equal(info.source, 'refreshed');
    assert.equal(info.root.digest, `sha256:${sha}`);
    assert.equal(info.refresh?.anchor, 'file');
    assert.equal(info.refresh?.tuf.timestamp?.version, 1);
    assert.equal(loadPublicGoodTrustRoot({ cacheDir: dir }).digest, `sha256:${sha}`);
    assert.notEqual(`sha256:${sha}`, BUNDLED_DIGEST);

    // A second run with nothing new: same root, reported unchanged.
    const again = await update(repo, dir);
    assert.equal(again.code, 0, again.stderr);
    assert.match(again.stdout, /^trust root unchanged from /);
  });

  void it('follows a root rotation and a new target', async () => {
    const dir = cacheDir();
    repo.publish({ 'trusted_root.json': STAGING_ROOT });
    assert.equal((await update(repo, dir)).code, 0);
    repo.rotateRoot();
    repo.publish({ 'trusted_root.json': PUBLIC_GOOD_ROOT });
    const r = await updateTrustRoot({ mirror: repo.url, cacheDir: dir, rootPath: repo.rootPath });
    assert.equal(r.changed, true);
    assert.equal(r.state.tuf.root.version, 2);
    assert.equal(loadPublicGoodTrustRoot({ cacheDir: dir }).digest, `sha256:${sha256Hex(PUBLIC_GOOD_ROOT)}`);
  });

  void it('refuses a target whose bytes do not match targets.json, and keeps the previous root', async () => {
    const dir = cacheDir();
    repo.publish({ 'trusted_root.json': STAGING_ROOT });
    assert.equal((await update(repo, dir)).code, 0);
    // Same length, one byte changed: only the hash check can catch it.
    const tampered = Buffer.from(PUBLIC_GOOD_ROOT);
    const at = tampered.length - 2;
    tampered.writeUInt8(tampered.readUInt8(at) ^ 0x01, at);
    repo.publish(
      { 'trusted_root.json': PUBLIC_GOOD_ROOT },
      { serveInstead: { 'trusted_root.json': tampered } },
    );
    const r = await update(repo, dir);
    assert.equal(r.code, 1);
    assert.equal(r.stdout, '');
    assert.match(
      r.stderr,
      /^portcullis: trust-root update failed: TUF update from http:\/\/127\.0\.0\.1:\d+ failed: error downloading target/,
    );
    assert.match(r.stderr, /hash|digest/i);
    assert.match(r.stderr, /still using the root refreshed at .* \(sha256:[0-9a-f]{64}\)\n$/);
    assert.equal(r.stderr.split('\n').length, 2, 'one line');
    assert.equal(loadPublicGoodTrustRoot({ cacheDir: dir }).digest, `sha256:${sha256Hex(STAGING_ROOT)}`);
  });

  void it('refuses an expired timestamp', async () => {
    const dir = cacheDir();
    repo.publish({ 'trusted_root.json': STAGING_ROOT }, { timestampExpires: '2020-01-01T00:00:00Z' });
    const r = await update(repo, dir);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /timestamp\.json is expired/);
    assert.match(r.stderr, /still using the bundled root/);
    assert.equal(existsSync(join(dir, STATE_FILE)), false);
    assert.equal(loadPublicGoodTrustRoot({ cacheDir: dir }).digest, BUNDLED_DIGEST);
  });

  void it('refuses a target TUF accepts but the strict loader does not (a log without validFor.start)', async () => {
    const dir = cacheDir();
    repo.publish({ 'trusted_root.json': STAGING_ROOT });
    assert.equal((await update(repo, dir)).code, 0);
    repo.publish({ 'trusted_root.json': rootWithoutLogStart() });
    const r = await update(repo, dir);
    assert.equal(r.code, 1);
    assert.match(
      r.stderr,
      /verified, but the target was refused: invalid trusted root trusted_root\.json from .*: tlogs\[0\].*validFor\.start is missing/,
    );
    assert.equal(loadPublicGoodTrustRoot({ cacheDir: dir }).digest, `sha256:${sha256Hex(STAGING_ROOT)}`);
  });

  void it('refuses metadata signed by a key the root does not trust', async () => {
    const dir = cacheDir();
    const other = await startTufRepo();
    try {
      other.publish({ 'trusted_root.json': STAGING_ROOT });
      // Our repo's root, the other repo's metadata.
      const r = await cli([
        'trust-root',
        'update',
        '--mirror',
        other.url,
        '--cache',
        dir,
        '--root',
        repo.rootPath,
      ]);
      assert.equal(r.code, 1);
      assert.match(r.stderr, /timestamp was signed by 0\/1 keys/);
    } finally {
      await other.close();
    }
  });

  void it('refuses garbage metadata with a one-line reason', async () => {
    const dir = cacheDir();
    repo.publish({ 'trusted_root.json': STAGING_ROOT });
    repo.override('/timestamp.json', { status: 200, body: '<html>not json</html>' });
    try {
      const r = await update(repo, dir);
      assert.equal(r.code, 1);
      assert.match(r.stderr, /^portcullis: trust-root update failed: TUF update from .* failed: .*JSON/);
      assert.equal(r.stderr.split('\n').length, 2);
      repo.override('/timestamp.json', { status: 500, body: 'boom' });
      const r500 = await updateTrustRoot({
        mirror: repo.url,
        cacheDir: dir,
        rootPath: repo.rootPath,
        retries: 0,
      }).catch((e: unknown) => e);
      assert.ok(r500 instanceof TufUpdateError && r500.code === 'TUF_UPDATE_FAILED');
      assert.match(r500.message, /HTTP 500/);
    } finally {
      repo.override('/timestamp.json', undefined);
    }
  });

  void it('fails with a clear message when the mirror is unreachable', async () => {
    const closed = createServer();
    await new Promise<void>((resolve) => closed.listen(0, '127.0.0.1', resolve));
    const port = (closed.address() as { port: number }).port;
    await new Promise<void>((resolve) => closed.close(() => resolve()));
    const dir = cacheDir();
    const r = await cli([
      'trust-root',
      'update',
      '--mirror',
      `http://127.0.0.1:${port}`,
      '--cache',
      dir,
      '--root',
      repo.rootPath,
    ]);
    assert.equal(r.code, 1);
    assert.match(
      r.stderr,
      new RegExp(
        `failed: request to http://127\\.0\\.0\\.1:${port}/2\\.root\\.json failed, reason: connect ECONNREFUSED`,
      ),
    );
    assert.match(r.stderr, /still using the bundled root/);
  });

  void it('starts from the bundled public-good TUF root: a real v15 rotation verifies, then expiry is enforced', async () => {
    // public-good/root.json is Sigstore's real v15 root, signed by the v14 keys @sigstore/tuf ships.
    // Serving it proves the default chain starts from the bundled root and checks real signatures;
    // it expired on 2026-11-20, so the update must stop there.
    const mirror = await startTufRepo();
    const dir = cacheDir();
    try {
      const v15 = readFileSync(join(SIGSTORE, 'public-good/root.json'));
      mirror.override('/15.root.json', { status: 200, body: v15 });
      mirror.publish({ 'trusted_root.json': STAGING_ROOT });
      const r = await cli(['trust-root', 'update', '--mirror', mirror.url, '--cache', dir]);
      assert.equal(r.code, 1);
      assert.deepEqual(mirror.requests.slice(0, 2), ['/15.root.json', '/16.root.json']);
      assert.match(r.stderr, /Final root\.json is expired/);

      // The same root with one signed field changed no longer verifies against the v14 keys.
      const forged = JSON.parse(v15.toString('utf8')) as { signed: { expires: string } };
      forged.signed.expires = '2099-01-01T00:00:00Z';
      mirror.override('/15.root.json', { status: 200, body: JSON.stringify(forged) });
      const f = await cli(['trust-root', 'update', '--mirror', mirror.url, '--cache', dir]);
      assert.equal(f.code, 1);
      assert.match(f.stderr, /root was signed by 0\/\d+ keys/);
    } finally {
      await mirror.close();
    }
  });

  void it('rejects bad options with exit 2', async () => {
    const dir = cacheDir();
    const bad = await cli(['trust-root', 'update', '--mirror', 'ftp://example.test', '--cache', dir]);
    assert.equal(bad.code, 2);
    assert.match(
      bad.stderr,
      /^portcullis: trust-root update: mirror ftp:\/\/example\.test must be an http\(s\) URL\n$/,
    );
    const missing = await cli(['trust-root', 'update', '--cache', dir, '--root', join(dir, 'nope.json')]);
    assert.equal(missing.code, 2);
    assert.match(missing.stderr, /cannot read TUF root .*nope\.json: .*ENOENT/);
    const notRoot = join(dir, 'not-root.json');
    writeFileSync(notRoot, JSON.stringify({ signed: { _type: 'timestamp' }, signatures: [] }));
    const wrong = await cli(['trust-root', 'update', '--cache', dir, '--root', notRoot]);
    assert.equal(wrong.code, 2);
    assert.match(wrong.stderr, /is not a TUF root\.json/);
    const timeout = await cli(['trust-root', 'update', '--cache', dir, '--timeout', 'soon']);
    assert.equal(timeout.code, 2);
    assert.match(timeout.stderr, /--timeout must be a whole number of seconds/);
  });
});

void describe('choosing the public-good root offline', () => {
  after(() => {
    for (const d of tempDirs) rmSync(d, { recursive: true, force: true });
  });

  const stateFor = (anchor: 'bundled' | 'file', rootVersion: number, text: string) =>
    ({
      mirror: 'https://tuf-repo-cdn.sigstore.dev',
      anchor,
      updatedAt: '2026-11-27T00:00:00.000Z',
      trustedRootSha256: sha256Hex(text),
      tuf: { root: { version: rootVersion, expires: '2027-01-01T00:00:00Z' } },
    }) as const;

  void it('uses the bundled root when the cache is empty, and says so', async () => {
    const dir = cacheDir();
    assert.equal(loadPublicGoodTrustRoot({ cacheDir: dir }).digest, BUNDLED_DIGEST);
    const r = await cli(['trust-root', 'show', '--cache', dir]);
    assert.equal(r.code, 0, r.stderr);
    const lines = r.stdout.split('\n');
    assert.equal(
      lines[0],
      'public-good trust root in use: bundled with @sigstore/tuf (https://tuf-repo-cdn.sigstore.dev)',
    );
    assert.equal(lines[1], `trusted_root.json ${BUNDLED_DIGEST}`);
    assert.equal(lines[2], `no refreshed root in ${dir} (run \`portcullis trust-root update\`)`);
    assert.ok(
      lines.includes(
        '  certificate authority https://fulcio.sigstore.dev valid 2022-04-13T20:06:15Z .. open',
      ),
      r.stdout,
    );
    assert.ok(
      lines.some((l) =>
        /^ {2}transparency log https:\/\/rekor\.sigstore\.dev valid 2021-01-12T11:53:27Z \.\. open$/.test(l),
      ),
      r.stdout,
    );
    assert.ok(
      lines.some((l) => l.startsWith('  CT log https://ctfe.sigstore.dev/')),
      r.stdout,
    );
  });

  void it('prefers a refreshed root, and shows where it came from', async () => {
    const dir = cacheDir();
    const text = STAGING_ROOT.toString('utf8');
    writeRefreshedTrustRoot(dir, stateFor('bundled', bundledPublicGoodSeed().tufRootVersion, text), text);
    assert.equal(loadPublicGoodTrustRoot({ cacheDir: dir }).digest, `sha256:${sha256Hex(text)}`);
    const r = await cli(['trust-root', 'show', '--cache', dir, '-o', 'json']);
    assert.equal(r.code, 0, r.stderr);
    const doc = JSON.parse(r.stdout) as {
      source: string;
      digest: string;
      refresh: { anchor: string };
      entries: Array<{ kind: string }>;
    };
    assert.equal(doc.source, 'refreshed');
    assert.equal(doc.digest, `sha256:${sha256Hex(text)}`);
    assert.equal(doc.refresh.anchor, 'bundled');
    assert.ok(doc.entries.some((e) => e.kind === 'transparency log'));
    const t = await cli(['trust-root', 'show', '--cache', dir]);
    assert.match(t.stdout, new RegExp(`^public-good trust root in use: refreshed \\(cache ${dir}\\)\\n`));
    assert.match(
      t.stdout,
      /\nrefreshed 2026-11-27T00:00:00.000Z from https:\/\/tuf-repo-cdn\.sigstore\.dev \(chain from the bundled TUF root\); TUF root v\d+ expires 2027-01-01T00:00:00Z\n/,
    );
  });

  void it('ignores a refreshed root verified under an older TUF root than the bundled one', async () => {
    const dir = cacheDir();
    const text = STAGING_ROOT.toString('utf8');
    writeRefreshedTrustRoot(dir, stateFor('bundled', bundledPublicGoodSeed().tufRootVersion - 1, text), text);
    const info = describePublicGoodTrustRoot({ cacheDir: dir });
    assert.equal(info.source, 'bundled');
    assert.equal(info.root.digest, BUNDLED_DIGEST);
    assert.match(info.ignoredBecause ?? '', /older than the bundled version/);
    const r = await cli(['trust-root', 'show', '--cache', dir]);
    assert.match(
      r.stdout,
      /refreshed root in .* not used: the refreshed root was verified under TUF root version \d+, older than the bundled version \d+/,
    );
    // A chain from an operator-given root is another repository: versions do not compare.
    writeRefreshedTrustRoot(dir, stateFor('file', 1, text), text);
    assert.equal(describePublicGoodTrustRoot({ cacheDir: dir }).source, 'refreshed');
  });

  void it('fails closed on a corrupt cache instead of silently using another root', async () => {
    const dir = cacheDir();
    const text = STAGING_ROOT.toString('utf8');
    writeRefreshedTrustRoot(dir, stateFor('file', 1, text), text);
    const path = join(dir, STATE_FILE);
    const doc = JSON.parse(readFileSync(path, 'utf8')) as Record<string, unknown>;
    writeFileSync(path, JSON.stringify({ ...doc, trustedRootSha256: '0'.repeat(64) }));
    assert.throws(
      () => loadPublicGoodTrustRoot({ cacheDir: dir }),
      (e: unknown) =>
        e instanceof SigstoreError &&
        e.code === 'TRUST_ROOT_INVALID' &&
        /does not match trustedRootSha256/.test(e.message),
    );
    writeFileSync(path, '{"apiVersion":');
    assert.throws(
      () => loadPublicGoodTrustRoot({ cacheDir: dir }),
      /refreshed trust root .* is unusable: not JSON/,
    );
    const r = await cli(['trust-root', 'show', '--cache', dir]);
    assert.equal(r.code, 2);
    assert.match(r.stderr, /^portcullis: refreshed trust root .* is unusable: not JSON.*\n$/);
    // A cached root the strict loader refuses is refused at load too.
    const bad = rootWithoutLogStart().toString('utf8');
    writeRefreshedTrustRoot(dir, stateFor('file', 1, bad), bad);
    assert.throws(() => loadPublicGoodTrustRoot({ cacheDir: dir }), /validFor\.start is missing/);
  });

  void it('finds the cache from PORTCULLIS_TUF_CACHE, XDG_CACHE_HOME or the home directory', () => {
    assert.equal(tufCacheDir({ PORTCULLIS_TUF_CACHE: '/x/tuf', XDG_CACHE_HOME: '/y' }), '/x/tuf');
    assert.equal(tufCacheDir({ XDG_CACHE_HOME: '/y' }), '/y/portcullis/tuf');
    assert.match(tufCacheDir({}), /\/\.cache\/portcullis\/tuf$/);
  });
});
