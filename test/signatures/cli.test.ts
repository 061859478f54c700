/**
 * The command line: `verify IMAGE --key FILE` (a policy made from flags, like `cosign verify`) against
 * a real registry, mixing it with --policy, and `verify-bundle` on the Sigstore fixture bundles.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { replayRegistryDump, fixturePath } from '../harness/fixtures.ts';
import { startRegistry } from '../harness/registry.ts';
import { cli } from '../cli/run.ts';
import { IMG_A, key } from './support.ts';

let registry: Awaited<ReturnType<typeof startRegistry>>;
let host: string;

before(async () => {
  registry = await startRegistry();
  host = registry.host;
  await replayRegistryDump(host, { repos: ['test/app', 'test/unsigned'] });
});

after(async () => {
  await registry?.stop();
});

const verify = (...args: string[]) => cli(['verify', ...args, '--insecure-registry', host]);

void describe('verify with signature flags', () => {
  void test('--key: an image signed by the key is allowed (exit 0), the JSON names the key', async () => {
    const r = await verify(`${host}/test/app:v1`, '--key', key('k1'), '--insecure-ignore-tlog', '-o', 'json');
    assert.equal(r.code, 0, r.stdout + r.stderr);
    const [result] = JSON.parse(r.stdout).results;
    assert.equal(result.digest, IMG_A);
    const rule = result.policies[0].rules[0];
    assert.equal(result.policies[0].name, 'command-line');
    assert.equal(rule.kind, 'signatures');
    assert.match(rule.reason, /^key: key sha256:[0-9a-f]{64} \(/);
    assert.equal(rule.evidence.signatures.authorities[0].satisfied, true);
  });

  void test('--key without --insecure-ignore-tlog requires a transparency-log entry, as cosign does', async () => {
    const r = await verify(`${host}/test/app:v1`, '--key', key('k1'));
    assert.equal(r.code, 1, r.stdout + r.stderr);
    assert.match(r.stdout, /not in transparency log/);
  });

  void test('another key, and an unsigned image: exit 1 with the reason', async () => {
    const other = await verify(`${host}/test/app:v1`, '--key', key('k2'), '--insecure-ignore-tlog');
    assert.equal(other.code, 1);
    assert.match(other.stdout, /rule signatures: key: signature invalid/);
    const unsigned = await verify(`${host}/test/unsigned:v1`, '--key', key('k1'), '--insecure-ignore-tlog');
    assert.equal(unsigned.code, 1);
    assert.match(unsigned.stdout, /key: no signatures found/);
  });

  void test('bad flags are usage errors (exit 2), with the problem named', async () => {
    const cases: [string[], RegExp][] = [
      [
        ['--key', key('k1'), '--certificate-identity', 'x', '--certificate-oidc-issuer', 'y'],
        /give either --key or --certificate-identity/,
      ],
      [
        ['--certificate-identity', 'x'],
        /--certificate-oidc-issuer or --certificate-oidc-issuer-regexp is required/,
      ],
      [
        [
          '--certificate-identity',
          'x',
          '--certificate-identity-regexp',
          'y',
          '--certificate-oidc-issuer',
          'z',
        ],
        /not both/,
      ],
      [['--insecure-ignore-tlog'], /signature flags need --key FILE/],
      [
        ['--key', '/nonexistent/k.pub'],
        /\(command line\):\d+:\d+: error: cannot read key file \/nonexistent\/k\.pub: no such file/,
      ],
      [
        ['--certificate-identity-regexp', '(', '--certificate-oidc-issuer', 'https://x'],
        /invalid regular expression "\("/,
      ],
      [[], /at least one --policy PATH is required/],
    ];
    for (const [flags, message] of cases) {
      const r = await verify(`${host}/test/app:v1`, ...flags);
      assert.equal(r.code, 2, `${flags.join(' ')}: ${r.stdout}${r.stderr}`);
      assert.match(r.stderr, message, flags.join(' '));
      assert.doesNotMatch(r.stderr, /\n\s+at /, 'no stack trace');
    }
  });

  void test('with --policy, the flags policy is added: the image must satisfy both', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'portcullis-adhoc-'));
    const deny = (digests: string) => `apiVersion: portcullis.dev/v1alpha1
kind: ImagePolicy
metadata: {name: pinned}
spec:
  images: [{glob: "**"}]
  rules:
    - digests: {deny: ["${digests}"]}
`;
    await writeFile(join(dir, 'p.yaml'), deny(`sha256:${'0'.repeat(64)}`));
    const both = await verify(
      `${host}/test/app:v1`,
      '-p',
      dir,
      '--key',
      key('k1'),
      '--insecure-ignore-tlog',
      '-o',
      'json',
    );
    assert.equal(both.code, 0, both.stdout + both.stderr);
    assert.deepEqual(
      JSON.parse(both.stdout).results[0].policies.map((p: { name: string }) => p.name),
      ['pinned', 'command-line'],
    );
    await writeFile(join(dir, 'p.yaml'), deny(IMG_A));
    const denied = await verify(
      `${host}/test/app:v1`,
      '-p',
      dir,
      '--key',
      key('k1'),
      '--insecure-ignore-tlog',
    );
    assert.equal(denied.code, 1);
    assert.match(denied.stdout, /policy pinned, rule digests/);
  });
});

void describe('verify-bundle', () => {
  const PY = fixturePath('sigstore', 'sigstore-python', 'assets');
  const GHA = 'https://token.actions.githubusercontent.com';
  const SUBJECT = 'https://github.com/trailofbits/rfc8785.py/.github/workflows/release.yml@refs/tags/v0.1.2';
  const bundle = join(PY, 'bundle_v3_github.whl.sigstore');
  let whl: string;
  before(async () => {
    const { readFile } = await import('node:fs/promises');
    whl = `sha256:${(await readFile(join(PY, 'bundle_v3_github.whl.sha256-REMOVED.txt'), 'utf8')).slice(0, 64)}`;
  });

  void test('a public-good bundle verifies by identity (exit 0), offline', async () => {
    const r = await cli([
      'verify-bundle',
      '--bundle',
      bundle,
      '--certificate-identity',
      SUBJECT,
      '--certificate-oidc-issuer',
      GHA,
      whl,
    ]);
    assert.equal(r.code, 0, r.stderr);
    assert.match(
      r.stdout,
      /^verified: https:\/\/github\.com\/trailofbits\/.* from issuer https:\/\/token\.actions\.githubusercontent\.com; tlog index 79605083/,
    );
  });

  void test('a custom trusted root and an artifact file', async () => {
    const r = await cli([
      'verify-bundle',
      '--bundle',
      join(PY, 'bundle.txt.sigstore'),
      '--certificate-identity',
      'a@tny.town',
      '--certificate-oidc-issuer',
      'https://github.com/login/oauth',
      '--trusted-root',
      fixturePath('sigstore', 'staging', 'trusted_root.json'),
      join(PY, 'bundle.txt'),
    ]);
    assert.equal(r.code, 0, r.stderr);
  });

  void test('failures exit 1 with one line: identity mismatch, wrong artifact', async () => {
    const wrongId = await cli([
      'verify-bundle',
      '--bundle',
      bundle,
      '--certificate-identity',
      'https://github.com/acme/x',
      '--certificate-oidc-issuer',
      GHA,
      whl,
    ]);
    assert.equal(wrongId.code, 1);
    assert.match(
      wrongId.stderr,
      /^portcullis: verify-bundle: identity mismatch: got https:\/\/github\.com\/trailofbits\/[^\n]*\n$/,
    );
    const wrongArtifact = await cli([
      'verify-bundle',
      '--bundle',
      bundle,
      '--certificate-identity',
      SUBJECT,
      '--certificate-oidc-issuer',
      GHA,
      `sha256:${'0'.repeat(64)}`,
    ]);
    assert.equal(wrongArtifact.code, 1);
    assert.match(wrongArtifact.stderr, /^portcullis: verify-bundle: signature is for sha256:/);
  });

  void test('usage errors exit 2', async () => {
    for (const args of [
      ['--bundle', bundle, whl],
      ['--bundle', bundle, '--certificate-identity', SUBJECT, whl],
      [
        '--bundle',
        bundle,
        '--key',
        key('k1'),
        '--certificate-identity',
        SUBJECT,
        '--certificate-oidc-issuer',
        GHA,
        whl,
      ],
      ['--certificate-identity', SUBJECT, '--certificate-oidc-issuer', GHA, whl],
    ]) {
      const r = await cli(['verify-bundle', ...args]);
      assert.equal(r.code, 2, args.join(' '));
    }
  });
});
