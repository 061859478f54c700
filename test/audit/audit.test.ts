/**
 * `portcullis audit` end to end, offline from dumps: the local registry (Debian's docker-registry) holds
 * key-signed and unsigned images; the registry is reached through the fault proxy, which counts requests.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, readFile, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import { runAudit, type AuditOptions } from '../../src/cli/commands/audit.ts';
import { createRegistryClient } from '../../src/registry/client.ts';
import { createRegistryPusher } from '../../src/registry/push.ts';
import { parseReference } from '../../src/reference/index.ts';
import { decryptPrivateKey, generateKeyPair } from '../../src/signing/keys.ts';
import { signImage } from '../../src/signing/sign.ts';
import { startRegistry, type RunningRegistry } from '../harness/registry.ts';
import { startFaultProxy, type FaultProxy } from '../harness/fault-proxy.ts';
import { buildImage, pushBuilt } from '../harness/images.ts';
import { deployment, list, ownedPod } from './support.ts';

let registry: RunningRegistry;
let proxy: FaultProxy;
let dir: string;
let publicPem: string;
let signedDigest: string;
let sign: (repo: string, digest: string) => Promise<void>;

before(async () => {
  registry = await startRegistry();
  proxy = await startFaultProxy(registry.url);
  dir = await mkdtemp(join(tmpdir(), 'portcullis-audit-'));
  const pair = await generateKeyPair('audit');
  publicPem = pair.publicPem;
  const key = await decryptPrivateKey(pair.privatePem, 'audit');
  const client = createRegistryClient({ insecureRegistries: [registry.host] });
  const pusher = createRegistryPusher({ insecureRegistries: [registry.host] });
  sign = (repo, digest) =>
    signImage(client, pusher, key, parseReference(`${registry.host}/${repo}@${digest}`)).then(() => {});
  const signed = buildImage({ seed: 'audit-signed' });
  signedDigest = signed.digest;
  await pushBuilt(registry.host, 'audit/signed', signed, 'v1');
  await sign('audit/signed', signed.digest);
  await pushBuilt(registry.host, 'audit/unsigned', buildImage({ seed: 'audit-unsigned' }), 'v1');
  const moving = buildImage({ seed: 'audit-moving-signed' });
  await pushBuilt(registry.host, 'audit/moving', moving, 'v1');
  await sign('audit/moving', moving.digest);
  await client.close();
});

after(async () => {
  await proxy?.stop();
  await registry?.stop();
});

function policy(name: string, mode: 'enforce' | 'warn', images = '127.0.0.1:*/**'): string {
  return `apiVersion: portcullis.dev/v1alpha1
kind: ImagePolicy
metadata: {name: ${name}}
spec:
  mode: ${mode}
  images: [{glob: "${images}"}]
  rules:
    - name: signed-by-release
      signatures:
        authorities:
          - name: release
            key:
              data: |
${publicPem
  .trim()
  .split('\n')
  .map((l) => `                ${l}`)
  .join('\n')}
`;
}

async function writePolicy(file: string, text: string): Promise<string> {
  const path = join(dir, file);
  await writeFile(path, text);
  return path;
}

