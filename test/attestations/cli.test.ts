/**
 * `portcullis attest` as a user runs it: the tag resolved once and the digest attested, legacy `.att`
 * by default or a bundle referrer, then `portcullis verify` with an attestation policy allows; bad
 * input (type, predicate, flags) exits 2 with a one-line message and no stack trace.
 */
import assert from 'node:assert/strict';
import { after, afterEach, before, test } from 'node:test';
import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startRegistry, type RunningRegistry } from '../harness/registry.ts';
import { buildImage, pushBuilt } from '../harness/images.ts';
import { cli } from '../cli/run.ts';
import { attestationPolicy, KEYS, keyAuthorities, PASSPHRASE } from './support.ts';

let registry: RunningRegistry;
let dir: string;
let policyDir: string;
const image = buildImage({ seed: 'cli-attest' });
const saved = process.env.PORTCULLIS_PASSWORD;

before(async () => {
  registry = await startRegistry();
  await pushBuilt(registry.host, 'acme/api', image, 'v1');
  dir = await mkdtemp(join(tmpdir(), 'portcullis-attest-'));
  await writeFile(
    join(dir, 'sbom.json'),
    JSON.stringify({ spdxVersion: 'SPDX-2.3', packages: [{ name: 'zlib' }] }),
  );
  await writeFile(join(dir, 'bad.json'), '{"spdxVersion": ');
  policyDir = await mkdtemp(join(dir, 'policy-'));
  await writeFile(
    join(policyDir, 'policy.yaml'),
    attestationPolicy(`
- name: sbom
  predicateType: spdx
  ${keyAuthorities('k1')}
  condition: "predicate.packages.exists(p, p.name == 'zlib')"
`),
  );
});

afterEach(() => {
  if (saved === undefined) delete process.env.PORTCULLIS_PASSWORD;
  else process.env.PORTCULLIS_PASSWORD = saved;
});

after(async () => {
  await registry?.stop();
});

const attest = (...extra: string[]) =>
  cli([
    'attest',
    `${registry.host}/acme/api:v1`,
    '--key',
    join(KEYS, 'k1.private'),
    '--insecure-registry',
    registry.host,
    ...extra,
  ]);

const verify = () =>
  cli([
    'verify',
    `${registry.host}/acme/api:v1`,
    '--policy',
    policyDir,
    '--insecure-registry',
    registry.host,
  ]);

test('verify denies before attest, allows after; legacy .att by default, bundle on request', async () => {
  process.env.PORTCULLIS_PASSWORD = PASSPHRASE;
  const before = await verify();
  assert.equal(before.code, 1, before.stdout + before.stderr);
  assert.match(before.stdout + before.stderr, /no attestations of type https:\/\/spdx\.dev\/Document found/);

  const legacy = await attest('--predicate', join(dir, 'sbom.json'), '--type', 'spdxjson');
  assert.equal(legacy.code, 0, legacy.stderr);
  assert.equal(
    legacy.stdout,
    `attested ${registry.host}/acme/api:v1@${image.digest} with https://spdx.dev/Document (${registry.host}/acme/api:sha256-${image.digest.slice(7)}.att)\n`,
  );
  const after = await verify();
  assert.equal(after.code, 0, after.stdout + after.stderr);

  const bundle = await attest(
    '--predicate',
    join(dir, 'sbom.json'),
    '--type',
    'https://spdx.dev/Document',
    '--format',
    'bundle',
  );
  assert.equal(bundle.code, 0, bundle.stderr);
  assert.match(
    bundle.stdout,
    /^attested .* with https:\/\/spdx\.dev\/Document \(.*@sha256:[0-9a-f]{64}, listed in .*:sha256-[0-9a-f]{64}\)\n$/,
  );
});

test('bad input exits 2 with a one-line reason', async () => {
  process.env.PORTCULLIS_PASSWORD = PASSPHRASE;
  const cases: [string[], RegExp][] = [
    [
      ['--predicate', join(dir, 'sbom.json'), '--type', 'sbom'],
      /^portcullis: --type "sbom" is neither a URI nor a short name \(slsaprovenance, /,
    ],
    [
      ['--predicate', join(dir, 'bad.json'), '--type', 'spdx'],
      /^portcullis: --predicate .*bad\.json is not JSON: /,
    ],
    [
      ['--predicate', join(dir, 'missing.json'), '--type', 'spdx'],
      /^portcullis: cannot read predicate .*missing\.json: ENOENT/,
    ],
    [
      ['--predicate', join(dir, 'sbom.json'), '--type', 'spdx', '--format', 'bundle', '--tag-prefix', 'x'],
      /^portcullis: --tag-prefix applies to --format legacy only/,
    ],
  ];
  for (const [args, message] of cases) {
    const r = await attest(...args);
    assert.equal(r.code, 2, `${args.join(' ')}: ${r.stderr}`);
    assert.match(r.stderr, message);
    assert.doesNotMatch(r.stderr, /\n {4}at /);
  }
  process.env.PORTCULLIS_PASSWORD = 'wrong';
  const wrong = await attest('--predicate', join(dir, 'sbom.json'), '--type', 'spdx');
  assert.equal(wrong.code, 2);
  assert.match(wrong.stderr, /k1\.private: /);
});
