/**
 * `portcullis generate-key-pair` and `portcullis sign` as a user runs them: keys written once with
 * the right modes, passwords from the environment (no hanging prompt in CI), the tag resolved once
 * and the digest signed, and the result verifying with the key.
 */
import assert from 'node:assert/strict';
import { after, afterEach, before, test } from 'node:test';
import { mkdtemp, readFile, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startRegistry, type RunningRegistry } from '../harness/registry.ts';
import { buildImage, pushBuilt } from '../harness/images.ts';
import { fixturePath } from '../harness/fixtures.ts';
import { createRegistryClient } from '../../src/registry/client.ts';
import { compileAuthority, evaluateAuthorities, type SignatureCandidate } from '../../src/sigstore/index.ts';
import { cli } from '../cli/run.ts';

let registry: RunningRegistry;
let dir: string;
const image = buildImage({ seed: 'cli-sign' });
const saved = {
  PORTCULLIS_PASSWORD: process.env.PORTCULLIS_PASSWORD,
  COSIGN_PASSWORD: process.env.COSIGN_PASSWORD,
};

before(async () => {
  registry = await startRegistry();
  await pushBuilt(registry.host, 'acme/api', image, 'v1');
  dir = await mkdtemp(join(tmpdir(), 'portcullis-sign-'));
});

afterEach(() => {
  for (const [name, value] of Object.entries(saved)) {
    if (value === undefined) delete process.env[name];
    else process.env[name] = value;
  }
});

after(async () => {
  await registry?.stop();
});

async function legacyCandidates(repo: string, digest: string): Promise<SignatureCandidate[]> {
  const client = createRegistryClient({ insecureRegistries: [registry.host] });
  try {
    const source = client.repository(registry.host, repo);
    const found = await source.resolveTag(`sha256-${digest.slice(7)}.sig`);
    assert.ok(found);
    const manifest = await source.fetchManifest(found.digest);
    if (manifest.parsed.kind !== 'image') throw new Error('not an image manifest');
    const out: SignatureCandidate[] = [];
    for (const layer of manifest.parsed.layers) {
      const payload = await source.fetchBlob(layer, { maxBytes: 1 << 20 });
      out.push({
        kind: 'legacy',
        source: layer.digest,
        signature: {
          payload,
          annotations: layer.annotations ?? {},
          mediaType: layer.mediaType,
          digest: layer.digest,
        },
      });
    }
    return out;
  } finally {
    await client.close();
  }
}

test('generate-key-pair writes cosign.key (0600) and cosign.pub once; sign with it verifies', async () => {
  delete process.env.COSIGN_PASSWORD;
  process.env.PORTCULLIS_PASSWORD = 'ci-secret';
  const prefix = join(dir, 'cosign');
  const gen = await cli(['generate-key-pair', '--output-key-prefix', prefix]);
  assert.equal(gen.code, 0, gen.stderr);
  assert.equal(gen.stdout, `Private key written to ${prefix}.key\nPublic key written to ${prefix}.pub\n`);
  assert.equal((await stat(`${prefix}.key`)).mode & 0o777, 0o600);
  assert.match(await readFile(`${prefix}.key`, 'utf8'), /^-----BEGIN ENCRYPTED SIGSTORE PRIVATE KEY-----\n/);

  const again = await cli(['generate-key-pair', '--output-key-prefix', prefix]);
  assert.equal(again.code, 2);
  assert.equal(
    again.stderr,
    `portcullis: ${prefix}.key already exists; refusing to overwrite it (choose another --output-key-prefix)\n`,
  );

  const ref = `${registry.host}/acme/api:v1`;
  const sign = await cli(['sign', ref, '--key', `${prefix}.key`, '--insecure-registry', registry.host]);
  assert.equal(sign.code, 0, sign.stderr);
  assert.equal(
    sign.stdout,
    `signed ${ref}@${image.digest} (${registry.host}/acme/api:sha256-${image.digest.slice(7)}.sig)\n`,
  );

  const authority = compileAuthority({
    kind: 'key',
    name: 'ci',
    keys: [await readFile(`${prefix}.pub`, 'utf8')],
    tlog: { required: false },
  });
  const decision = evaluateAuthorities({
    authorities: [authority],
    candidates: await legacyCandidates('acme/api', image.digest),
    imageDigest: image.digest,
  });
  assert.equal(decision.satisfied, true, decision.reason);

  // And through `verify --key` (the ad hoc policy from flags): no tlog entry, so only with --insecure-ignore-tlog.
  const verify = await cli([
    'verify',
    ref,
    '--key',
    `${prefix}.pub`,
    '--insecure-ignore-tlog',
    '--insecure-registry',
    registry.host,
  ]);
  assert.equal(verify.code, 0, verify.stdout + verify.stderr);
  const otherKey = await cli([
    'verify',
    ref,
    '--key',
    fixturePath('skopeo-signed', 'keys', 'k2.pub'),
    '--insecure-ignore-tlog',
    '--insecure-registry',
    registry.host,
  ]);
  assert.equal(otherKey.code, 1, 'a signature by another key does not satisfy --key k2.pub');
  const tlog = await cli(['verify', ref, '--key', `${prefix}.pub`, '--insecure-registry', registry.host]);
  assert.equal(tlog.code, 1);
  assert.match(tlog.stdout, /key: not in transparency log/);
});

