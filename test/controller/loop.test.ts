/**
 * Controller mode end to end: the real local registry (Debian docker-registry on loopback) with images
 * signed by src/signing, and a THIN STUB of the Kubernetes API server (test/kubernetes/stub-apiserver.ts:
 * pods, PolicyReports, Events; no kube-apiserver can run here). Notifications go to a loopback HTTP
 * recorder. Each resync is started explicitly, so nothing waits on a timer.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { mkdtemp, rm } from 'node:fs/promises';
import { readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Ajv2020 } from 'ajv/dist/2020.js';
import { createDecider } from '../../src/app/decide.ts';
import { loadPolicySet } from '../../src/policy/load.ts';
import type { PolicySet } from '../../src/policy/model.ts';
import { createRegistryClient, type RegistryClient } from '../../src/registry/client.ts';
import { createRegistryPusher, type RegistryPusher } from '../../src/registry/push.ts';
import { decryptPrivateKey, type SigningKey } from '../../src/signing/keys.ts';
import { signImage } from '../../src/signing/sign.ts';
import { parseReference, withDigest } from '../../src/reference/index.ts';
import { createKubernetesApi, type ControllerApi } from '../../src/kubernetes/api.ts';
import { controllerAuditRecords } from '../../src/controller/audit-trail.ts';
import { Controller } from '../../src/controller/loop.ts';
import { ControllerMetrics } from '../../src/controller/metrics.ts';
import { CloudEventNotifier } from '../../src/controller/notify.ts';
import { startRegistry, type RunningRegistry } from '../harness/registry.ts';
import { startFaultProxy } from '../harness/fault-proxy.ts';
import { buildImage, pushBuilt } from '../harness/images.ts';
import { fixturePath } from '../harness/fixtures.ts';
import { startStubApiServer, type StubApiServer } from '../kubernetes/stub-apiserver.ts';

const KEYS = fixturePath('skopeo-signed', 'keys');
const schema: unknown = JSON.parse(
  readFileSync(new URL('./fixtures/policyreport-v1alpha2.schema.json', import.meta.url), 'utf8'),
);
const validate = new Ajv2020({ strict: false, validateFormats: false, allErrors: true }).compile(
  schema as object,
);

let registry: RunningRegistry;
let stub: StubApiServer;
let client: RegistryClient;
let pusher: RegistryPusher;
let key: SigningKey;
let policySet: PolicySet;
let dir: string;
let recorder: Server;
let recorderUrl: string;
const received: { contentType: string; body: Record<string, unknown> }[] = [];

before(async () => {
  registry = await startRegistry();
  stub = await startStubApiServer();
  client = createRegistryClient({ insecureRegistries: [registry.host] });
  pusher = createRegistryPusher({ insecureRegistries: [registry.host] });
  const passphrase = readFileSync(join(KEYS, 'passphrase.txt'), 'utf8').trim();
  key = await decryptPrivateKey(readFileSync(join(KEYS, 'k1.private'), 'utf8'), passphrase);
  const pem = readFileSync(join(KEYS, 'k1.pub'), 'utf8');
  const loaded = loadPolicySet([
    {
      path: 'signed.yaml',
      text: `apiVersion: portcullis.dev/v1alpha1\nkind: ImagePolicy\nmetadata: {name: release-signed}\nspec:\n  images: [{glob: "**"}]\n  rules:\n    - name: signed-by-k1\n      signatures:\n        authorities:\n          - {name: k1, key: {data: ${JSON.stringify(pem)}}, tlog: {required: false}}\n`,
    },
  ]);
  assert.ok(loaded.ok, JSON.stringify(!loaded.ok && loaded.diagnostics));
  policySet = loaded.policySet;
  dir = await mkdtemp(join(tmpdir(), 'portcullis-controller-'));
  recorder = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      received.push({
        contentType: String(req.headers['content-type']),
        body: JSON.parse(Buffer.concat(chunks).toString('utf8')) as Record<string, unknown>,
      });
      res.writeHead(202).end();
    });
  });
  await new Promise<void>((r) => recorder.listen(0, '127.0.0.1', r));
  recorderUrl = `http://127.0.0.1:${(recorder.address() as AddressInfo).port}/hook`;
});

after(async () => {
  await client?.close();
  await pusher?.close();
  await stub?.close();
  await registry?.stop();
  await new Promise<void>((r) => (recorder ? recorder.close(() => r()) : r()));
  if (dir) await rm(dir, { recursive: true, force: true });
});

async function pushSigned(repo: string, seed: string, tag: string, sign = true) {
  const image = buildImage({ seed });
  await pushBuilt(registry.host, repo, image, tag);
  if (sign)
    await signImage(
      client,
      pusher,
      key,
      withDigest(parseReference(`${registry.host}/${repo}:${tag}`), image.digest),
    );
  return image;
}

async function controllerFor(onResync?: ConstructorParameters<typeof Controller>[0]['onResync']) {
  const api = createKubernetesApi({ kubeconfig: await stub.writeKubeconfig(dir) });
  const metrics = new ControllerMetrics();
  const failures: string[] = [];
  const notifier = new CloudEventNotifier({
    url: recorderUrl,
    allowHttp: true,
    backoffMs: 1,
    onFailure: (_e, why) => failures.push(why),
  });
  const controller = new Controller({
    api,
    // No verdict cache: every resync fetches the signatures again.
    policies: () => policySet,
    makeDecider: (set, evidence) =>
      createDecider(set, { offline: false, registry: client, timeoutMs: 20_000, evidence }),
    intervalMs: 3_600_000,
    metrics,
    notifier,
    ...(onResync ? { onResync } : {}),
  });
  return { controller, metrics, notifier, failures };
}

async function gauge(metrics: ControllerMetrics) {
  return (await metrics.noncompliant.get()).values.map((v) => ({ ...v.labels, value: v.value }));
}

const eventsFor = (name: string) =>
  stub.events.filter((e) => (e.involvedObject as Record<string, unknown>).name === name);

test('a tag moved to an unsigned image after admission: fail on the next resync, an Event, a CloudEvent; then recovery', async () => {
  const signed = await pushSigned('acme/web', 'web-signed', 'v1');
  stub.putPod(
    'shop',
    'web-7d9f-abcde',
    { containers: [{ name: 'web', image: `${registry.host}/acme/web:v1` }] },
    {
      kind: 'ReplicaSet',
      name: 'web-7d9f',
    },
  );
  const { controller, metrics, notifier, failures } = await controllerFor();

  const first = await controller.resync();
  assert.deepEqual(first.problems, []);
  assert.equal(first.violations, 0);
  let report = stub.report('portcullis', 'shop')!;
  assert.ok(validate(report), JSON.stringify(validate.errors));
  assert.deepEqual(report.summary, { pass: 1, fail: 0, warn: 0, error: 0, skip: 0 });
  assert.equal(eventsFor('web-7d9f').length, 0);
  assert.deepEqual(await gauge(metrics), []);

  // The tag moves to an image nobody signed; the running pod spec still says :v1.
  const unsigned = await pushSigned('acme/web', 'web-unsigned', 'v1', false);
  const second = await controller.resync();
  assert.equal(second.violations, 1);
  report = stub.report('portcullis', 'shop')!;
  assert.ok(validate(report), JSON.stringify(validate.errors));
  assert.deepEqual(report.summary, { pass: 0, fail: 1, warn: 0, error: 0, skip: 0 });
  const [result] = report.results as Record<string, unknown>[];
  assert.equal(result!.policy, 'release-signed');
  assert.equal(result!.rule, 'signed-by-k1');
  assert.equal(result!.result, 'fail');
  assert.deepEqual(result!.properties, {
    image: `${registry.host}/acme/web:v1`,
    digest: unsigned.digest,
    checkedAt: (result!.properties as Record<string, string>).checkedAt,
    process: 'background',
  });
  assert.deepEqual((result!.resources as unknown[])[0], {
    apiVersion: 'apps/v1',
    kind: 'ReplicaSet',
    name: 'web-7d9f',
    namespace: 'shop',
    uid: 'owner-replicaset-web-7d9f',
  });
  const [event] = eventsFor('web-7d9f');
  assert.equal(event!.reason, 'PortcullisPolicyViolation');
  assert.equal(event!.type, 'Warning');
  assert.match(
    String(event!.message),
    /^image 127\.0\.0\.1:\d+\/acme\/web:v1 no longer complies: policy release-signed rule signed-by-k1: /,
  );
  assert.deepEqual(await gauge(metrics), [{ namespace: 'shop', policy: 'release-signed', value: 1 }]);
  await notifier.flush();
  assert.deepEqual(failures, []);
  const violation = received.at(-1)!;
  assert.equal(violation.contentType, 'application/cloudevents+json; charset=utf-8');
  assert.equal(violation.body.specversion, '1.0');
  assert.equal(violation.body.type, 'dev.portcullis.violation');
  assert.equal(violation.body.source, '/portcullis/controller');
  assert.equal(violation.body.subject, 'shop/ReplicaSet/web-7d9f');
  assert.match(String(violation.body.id), /^[0-9a-f-]{36}$/);
  assert.ok(!Number.isNaN(Date.parse(String(violation.body.time))));
  const data = violation.body.data as Record<string, unknown>;
  assert.equal(data.digest, unsigned.digest);
  assert.equal((data.findings as Record<string, unknown>[])[0]!.policy, 'release-signed');

  // The same failure on the next resync is not news: no second Event, no second notification.
  const count = received.length;
  assert.equal((await controller.resync()).violations, 0);
  assert.equal(eventsFor('web-7d9f').length, 1);
  await notifier.flush();
  assert.equal(received.length, count);

  // Someone signs the new image: a recovery.
  await signImage(
    client,
    pusher,
    key,
    withDigest(parseReference(`${registry.host}/acme/web:v1`), unsigned.digest),
  );
  const fourth = await controller.resync();
  assert.equal(fourth.recoveries, 1);
  assert.deepEqual(stub.report('portcullis', 'shop')!.summary, {
    pass: 1,
    fail: 0,
    warn: 0,
    error: 0,
    skip: 0,
  });
  const recovery = eventsFor('web-7d9f').at(-1)!;
  assert.equal(recovery.reason, 'PortcullisPolicyRecovered');
  assert.equal(recovery.type, 'Normal');
  assert.deepEqual(await gauge(metrics), []);
  await notifier.flush();
  assert.equal(received.at(-1)!.body.type, 'dev.portcullis.recovery');
  assert.equal(signed.digest === unsigned.digest, false);
  stub.deletePod('shop', 'web-7d9f-abcde');
});

test('a removed signature is reported on the next resync', async () => {
  const image = await pushSigned('acme/api', 'api-signed', 'v2');
  stub.putPod('payments', 'api', { containers: [{ name: 'api', image: `${registry.host}/acme/api:v2` }] });
  const { controller, metrics } = await controllerFor();
  await controller.resync();
  assert.equal(stub.report('portcullis', 'payments')!.summary !== undefined, true);
  assert.deepEqual((stub.report('portcullis', 'payments')!.summary as Record<string, number>).pass, 1);

  // The .sig tag now holds something that is not a signature (what a registry GC or a bad push leaves).
  const sigTag = `sha256-${image.digest.slice('sha256:'.length)}.sig`;
  await pushBuilt(registry.host, 'acme/api', buildImage({ seed: 'not-a-signature' }), sigTag);
  const r = await controller.resync();
  assert.equal(r.violations, 1);
  const report = stub.report('portcullis', 'payments')!;
  assert.ok(validate(report), JSON.stringify(validate.errors));
  assert.equal((report.summary as Record<string, number>).fail, 1);
  const [event] = eventsFor('api');
  assert.equal(event!.reason, 'PortcullisPolicyViolation');
  assert.deepEqual(event!.involvedObject, {
    apiVersion: 'v1',
    kind: 'Pod',
    name: 'api',
    namespace: 'payments',
    uid: (event!.involvedObject as Record<string, string>).uid,
  });
  assert.deepEqual(
    (await gauge(metrics)).filter((g) => g.namespace === 'payments'),
    [{ namespace: 'payments', policy: 'release-signed', value: 1 }],
  );
  stub.deletePod('payments', 'api');
  // Its namespace's report is emptied, not left stale, once the workload is gone.
  await controller.resync();
  assert.deepEqual(stub.report('portcullis', 'payments')!.results, []);
});

test('the pod watch verifies a new pod without waiting for the resync', async () => {
  await pushSigned('acme/batch', 'batch-unsigned', 'v3', false);
  const { controller, notifier } = await controllerFor();
  const stop = new AbortController();
  const running = controller.run(stop.signal);
  try {
    // Wait for the first resync's report before creating the pod (bounded: no timed assertion).
    for (let i = 0; i < 400 && !stub.report('portcullis-cluster'); i++)
      await new Promise((r) => setTimeout(r, 50));
    for (let i = 0; i < 400 && stub.watchCount() === 0; i++) await new Promise((r) => setTimeout(r, 50));
    assert.ok(stub.watchCount() > 0, 'the controller watches pods');
    stub.putPod('jobs', 'nightly', {
      containers: [{ name: 'job', image: `${registry.host}/acme/batch:v3` }],
    });
    for (let i = 0; i < 400 && eventsFor('nightly').length === 0; i++)
      await new Promise((r) => setTimeout(r, 50));
    // The Event is created before the namespace's report is written.
    for (let i = 0; i < 400 && !stub.report('portcullis', 'jobs'); i++)
      await new Promise((r) => setTimeout(r, 50));
    const [event] = eventsFor('nightly');
    assert.equal(event?.reason, 'PortcullisPolicyViolation');
    const report = stub.report('portcullis', 'jobs')!;
    assert.ok(validate(report), JSON.stringify(validate.errors));
    assert.equal(
      (report.results as Record<string, Record<string, string>>[])[0]!.properties!.process,
      'watch',
    );

    // A second replica of the same workload with the same image is nothing new: no verification, no
    // report write. A pod with a new image after it is (and, the watch being in order, marks the end).
    const reportPath = '/apis/wgpolicyk8s.io/v1alpha2/namespaces/jobs/policyreports/portcullis';
    const writes = () => stub.requests.filter((r) => r === reportPath).length;
    const owner = { kind: 'ReplicaSet', name: 'batch-rs' };
    const batch = { containers: [{ name: 'job', image: `${registry.host}/acme/batch:v3` }] };
    stub.putPod('jobs', 'batch-rs-1', batch, owner);
    // Its Event comes first, then its report write (GET, PUT): wait for the report to name it.
    const reported = (name: string) =>
      ((stub.report('portcullis', 'jobs')?.results ?? []) as Record<string, { name: string }[]>[]).some(
        (r) => r.resources![0]!.name === name,
      );
    for (let i = 0; i < 400 && !reported('batch-rs'); i++) await new Promise((r) => setTimeout(r, 50));
    const before = writes();
    stub.putPod('jobs', 'batch-rs-2', batch, owner);
    await pushSigned('acme/sentinel', 'sentinel-unsigned', 'v1', false);
    stub.putPod('jobs', 'sentinel', {
      containers: [{ name: 's', image: `${registry.host}/acme/sentinel:v1` }],
    });
    for (let i = 0; i < 400 && !reported('sentinel'); i++) await new Promise((r) => setTimeout(r, 50));
    // One GET and one PUT of the report: the sentinel's; the replica cost nothing.
    assert.equal(writes(), before + 2);
    for (const name of ['nightly', 'batch-rs-1', 'batch-rs-2', 'sentinel']) stub.deletePod('jobs', name);
  } finally {
    stop.abort();
    await running;
    await notifier.flush();
  }
});

test('the notifier refuses plain http unless allowed, and URLs with credentials', () => {
  assert.throws(() => new CloudEventNotifier({ url: 'http://hooks.example/x' }), /must be https:\/\//);
  assert.throws(
    () => new CloudEventNotifier({ url: 'https://u:p@hooks.example/x' }),
    /must not contain credentials/,
  );
  assert.throws(() => new CloudEventNotifier({ url: 'not a url' }), /is not a URL/);
});

test('an unreachable registry is an error result of the policy, counted as non-compliant, never a pass', async () => {
  // Port 1 on loopback: nothing listens, the connection is refused at once.
  stub.putPod('edge', 'proxy', { containers: [{ name: 'p', image: '127.0.0.1:1/acme/proxy:v1' }] });
  const { controller, metrics } = await controllerFor();
  const r = await controller.resync();
  assert.equal(r.problems.length, 0);
  const report = stub.report('portcullis', 'edge')!;
  assert.ok(validate(report), JSON.stringify(validate.errors));
  assert.deepEqual(report.summary, { pass: 0, fail: 0, warn: 0, error: 1, skip: 0 });
  const [result] = report.results as Record<string, unknown>[];
  assert.equal(result!.result, 'error');
  assert.equal(eventsFor('proxy')[0]?.reason, 'PortcullisPolicyViolation');
  const edge = (await gauge(metrics)).filter((g) => g.namespace === 'edge');
  assert.equal(edge.length, 1);
  assert.equal(edge[0]!.value, 1);
  assert.equal(edge[0]!.policy, 'release-signed');
  assert.equal(result!.policy, 'release-signed');
  stub.deletePod('edge', 'proxy');
});

test('each resync leaves an audit trail in the webhook and audit record format, one line per workload', async () => {
  const image = await pushSigned('acme/trail', 'trail-signed', 'v1');
  stub.putPod('trail', 'web', { containers: [{ name: 'web', image: `${registry.host}/acme/trail:v1` }] });
  const records: ReturnType<typeof controllerAuditRecords> = [];
  const { controller } = await controllerFor((checks, time) =>
    records.push(...controllerAuditRecords(checks, policySet.version, time)),
  );
  await controller.resync();
  const record = records.find((r) => r.namespace === 'trail' && r.name === 'web');
  assert.ok(record, JSON.stringify(records));
  assert.equal(record.source, 'audit');
  assert.equal(record.process, 'controller');
  assert.equal(record.kind, 'v1/Pod');
  assert.equal(record.verdict, 'allow');
  assert.equal(record.policySetVersion, policySet.version);
  assert.equal(record.images[0]!.digest, image.digest);
  // The container path, as the webhook's records give it.
  assert.equal(record.images[0]!.path, 'spec.containers[0].image');
  assert.deepEqual(
    record.images[0]!.policies.map((p) => [p.name, p.verdict]),
    [['release-signed', 'pass']],
  );
  stub.deletePod('trail', 'web');
});

test('a round still running when the lease is lost writes nothing: no report, no Event', async () => {
  await pushSigned('acme/slow', 'slow-unsigned', 'v1', false);
  const proxy = await startFaultProxy(registry.url);
  const viaProxy = createRegistryClient({ insecureRegistries: [proxy.host] });
  let release!: () => void;
  const gate = new Promise<void>((r) => (release = r));
  let seen = false;
  proxy.setFaults([
    {
      path: /^\/v2\/acme\/slow\/manifests\/v1$/,
      fault: 'custom',
      handle: async (_req, _res, context) => {
        seen = true;
        await gate;
        context.send(await context.forward());
      },
    },
  ]);
  stub.putPod('slowpoke', 'app', { containers: [{ name: 'a', image: `${proxy.host}/acme/slow:v1` }] });
  const controller = new Controller({
    api: createKubernetesApi({ kubeconfig: await stub.writeKubeconfig(dir) }),
    policies: () => policySet,
    makeDecider: (set, evidence) =>
      createDecider(set, { offline: false, registry: viaProxy, timeoutMs: 20_000, evidence }),
    intervalMs: 3_600_000,
  });
  const leading = new AbortController();
  const running = controller.run(leading.signal);
  try {
    for (let i = 0; i < 400 && !seen; i++) await new Promise((r) => setTimeout(r, 25));
    assert.ok(seen, 'the resync reached the registry');
    leading.abort(); // the lease is lost while the registry is slow
    release();
    await running;
    assert.equal(stub.report('portcullis', 'slowpoke'), undefined);
    assert.deepEqual(
      eventsFor('app').filter((e) => (e.metadata as Record<string, string>).namespace === 'slowpoke'),
      [],
    );
  } finally {
    release();
    stub.deletePod('slowpoke', 'app');
    await viaProxy.close();
    await proxy.stop();
  }
});

test('a lease lost while the writes are going out stops the writes that remain', async () => {
  await pushSigned('acme/midway', 'midway-unsigned', 'v1', false);
  stub.putPod('midway', 'app', { containers: [{ name: 'a', image: `${registry.host}/acme/midway:v1` }] });
  const real = createKubernetesApi({ kubeconfig: await stub.writeKubeconfig(dir) });
  const leading = new AbortController();
  const api: ControllerApi = {
    getNamespace: (name) => real.getNamespace(name),
    listPods: () => real.listPods(),
    watchPods: (version, onEvent, signal) => real.watchPods(version, onEvent, signal),
    applyPolicyReport: (report) => real.applyPolicyReport(report),
    // The Event goes out, then the lease is lost (the write was slow): the report must not follow.
    createEvent: async (namespace, event) => {
      await real.createEvent(namespace, event);
      leading.abort();
    },
  };
  const controller = new Controller({
    api,
    policies: () => policySet,
    makeDecider: (set, evidence) =>
      createDecider(set, { offline: false, registry: client, timeoutMs: 20_000, evidence }),
    intervalMs: 3_600_000,
  });
  try {
    await controller.run(leading.signal);
    assert.equal(
      eventsFor('app').filter((e) => (e.metadata as Record<string, string>).namespace === 'midway').length,
      1,
    );
    assert.equal(stub.report('portcullis', 'midway'), undefined);
  } finally {
    stub.deletePod('midway', 'app');
  }
});
