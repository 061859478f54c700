/**
 * The CLI against a real registry (Debian docker-registry on loopback): tags are resolved once, the digest
 * computed from the manifest is what the decision records, and registry failures never turn into passes.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startRegistry } from '../harness/registry.ts';
import { buildImage, pushBuilt, writeOciLayout } from '../harness/images.ts';
import { startFaultProxy } from '../harness/fault-proxy.ts';
import { cli } from './run.ts';

let registry: Awaited<ReturnType<typeof startRegistry>>;
let proxy: Awaited<ReturnType<typeof startFaultProxy>>;
let policyDir: string;
const image = buildImage({ seed: 'cli-registry' });
const other = buildImage({ seed: 'cli-registry-banned' });

before(async () => {
  registry = await startRegistry();
  proxy = await startFaultProxy(registry.url);
  await pushBuilt(registry.host, 'acme/api', image, 'v1');
  await pushBuilt(registry.host, 'acme/banned', other, 'v1');
  policyDir = await mkdtemp(join(tmpdir(), 'portcullis-policies-'));
  await writeFile(
    join(policyDir, 'p.yaml'),
    `apiVersion: portcullis.dev/v1alpha1
kind: ImagePolicy
metadata: {name: local}
spec:
  images: [{glob: "127.0.0.1:*/**"}]
  rules:
    - name: known-bad
      digests: {deny: ["${other.digest}"]}