test("sign with cosign's COSIGN_PASSWORD and a fixture key; bundle format reports the referrers index", async () => {
  delete process.env.PORTCULLIS_PASSWORD;
  process.env.COSIGN_PASSWORD = (
    await readFile(fixturePath('skopeo-signed', 'keys', 'passphrase.txt'), 'utf8')
  ).trim();
  const bundled = buildImage({ seed: 'cli-sign-bundle' });
  await pushBuilt(registry.host, 'acme/bundled', bundled, 'v1');
  const ref = `${registry.host}/acme/bundled@${bundled.digest}`;
  const r = await cli([
    'sign',
    ref,
    '--key',
    fixturePath('skopeo-signed', 'keys', 'k1.private'),
    '--format',
    'bundle',
    '--insecure-registry',
    registry.host,
  ]);
  assert.equal(r.code, 0, r.stderr);
  assert.match(
    r.stdout,
    new RegExp(
      `^signed ${ref.replace(/[.]/g, '\\.')} \\(${registry.host}/acme/bundled@sha256:[0-9a-f]{64}, listed in ${registry.host}/acme/bundled:sha256-${bundled.digest.slice(7)}\\)\n$`,
    ),
  );
  const k1 = fixturePath('skopeo-signed', 'keys', 'k1.pub');
  const verify = await cli([
    'verify',
    ref,
    '--key',
    k1,
    '--insecure-ignore-tlog',
    '--insecure-registry',
    registry.host,
  ]);
  assert.equal(verify.code, 0, verify.stdout + verify.stderr);
});

test("--bundle-content dsse writes cosign v3's statement, and verify --key accepts it", async () => {
  process.env.PORTCULLIS_PASSWORD = (
    await readFile(fixturePath('skopeo-signed', 'keys', 'passphrase.txt'), 'utf8')
  ).trim();
  const dsse = buildImage({ seed: 'cli-sign-dsse' });
  await pushBuilt(registry.host, 'acme/dsse', dsse, 'v1');
  const ref = `${registry.host}/acme/dsse:v1`;
  const key = fixturePath('skopeo-signed', 'keys', 'k2.private');
  const mixed = await cli(['sign', ref, '--key', key, '--bundle-content', 'dsse']);
  assert.equal(mixed.code, 2);
  assert.equal(mixed.stderr, 'portcullis: --bundle-content applies to --format bundle only\n');
  const r = await cli([
    'sign',
    ref,
    '--key',
    key,
    '--format',
    'bundle',
    '--bundle-content',
    'dsse',
    '--insecure-registry',
    registry.host,
  ]);
  assert.equal(r.code, 0, r.stderr);
  const k2 = fixturePath('skopeo-signed', 'keys', 'k2.pub');
  const verify = await cli([
    'verify',
    ref,
    '--key',
    k2,
    '--insecure-ignore-tlog',
    '--insecure-registry',
    registry.host,
  ]);
  assert.equal(verify.code, 0, verify.stdout + verify.stderr);
});

test('sign and verify agree on a tag prefix and a signature repository', async () => {
  process.env.PORTCULLIS_PASSWORD = (
    await readFile(fixturePath('skopeo-signed', 'keys', 'passphrase.txt'), 'utf8')
  ).trim();
  const ref = `${registry.host}/acme/api:v1`;
  const where = ['--attachment-tag-prefix', 'ci-', '--signature-repository', `${registry.host}/acme/sigs`];
  const r = await cli([
    'sign',
    ref,
    '--key',
    fixturePath('skopeo-signed', 'keys', 'k2.private'),
    '--insecure-registry',
    registry.host,
    ...where,
  ]);
  assert.equal(r.code, 0, r.stderr);
  assert.equal(
    r.stdout,
    `signed ${ref}@${image.digest} (${registry.host}/acme/sigs:ci-sha256-${image.digest.slice(7)}.sig)\n`,
  );
  const k2 = fixturePath('skopeo-signed', 'keys', 'k2.pub');
  const found = await cli([
    'verify',
    ref,
    '--key',
    k2,
    '--insecure-ignore-tlog',
    '--insecure-registry',
    registry.host,
    ...where,
  ]);
  assert.equal(found.code, 0, found.stdout + found.stderr);
  const elsewhere = await cli([
    'verify',
    ref,
    '--key',
    k2,
    '--insecure-ignore-tlog',
    '--insecure-registry',
    registry.host,
  ]);
  assert.equal(elsewhere.code, 1, 'not in the image repository');
});