async function writeDump(file: string, items: unknown[]): Promise<string> {
  const path = join(dir, file);
  await writeFile(path, JSON.stringify(list(items), null, 2));
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

const img = (repo: string) => `${proxy.host}/${repo}:v1`;

test('a realistic dump: signed workloads allowed, the unsigned one denied, each digest verified once', async () => {
  const items = [];
  for (let i = 0; i < 6; i++)
    items.push(deployment(`web-${i}`, i % 2 ? 'shop' : 'default', img('audit/signed')));
  items.push(ownedPod('web-0-5d9c-x7k2q', 'default', 'web-0-5d9c', `${img('audit/signed')}`));
  items.push(deployment('legacy', 'shop', img('audit/unsigned')));
  const dump = await writeDump('dump.json', items);
  const strict = await writePolicy('strict.yaml', policy('release-signed', 'enforce'));
  proxy.clearRequests();
  const { code, out, err } = await audit({ fromFile: [dump], policy: [strict] });
  assert.equal(code, 1, err);
  const report = JSON.parse(out);
  assert.equal(report.apiVersion, 'portcullis.dev/audit/v1');
  assert.equal(report.kind, 'AuditReport');
  assert.match(report.policySet.version, /^sha256:/);
  assert.deepEqual(report.summary, {
    workloads: 8,
    allowed: 7,
    warned: 0,
    denied: 1,
    images: 8,
    decisions: 2,
    digests: 2,
  });
  const legacy = report.workloads.find((w: { name: string }) => w.name === 'legacy');
  assert.equal(legacy.source, 'audit');
  assert.equal(legacy.kind, 'apps/v1/Deployment');
  assert.equal(legacy.namespace, 'shop');
  assert.equal(legacy.verdict, 'deny');
  assert.equal(legacy.allowed, false);
  assert.equal(legacy.images[0].path, 'spec.template.spec.containers[0].image');
  assert.equal(legacy.images[0].verdict, 'deny');
  assert.match(legacy.reasons[0], /^spec\.template\.spec\.containers\[0\]\.image: .*release-signed/);
  const pod = report.workloads.find((w: { name: string }) => w.name === 'web-0-5d9c-x7k2q');
  assert.deepEqual(pod.owners, [{ kind: 'ReplicaSet', name: 'web-0-5d9c' }]);
  assert.equal(pod.images[0].digest, signedDigest);
  assert.equal(pod.verdict, 'allow');
  // Seven workloads run the signed image: its tag is resolved once and its signature fetched once.
  const hex = signedDigest.slice('sha256:'.length);
  const requests = proxy.requests.map((r) => `${r.method} ${r.path}`);
  assert.equal(
    requests.filter((r) => r.includes(`/v2/audit/signed/manifests/sha256-${hex}.sig`)).length,
    1,
    requests.join('\n'),
  );
  assert.equal(
    requests.filter((r) => r.endsWith('/v2/audit/signed/manifests/v1')).length,
    1,
    requests.join('\n'),
  );
});

test('a tag moved to an unsigned image after it was admitted is reported on the next audit', async () => {
  const dump = await writeDump('moving.json', [deployment('mover', 'prod', img('audit/moving'))]);
  const strict = await writePolicy('strict.yaml', policy('release-signed', 'enforce'));
  const first = await audit({ fromFile: [dump], policy: [strict] });
  assert.equal(first.code, 0, first.out);
  await pushBuilt(registry.host, 'audit/moving', buildImage({ seed: 'audit-moving-unsigned' }), 'v1');
  const second = await audit({ fromFile: [dump], policy: [strict] });
  assert.equal(second.code, 1);
  const w = JSON.parse(second.out).workloads[0];
  assert.equal(w.verdict, 'deny');
  assert.notEqual(w.images[0].digest, JSON.parse(first.out).workloads[0].images[0].digest);
});

test('impact preview: enforcing a warn-mode policy shows the workloads that would become denied', async () => {
  const dump = await writeDump('impact.json', [
    deployment('web', 'shop', img('audit/signed')),
    deployment('legacy', 'shop', img('audit/unsigned')),
  ]);
  const current = await writePolicy('current.yaml', policy('release-signed', 'warn'));
  const stricter = await writePolicy('stricter.yaml', policy('release-signed', 'enforce'));
  const json = await audit({ fromFile: [dump], policy: [current], compare: [stricter] });
  assert.equal(json.code, 1);
  const impact = JSON.parse(json.out);
  assert.equal(impact.kind, 'ImpactPreview');
  assert.deepEqual(impact.summary, { becomeDenied: 1, becomeAllowed: 0, unchanged: 1 });
  assert.equal(impact.becomeDenied[0].name, 'legacy');
  assert.equal(impact.becomeDenied[0].before, 'warn');
  assert.equal(impact.becomeDenied[0].after, 'deny');
  assert.match(impact.becomeDenied[0].reasons[0], /release-signed/);
  // The other way round: relaxing shows what would become allowed, and nothing becomes denied (exit 0).
  const text = await audit({ fromFile: [dump], policy: [stricter], compare: [current], output: 'table' });
  assert.equal(text.code, 0);
  assert.match(text.out, /Would become allowed \(1\):\n {2}Deployment shop\/legacy \(deny -> warn\)/);
  assert.match(text.out, /0 would become denied, 1 would become allowed, 1 unchanged/);
});

test('SARIF 2.1.0: one result per denied image, rule id policy/rule, the dump file and a logical location', async () => {
  const dump = await writeDump('sarif.json', [
    deployment('web', 'shop', img('audit/signed')),
    deployment('legacy', 'shop', img('audit/unsigned')),
  ]);
  const strict = await writePolicy('strict.yaml', policy('release-signed', 'enforce'));
  const { code, out } = await audit({ fromFile: [dump], policy: [strict], output: 'sarif' });
  assert.equal(code, 1);
  const sarif = JSON.parse(out);
  assert.equal(sarif.version, '2.1.0');
  assert.equal(sarif.runs.length, 1);
  const run = sarif.runs[0];
  assert.equal(run.tool.driver.name, 'portcullis');
  assert.deepEqual(
    run.tool.driver.rules.map((r: { id: string }) => r.id),
    ['release-signed/signed-by-release'],
  );
  assert.equal(run.results.length, 1);
  const [result] = run.results;
  assert.equal(result.ruleId, 'release-signed/signed-by-release');
  assert.equal(result.ruleIndex, 0);
  assert.equal(result.level, 'error');
  assert.match(
    result.message.text,
    /^Deployment shop\/legacy spec\.template\.spec\.containers\[0\]\.image: /,
  );
  assert.match(result.locations[0].physicalLocation.artifactLocation.uri, /sarif\.json$/);
  assert.deepEqual(result.locations[0].logicalLocations, [
    { fullyQualifiedName: 'Deployment/shop/legacy', name: 'legacy', kind: 'resource' },
  ]);
});

test('the table: one row per workload image with verdict and reason', async () => {
  const dump = await writeDump('table.json', [deployment('legacy', 'shop', img('audit/unsigned'))]);
  const strict = await writePolicy('strict.yaml', policy('release-signed', 'enforce'));
  const log = join(dir, 'audit.log');
  const { code, out } = await audit({ fromFile: [dump], policy: [strict], output: 'table', auditLog: log });
  assert.equal(code, 1);
  const [line, ...rest] = (await readFile(log, 'utf8')).split('\n');
  assert.deepEqual(rest, ['']);
  const record = JSON.parse(line!);
  assert.equal(record.source, 'audit');
  assert.equal(record.name, 'legacy');
  assert.equal(record.verdict, 'deny');
  const lines = out.split('\n');
  assert.match(lines[0]!, /^WORKLOAD +CONTAINER +IMAGE +VERDICT +REASON$/);
  assert.match(
    lines[1]!,
    /^Deployment shop\/legacy +spec\.template\.spec\.containers\[0\]\.image +\S+audit\/unsigned:v1 +DENY +.*release-signed/,
  );
  assert.match(
    out,
    /1 workload\(s\), 1 image\(s\), 1 decision\(s\), 1 digest\(s\): 0 compliant, 0 with warnings, 1 denied/,
  );
});

test('bad input: an unreadable dump is exit 2 with the file named; both sources at once is a usage error', async () => {
  const strict = await writePolicy('strict.yaml', policy('release-signed', 'enforce'));
  const missing = await audit({ fromFile: [join(dir, 'nope.json')], policy: [strict] });
  assert.equal(missing.code, 2);
  assert.match(missing.err, /nope\.json: cannot read: ENOENT/);
  await assert.rejects(
    audit({ fromFile: [join(dir, 'nope.json')], kubeconfig: 'k', policy: [strict] }),
    /either --kubeconfig .* or --from-file/,
  );
});