`,
  );
});

after(async () => {
  await proxy?.stop();
  await registry?.stop();
});

test('verify resolves a tag to the digest of its manifest and records it in the decision', async () => {
  const ref = `${proxy.host}/acme/api:v1`;
  proxy.clearRequests();
  const r = await cli(['verify', ref, '-p', policyDir, '--insecure-registry', proxy.host, '-o', 'json']);
  assert.equal(r.code, 0, r.stdout + r.stderr);
  const [result] = JSON.parse(r.stdout).results;
  assert.equal(result.digest, image.digest);
  assert.equal(result.allowed, true);
  const manifestRequests = proxy.requests.filter((q) => q.path.includes('/manifests/'));
  assert.deepEqual(
    manifestRequests.map((q) => `${q.method} ${q.path.split('/manifests/')[1]}`),
    ['HEAD v1', `GET ${image.digest}`],
    'one HEAD to resolve the tag, one GET by digest',
  );
});

test('a digest deny list catches a banned image even when it is referenced by tag', async () => {
  const r = await cli([
    'verify',
    `${proxy.host}/acme/banned:v1`,
    '-p',
    policyDir,
    '--insecure-registry',
    proxy.host,
  ]);
  assert.equal(r.code, 1);
  assert.match(r.stdout, new RegExp(`rule known-bad: digest ${other.digest} is denied`));
});

test('a registry failure denies any rule that needs the digest, and says what failed', async () => {
  const missing = await cli([
    'verify',
    `${proxy.host}/acme/api:nope`,
    '-p',
    policyDir,
    '--insecure-registry',
    proxy.host,
  ]);
  assert.equal(missing.code, 1);
  assert.match(
    missing.stdout,
    /rule known-bad: digest unknown: could not resolve .*acme\/api:nope: .*not found/,
  );

  const plain = await cli(['verify', `${proxy.host}/acme/api:v1`, '-p', policyDir]);
  assert.equal(plain.code, 1, 'plain HTTP is refused unless the registry is listed as insecure');
  assert.match(plain.stdout, /not configured as insecure|refus/i);
});

test('a manifest whose bytes do not match its digest is never accepted', async () => {
  proxy.setFaults([
    {
      method: 'GET',
      path: /\/manifests\/sha256:/,
      fault: 'replaceBody',
      body: (b: Uint8Array) => Buffer.concat([b, Buffer.from(' ')]),
    },
  ]);
  try {
    const r = await cli([
      'verify',
      `${proxy.host}/acme/api:v1`,
      '-p',
      policyDir,
      '--insecure-registry',
      proxy.host,
      '-o',
      'json',
    ]);
    assert.equal(r.code, 1);
    const [result] = JSON.parse(r.stdout).results;
    assert.equal(result.digest, undefined);
    assert.match(
      result.reasons[0],
      /digest unknown: .*manifest bytes hash to sha256:[0-9a-f]{64}, not the digest asked for/,
    );
  } finally {
    proxy.setFaults([]);
  }
});

test('resolve prints registry/repository:tag@digest, computed from the manifest', async () => {
  const r = await cli(['resolve', `${registry.host}/acme/api:v1`, '--insecure-registry', registry.host]);
  assert.equal(r.code, 0, r.stderr);
  assert.equal(r.stdout, `${registry.host}/acme/api:v1@${image.digest}\n`);

  const bad = await cli([
    'resolve',
    `${registry.host}/acme/api:missing`,
    '--insecure-registry',
    registry.host,
  ]);
  assert.equal(bad.code, 1);
  assert.match(bad.stderr, /^portcullis: could not resolve .*acme\/api:missing/);
});

test('an OCI layout is verified under the name given with --as, with the digest read from the layout', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'portcullis-layout-'));
  await writeOciLayout(dir, { tag: 'v1', seed: 'cli-registry-banned' });
  const denied = await cli([
    'verify',
    `oci:${dir}:v1`,
    '--as',
    '127.0.0.1:5000/acme/banned:v1',
    '-p',
    policyDir,
    '-o',
    'json',
  ]);
  assert.equal(denied.code, 1);
  const [result] = JSON.parse(denied.stdout).results;
  assert.equal(result.digest, other.digest);
  assert.equal(result.reference, '127.0.0.1:5000/acme/banned:v1');

  const unnamed = await cli(['verify', `oci:${dir}:v1`, '-p', policyDir]);
  assert.equal(unnamed.code, 1);
  assert.match(unnamed.stdout, /an OCI layout has no registry name for policies to match; name it with --as/);

  const resolved = await cli(['resolve', `oci:${dir}:v1`]);
  assert.equal(resolved.stdout, `oci:${dir}:v1@${other.digest}\n`);
});

test('registry settings: a bad --registry-config is a configuration error (exit 2)', async () => {
  const file = join(await mkdtemp(join(tmpdir(), 'portcullis-registry-config-')), 'registries.yaml');
  await writeFile(file, 'apiVersion: portcullis.dev/v1alpha1\nkind: RegistryConfig\ninsecureRegistries: 5\n');
  const r = await cli(['verify', 'nginx', '-p', policyDir, '--registry-config', file]);
  assert.equal(r.code, 2);
  assert.match(r.stderr, /invalid registry config: \/insecureRegistries must be array/);
  // A huge file is refused before it is read, with the flag and the limit.
  await writeFile(
    file,
    `apiVersion: portcullis.dev/v1alpha1\nkind: RegistryConfig\n#${'x'.repeat(1024 * 1024)}\n`,
  );
  const big = await cli(['verify', 'nginx', '-p', policyDir, '--registry-config', file]);
  assert.equal(big.code, 2);
  assert.match(big.stderr, /--registry-config .*registries\.yaml: larger than 1048576 bytes/);
  const dir = await cli(['verify', 'nginx', '-p', policyDir, '--registry-config', policyDir]);
  assert.equal(dir.code, 2);
  assert.match(dir.stderr, /--registry-config .*: not a regular file/);
  const t = await cli(['verify', 'nginx', '-p', policyDir, '--timeout', 'soon']);
  assert.equal(t.code, 2);
  assert.match(t.stderr, /--timeout must be a number of seconds/);
});

test('check decides an image written many times once: one HEAD and one GET for three containers', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'portcullis-check-once-'));
  const ref = `${proxy.host}/acme/api:v1`;
  await writeFile(
    join(dir, 'pod.yaml'),
    `apiVersion: v1
kind: Pod
metadata: {name: three, namespace: shop}
spec:
  initContainers: [{name: init, image: "${ref}"}]
  containers:
    - {name: a, image: "${ref}"}
    - {name: b, image: "${ref}"}
`,
  );
  proxy.clearRequests();
  const r = await cli(['check', dir, '-p', policyDir, '--insecure-registry', proxy.host, '-o', 'json']);
  assert.equal(r.code, 0, r.stdout + r.stderr);
  const results = JSON.parse(r.stdout).results as { digest: string; allowed: boolean }[];
  assert.deepEqual(
    results.map((x) => [x.digest, x.allowed]),
    [
      [image.digest, true],
      [image.digest, true],
      [image.digest, true],
    ],
  );
  assert.deepEqual(
    proxy.requests
      .filter((q) => q.path.includes('/manifests/'))
      .map((q) => `${q.method} ${q.path.split('/manifests/')[1]}`),
    ['HEAD v1', `GET ${image.digest}`],
  );
});
