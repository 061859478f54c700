/**
 * One audit run verifies a digest's evidence once, however it is spelt: two tags, a digest reference and
 * `repo:tag@digest` of one key-signed image share one signature fetch, and each is still decided with its
 * own tag rules. Evidence never crosses runs (a removed signature is seen by the next audit) nor
 * requirements (key A is never met by what was fetched while judging key B). Real registry (Debian's
 * docker-registry) behind the fault proxy, which counts requests.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import { runAudit, type AuditOptions } from '../../src/cli/commands/audit.ts';
import { createDecider } from '../../src/app/decide.ts';
import { signatureVerificationStats } from '../../src/rules/signatures.ts';
import { EvidenceMemo } from '../../src/app/evidence.ts';
import { loadPolicyPaths } from '../../src/policy/load.ts';
import { createRegistryClient } from '../../src/registry/client.ts';
import { createRegistryPusher } from '../../src/registry/push.ts';
import { parseReference } from '../../src/reference/index.ts';
import { decryptPrivateKey, generateKeyPair } from '../../src/signing/keys.ts';
import { signImage } from '../../src/signing/sign.ts';
import { startRegistry, type RunningRegistry } from '../harness/registry.ts';
import { startFaultProxy, type FaultProxy } from '../harness/fault-proxy.ts';
import { buildImage, pushBuilt } from '../harness/images.ts';
import { deployment, list } from './support.ts';

let registry: RunningRegistry;
let proxy: FaultProxy;
let dir: string;
const keys: Record<'a' | 'b', string> = { a: '', b: '' };
const digests: Record<string, string> = {};

before(async () => {
  registry = await startRegistry();
  proxy = await startFaultProxy(registry.url);
  dir = await mkdtemp(join(tmpdir(), 'portcullis-shared-evidence-'));
  const client = createRegistryClient({ insecureRegistries: [registry.host] });
  const pusher = createRegistryPusher({ insecureRegistries: [registry.host] });
  const pairs = { a: await generateKeyPair('a'), b: await generateKeyPair('b') };
  keys.a = pairs.a.publicPem;
  keys.b = pairs.b.publicPem;
  const signWith = async (which: 'a' | 'b', repo: string, digest: string) => {
    const key = await decryptPrivateKey(pairs[which].privatePem, which);
    await signImage(client, pusher, key, parseReference(`${registry.host}/${repo}@${digest}`));
  };
  // One digest under two tags, signed by key B only.
  const shared = buildImage({ seed: 'shared-evidence' });
  digests.shared = shared.digest;
  await pushBuilt(registry.host, 'audit/shared', shared, 'v1');
  await pushBuilt(registry.host, 'audit/shared', shared, 'v2');
  await signWith('b', 'audit/shared', shared.digest);
  const revoked = buildImage({ seed: 'shared-evidence-revoked' });
  digests.revoked = revoked.digest;
  await pushBuilt(registry.host, 'audit/revoked', revoked, 'v1');
  await signWith('b', 'audit/revoked', revoked.digest);
  await client.close();
});

after(async () => {
  await proxy?.stop();
  await registry?.stop();
});

const indent = (n: number, text: string) =>
  text
    .trim()
    .split('\n')
    .map((l) => ' '.repeat(n) + l)
    .join('\n');

/** Signed by `key`; with `forbid`, those tags are denied too. */
function policy(key: 'a' | 'b', forbid?: string): string {
  return `apiVersion: portcullis.dev/v1alpha1
kind: ImagePolicy
metadata: {name: signed-by-${key}}
spec:
  images: [{glob: "127.0.0.1:*/**"}]
  rules:
    - name: signed
      signatures:
        authorities:
          - name: key-${key}
            key:
              data: |
${indent(16, keys[key])}
${forbid ? `    - name: tags\n      tags: {forbid: [${forbid}]}\n` : ''}`;
}

async function write(file: string, text: string): Promise<string> {
  const path = join(dir, file);
  await writeFile(path, text);
  return path;
}

async function audit(opts: Partial<AuditOptions>): Promise<{ code: number; out: string; err: string }> {
  const stdout = new PassThrough();
  const stderr = new PassThrough();
  let out = '';
  let err = '';
  stdout.on('data', (c: Buffer) => (out += c.toString()));
  stderr.on('data', (c: Buffer) => (err += c.toString()));
  const code = await runAudit(
    { output: 'json', offline: false, timeout: '30', insecureRegistry: [proxy.host], ...opts },
    { stdout, stderr, readStdin: async () => '' },
  );
  return { code, out, err };
}