test('password problems are exit 2 with a message, never a prompt in CI or a stack', async () => {
  delete process.env.PORTCULLIS_PASSWORD;
  delete process.env.COSIGN_PASSWORD;
  const key = fixturePath('skopeo-signed', 'keys', 'k1.private');
  const none = await cli([
    'sign',
    `${registry.host}/acme/api:v1`,
    '--key',
    key,
    '--insecure-registry',
    registry.host,
  ]);
  assert.equal(none.code, 2);
  assert.equal(
    none.stderr,
    'portcullis: no password: set PORTCULLIS_PASSWORD (or COSIGN_PASSWORD), or run on a terminal to be prompted\n',
  );
  const gen = await cli(['generate-key-pair', '--output-key-prefix', join(dir, 'nopass')]);
  assert.equal(gen.code, 2);
  assert.match(gen.stderr, /no password/);

  process.env.PORTCULLIS_PASSWORD = 'wrong';
  const wrong = await cli([
    'sign',
    `${registry.host}/acme/api:v1`,
    '--key',
    key,
    '--insecure-registry',
    registry.host,
  ]);
  assert.equal(wrong.code, 2);
  assert.equal(
    wrong.stderr,
    `portcullis: ${key}: cannot decrypt the private key: wrong password or corrupt key\n`,
  );
});

test('bad inputs: missing key file, a public key, a bad reference, a bad signature repository', async () => {
  process.env.PORTCULLIS_PASSWORD = 'x';
  const ref = `${registry.host}/acme/api:v1`;
  const missing = await cli(['sign', ref, '--key', join(dir, 'absent.key')]);
  assert.equal(missing.code, 2);
  assert.equal(missing.stderr, `portcullis: cannot read key ${join(dir, 'absent.key')}: ENOENT\n`);
  const pubKey = fixturePath('skopeo-signed', 'keys', 'k1.pub');
  const notPrivate = await cli(['sign', ref, '--key', pubKey]);
  assert.equal(notPrivate.code, 2);
  assert.match(notPrivate.stderr, /unsupported PEM type "PUBLIC KEY"/);
  const junk = join(dir, 'junk.key');
  await writeFile(junk, 'not a key');
  assert.match((await cli(['sign', ref, '--key', junk])).stderr, /no PEM block found/);
  const badRef = await cli(['sign', 'UPPER/Case:tag', '--key', pubKey]);
  assert.equal(badRef.code, 2);
  assert.match(badRef.stderr, /^portcullis: invalid image reference/);
  const badRepo = await cli([
    'sign',
    ref,
    '--key',
    pubKey,
    '--signature-repository',
    `${registry.host}/sigs:v1`,
  ]);
  assert.equal(badRepo.code, 2);
  assert.match(badRepo.stderr, /must name a repository, without tag or digest/);
  const badFormat = await cli(['sign', ref, '--key', pubKey, '--format', 'pgp']);
  assert.equal(badFormat.code, 2);
});

test('a tag that does not exist is exit 1 and says so; plain HTTP is refused unless allowed', async () => {
  process.env.PORTCULLIS_PASSWORD = (
    await readFile(fixturePath('skopeo-signed', 'keys', 'passphrase.txt'), 'utf8')
  ).trim();
  const key = fixturePath('skopeo-signed', 'keys', 'k1.private');
  const missing = await cli([
    'sign',
    `${registry.host}/acme/api:nope`,
    '--key',
    key,
    '--insecure-registry',
    registry.host,
  ]);
  assert.equal(missing.code, 1);
  assert.match(
    missing.stderr,
    new RegExp(
      `^portcullis: cannot sign ${registry.host}/acme/api:nope: registry ${registry.host}/acme/api:nope: tag not found\n$`,
    ),
  );
  const plain = await cli(['sign', `${registry.host}/acme/api:v1`, '--key', key]);
  assert.equal(plain.code, 1);
  assert.match(plain.stderr, /not configured as insecure/);
});