/** Requests for cosign's `.sig` attachment of `digest` (the legacy signature lookup). */
const sigLookups = (repo: string, digest: string) =>
  proxy.requests.filter((r) =>
    r.path.endsWith(`/v2/${repo}/manifests/sha256-${digest.slice('sha256:'.length)}.sig`),
  ).length;
const referrerListings = (repo: string) =>
  proxy.requests.filter((r) => r.path.startsWith(`/v2/${repo}/referrers/`)).length;

test('two tags, a digest reference and tag@digest of one signed digest: one signature fetch, each its own tag verdict', async () => {
  const repo = `${proxy.host}/audit/shared`;
  const dump = await write(
    'shared.json',
    JSON.stringify(
      list([
        deployment('one', 'shop', `${repo}:v1`),
        deployment('two', 'shop', `${repo}:v2`),
        deployment('three', 'shop', `${repo}@${digests.shared}`),
        deployment('four', 'shop', `${repo}:v1@${digests.shared}`),
      ]),
    ),
  );
  const strict = await write('shared.yaml', policy('b', 'v2'));
  proxy.clearRequests();
  const checks = { ...signatureVerificationStats };
  const { code, out, err } = await audit({ fromFile: [dump], policy: [strict] });
  // Verified once too: the first decision checked the signature, the three others reused its result.
  assert.deepEqual(
    {
      computed: signatureVerificationStats.computed - checks.computed,
      reused: signatureVerificationStats.reused - checks.reused,
    },
    { computed: 1, reused: 3 },
  );
  assert.equal(code, 1, err);
  const report = JSON.parse(out);
  assert.deepEqual(report.summary, {
    workloads: 4,
    allowed: 3,
    warned: 0,
    denied: 1,
    images: 4,
    decisions: 4,
    digests: 1,
  });
  const byName = Object.fromEntries(
    report.workloads.map((w: { name: string; verdict: string }) => [w.name, w]),
  );
  assert.deepEqual(
    Object.entries(byName).map(([name, w]) => `${name} ${(w as { verdict: string }).verdict}`),
    ['one allow', 'two deny', 'three allow', 'four allow'],
  );
  // The tag rule read the reference as written; the shared signature passed for every spelling.
  assert.deepEqual(byName.two.reasons, [
    'spec.template.spec.containers[0].image: policy signed-by-b, rule tags: tag "v2" is forbidden (matches "v2")',
  ]);
  for (const w of Object.values(byName) as { images: { digest: string }[] }[])
    assert.equal(w.images[0]!.digest, digests.shared);
  const requests = proxy.requests.map((r) => `${r.method} ${r.path}`).join('\n');
  assert.equal(sigLookups('audit/shared', digests.shared!), 1, requests);
  assert.equal(referrerListings('audit/shared'), 1, requests);
  // Each tag is still resolved, once.
  for (const tag of ['v1', 'v2'])
    assert.equal(
      proxy.requests.filter((r) => r.path.endsWith(`/v2/audit/shared/manifests/${tag}`)).length,
      1,
      requests,
    );
});

test('the table says how many digests the decisions covered', async () => {
  const repo = `${proxy.host}/audit/shared`;
  const dump = await write(
    'table.json',
    JSON.stringify(list([deployment('one', 'shop', `${repo}:v1`), deployment('two', 'shop', `${repo}:v2`)])),
  );
  const strict = await write('table.yaml', policy('b'));
  const { code, out } = await audit({ fromFile: [dump], policy: [strict], output: 'table' });
  assert.equal(code, 0, out);
  assert.match(out, /2 workload\(s\), 2 image\(s\), 2 decision\(s\), 1 digest\(s\): 2 compliant/);
});

test('a signature removed after an audit is missed by the next audit: the evidence does not outlive its run', async () => {
  const dump = await write(
    'revoked.json',
    JSON.stringify(list([deployment('app', 'prod', `${proxy.host}/audit/revoked:v1`)])),
  );
  const strict = await write('revoked.yaml', policy('b'));
  const first = await audit({ fromFile: [dump], policy: [strict] });
  assert.equal(first.code, 0, first.out);
  // Remove the signature from the registry: delete cosign's .sig manifest by its digest.
  const tag = `sha256-${digests.revoked!.slice('sha256:'.length)}.sig`;
  const head = await fetch(`${registry.url}/v2/audit/revoked/manifests/${tag}`, {
    method: 'HEAD',
    headers: {
      accept:
        'application/vnd.oci.image.manifest.v1+json, application/vnd.docker.distribution.manifest.v2+json',
    },
  });
  assert.equal(head.status, 200);
  const sigDigest = head.headers.get('docker-content-digest');
  assert.ok(sigDigest);
  const deleted = await fetch(`${registry.url}/v2/audit/revoked/manifests/${sigDigest}`, {
    method: 'DELETE',
  });
  assert.equal(deleted.status, 202);
  const second = await audit({ fromFile: [dump], policy: [strict] });
  assert.equal(second.code, 1, second.out);
  const [w] = JSON.parse(second.out).workloads;
  assert.equal(w.verdict, 'deny');
  assert.match(w.reasons[0], /policy signed-by-b, rule signed: key-b: /);
});

test('evidence shared between requirements never meets one it was not signed for (key A vs key B)', async () => {
  const repo = `${proxy.host}/audit/shared`;
  const memo = new EvidenceMemo();
  const client = createRegistryClient({ insecureRegistries: [proxy.host] });
  const setOf = async (key: 'a' | 'b') => {
    const sub = await mkdtemp(join(dir, `key-${key}-`));
    await writeFile(join(sub, 'p.yaml'), policy(key));
    const loaded = await loadPolicyPaths([sub]);
    assert.ok(loaded.ok, JSON.stringify(loaded));
    return loaded.policySet;
  };
  const options = { offline: false, registry: client, timeoutMs: 30_000, evidence: memo };
  const byB = createDecider(await setOf('b'), options);
  const byA = createDecider(await setOf('a'), options);
  proxy.clearRequests();
  const checks = { ...signatureVerificationStats };
  const b = await byB.decide(`${repo}:v1`);
  const a = await byA.decide(`${repo}:v1`);
  // Each rule checks the shared candidates itself: a result is never reused for another rule.
  assert.deepEqual(
    {
      computed: signatureVerificationStats.computed - checks.computed,
      reused: signatureVerificationStats.reused - checks.reused,
    },
    { computed: 2, reused: 0 },
  );
  assert.equal(b.allowed, true, b.reasons.join('\n'));
  assert.equal(a.allowed, false);
  assert.match(a.reasons[0]!, /^policy signed-by-a, rule signed: key-a: /);
  // The candidates were fetched once and verified twice, each time against the policy's own key.
  assert.equal(sigLookups('audit/shared', digests.shared!), 1);
  assert.deepEqual(memo.stats(), { gathered: 1, reused: 1, digests: 1, size: 1 });
  // The other order, a fresh memo: key A's failure does not stop key B from being met.
  const fresh = { ...options, evidence: new EvidenceMemo() };
  const a2 = await createDecider(await setOf('a'), fresh).decide(`${repo}:v2`);
  const b2 = await createDecider(await setOf('b'), fresh).decide(`${repo}:v1`);
  assert.equal(a2.allowed, false);
  assert.equal(b2.allowed, true, b2.reasons.join('\n'));
  await client.close();
});

test('--compare shares the run evidence: key A becomes denied against what key B fetched, one fetch', async () => {
  const dump = await write(
    'compare.json',
    JSON.stringify(list([deployment('app', 'shop', `${proxy.host}/audit/shared:v1`)])),
  );
  const current = await write('current-b.yaml', policy('b'));
  const candidate = await write('candidate-a.yaml', policy('a'));
  proxy.clearRequests();
  const { code, out } = await audit({ fromFile: [dump], policy: [current], compare: [candidate] });
  assert.equal(code, 1, out);
  const impact = JSON.parse(out);
  assert.deepEqual(impact.summary, { becomeDenied: 1, becomeAllowed: 0, unchanged: 0 });
  assert.match(impact.becomeDenied[0].reasons[0], /policy signed-by-a, rule signed: key-a: /);
  assert.equal(sigLookups('audit/shared', digests.shared!), 1);
});

test('one image decided in several contexts (a policy selects on them) fetches its signatures once', async () => {
  const dump = await write(
    'contexts.json',
    JSON.stringify(
      list([
        deployment('web', 'prod', `${proxy.host}/audit/shared:v1`),
        deployment('web', 'dev', `${proxy.host}/audit/shared:v1`),
        deployment('web', 'qa', `${proxy.host}/audit/shared:v1`),
      ]),
    ),
  );
  const prodOnlyA = policy('a').replace('spec:\n', 'spec:\n  match: {namespaces: [prod]}\n');
  const everywhereB = policy('b');
  const policies = await write('contexts.yaml', `${prodOnlyA}---\n${everywhereB}`);
  proxy.clearRequests();
  const { code, out } = await audit({ fromFile: [dump], policy: [policies] });
  assert.equal(code, 1, out);
  const report = JSON.parse(out);
  assert.deepEqual(
    report.workloads.map((w: { namespace: string; verdict: string }) => `${w.namespace} ${w.verdict}`),
    ['prod deny', 'dev allow', 'qa allow'],
  );
  assert.equal(report.summary.decisions, 3);
  assert.equal(report.summary.digests, 1);
  assert.equal(sigLookups('audit/shared', digests.shared!), 1);
});
