/**
 * `portcullis serve --audit`: the webhook and the controller in one process. They share the registry
 * client, whose manifests and blobs are cached by digest, but the controller never reuses an admission
 * verdict: tags are resolved again and signatures fetched and verified again on each resync.
 * Real local registry behind a recording proxy, real TLS; THIN STUB of the Kubernetes API server.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { PassThrough } from 'node:stream';
import { mkdtemp, rm } from 'node:fs/promises';
import { readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runServe, type ServeOptions } from '../../src/cli/commands/serve.ts';
import type { Controller } from '../../src/controller/loop.ts';
import type { WebhookServer } from '../../src/webhook/server.ts';
import { createRegistryClient, type RegistryClient } from '../../src/registry/client.ts';
import { createRegistryPusher, type RegistryPusher } from '../../src/registry/push.ts';
import { decryptPrivateKey } from '../../src/signing/keys.ts';
import { signImage } from '../../src/signing/sign.ts';
import { parseReference, withDigest } from '../../src/reference/index.ts';
import { UsageError } from '../../src/cli/exit-codes.ts';
import { startRegistry, type RunningRegistry } from '../harness/registry.ts';
import { startFaultProxy, type FaultProxy } from '../harness/fault-proxy.ts';
import { buildImage, pushBuilt } from '../harness/images.ts';
import { fixturePath } from '../harness/fixtures.ts';
import { startStubApiServer, type StubApiServer } from '../kubernetes/stub-apiserver.ts';
import { admissionReview, deployment, policyDir } from '../webhook/support.ts';
import { https, makeCa } from '../webhook/tls.ts';

const KEYS = fixturePath('skopeo-signed', 'keys');
const ca = makeCa();
const cert = ca.issue('serve-audit');

let registry: RunningRegistry;
let proxy: FaultProxy;
let stub: StubApiServer;
let client: RegistryClient;
let pusher: RegistryPusher;
let dir: string;
let policies: string;

before(async () => {
  registry = await startRegistry();
  proxy = await startFaultProxy(registry.url);
  stub = await startStubApiServer();
  client = createRegistryClient({ insecureRegistries: [registry.host] });
  pusher = createRegistryPusher({ insecureRegistries: [registry.host] });
  dir = await mkdtemp(join(tmpdir(), 'portcullis-serve-audit-'));
  const pem = readFileSync(join(KEYS, 'k1.pub'), 'utf8');
  policies = await policyDir({
    'signed.yaml': `apiVersion: portcullis.dev/v1alpha1\nkind: ImagePolicy\nmetadata: {name: release-signed}\nspec:\n  images: [{glob: "**"}]\n  rules:\n    - name: signed-by-k1\n      signatures:\n        authorities:\n          - {name: k1, key: {data: ${JSON.stringify(pem)}}, tlog: {required: false}}\n`,
  });
});

after(async () => {
  await client?.close();
  await pusher?.close();
  await stub?.close();
  await proxy?.stop();
  await registry?.stop();
  if (dir) await rm(dir, { recursive: true, force: true });
  await rm(policies, { recursive: true, force: true });
});

function options(extra: Partial<ServeOptions>): ServeOptions {
  return {
    policy: [policies],
    tlsCert: cert.certFile,
    tlsKey: cert.keyFile,
    port: '0',
    host: '127.0.0.1',
    pin: true,
    deadline: '9',
    logLevel: 'error',
    timeout: '20',
    ...extra,
  };
}

const quiet = () => ({ stdout: new PassThrough(), stderr: new PassThrough(), readStdin: async () => '' });

test('serve --audit: one process, shared content cache, no shared verdicts', async () => {
  const passphrase = readFileSync(join(KEYS, 'passphrase.txt'), 'utf8').trim();
  const key = await decryptPrivateKey(readFileSync(join(KEYS, 'k1.private'), 'utf8'), passphrase);
  const image = buildImage({ seed: 'serve-audit-web' });
  await pushBuilt(registry.host, 'acme/web', image, 'v1');
  await signImage(
    client,
    pusher,
    key,
    withDigest(parseReference(`${registry.host}/acme/web:v1`), image.digest),
  );
  const running = `${proxy.host}/acme/web:v1`;

  const kubeconfig = await stub.writeKubeconfig(dir);
  const stop = new AbortController();
  let server!: WebhookServer;
  let controller!: Controller;
  const ready = new Promise<void>((resolve) => {
    let n = 0;
    const one = () => ++n === 2 && resolve();
    void runServe(
      options({
        audit: true,
        auditInterval: '1h',
        kubeconfig,
        insecureRegistry: [proxy.host],
      }),
      quiet(),
      {
        signal: stop.signal,
        onListening: (s) => {
          server = s;
          one();
        },
        onController: (c) => {
          controller = c;
          one();
        },
      },
    ).then((code) => (exit = code));
  });
  let exit: number | undefined;
  try {
    await ready;
    const admit = async () => {
      const r = await https(`${server.url}/validate`, {
        ca: ca.caPem,
        body: JSON.stringify(admissionReview(deployment('web', running), { namespace: 'live' })),
      });
      return (r.json() as { response: { allowed: boolean } }).response.allowed;
    };
    // Admission first: the webhook fetches the image manifest (by digest) and caches it.
    assert.equal(await admit(), true);
    stub.putPod('live', 'web', { containers: [{ name: 'web', image: running }] });
    proxy.clearRequests();
    await controller.resync();
    assert.equal((stub.report('portcullis', 'live')!.summary as Record<string, number>).pass, 1);
    const paths = proxy.requests.map((r) => `${r.method} ${r.path}`);
    // Re-verification: the tag is resolved again and the signature looked up again...
    assert.ok(paths.includes('HEAD /v2/acme/web/manifests/v1'), paths.join('\n'));
    const sigTag = `sha256-${image.digest.slice('sha256:'.length)}.sig`;
    assert.ok(
      paths.some((p) => p.includes(sigTag) || p.includes(`/referrers/${image.digest}`)),
      paths.join('\n'),
    );
    // ...but the image manifest the webhook verified is not downloaded again: the cache is shared.
    assert.ok(!paths.includes(`GET /v2/acme/web/manifests/${image.digest}`), paths.join('\n'));

    // The signature is broken. The webhook still has its verdict (cached for minutes); the controller
    // does not use it, so the next resync reports the workload.
    await pushBuilt(registry.host, 'acme/web', buildImage({ seed: 'not-a-signature' }), sigTag);
    assert.equal(await admit(), true);
    await controller.resync();
    const report = stub.report('portcullis', 'live')!;
    assert.equal((report.summary as Record<string, number>).fail, 1);
    assert.equal((report.results as Record<string, unknown>[])[0]!.policy, 'release-signed');
    // One /metrics for both: the webhook's series and the controller's gauge.
    const metrics = await https(`${server.url}/metrics`, { ca: ca.caPem, method: 'GET' });
    assert.match(metrics.text, /portcullis_webhook_requests_total/);
    assert.match(
      metrics.text,
      /portcullis_noncompliant_workloads\{namespace="live",policy="release-signed"\} 1/,
    );
  } finally {
    stop.abort();
    stub.deletePod('live', 'web');
  }
  for (let i = 0; i < 100 && exit === undefined; i++) await new Promise((r) => setTimeout(r, 50));
  assert.equal(exit, 0);
});

test('serve --audit refuses what it cannot do, with the flag to blame', async () => {
  await assert.rejects(
    runServe(options({ audit: true, offline: true, kubeconfig: await stub.writeKubeconfig(dir) }), quiet()),
    (e: unknown) => e instanceof UsageError && /--audit .* cannot run with --offline/.test(e.message),
  );
  await assert.rejects(
    runServe(options({ audit: true, kubernetes: false }), quiet(), { env: {} }),
    /--audit needs the Kubernetes API: give --kubeconfig, or run in a cluster/,
  );
  await assert.rejects(
    runServe(options({ notifyUrl: 'https://hooks.example/x' }), quiet(), { env: {} }),
    /--audit-interval, --notify-url and --lease-namespace belong to --audit; add --audit/,
  );
  await assert.rejects(
    runServe(
      options({ audit: true, auditInterval: '2s', kubeconfig: await stub.writeKubeconfig(dir) }),
      quiet(),
    ),
    /--audit-interval must be a duration between 10s and 24h/,
  );
  await assert.rejects(
    runServe(
      options({
        audit: true,
        notifyUrl: 'http://hooks.example/x',
        kubeconfig: await stub.writeKubeconfig(dir),
      }),
      quiet(),
    ),
    /--notify-url http:\/\/hooks\.example must be https:\/\//,
  );
});

test('serve --audit in two replicas: only the Lease holder re-verifies', async () => {
  const kubeconfig = await stub.writeKubeconfig(dir);
  const stops = [new AbortController(), new AbortController()];
  const listsBefore = stub.requests.filter(
    (r) => r.startsWith('/api/v1/pods?') && !r.includes('watch=true'),
  ).length;
  const runs = stops.map((stop) =>
    runServe(
      options({
        audit: true,
        auditInterval: '1h',
        kubeconfig,
        insecureRegistry: [proxy.host],
        leaseNamespace: 'replicas',
      }),
      quiet(),
      { signal: stop.signal },
    ),
  );
  try {
    let lease: { spec?: { holderIdentity?: string } } | undefined;
    for (let i = 0; i < 200 && !lease?.spec?.holderIdentity; i++) {
      await new Promise((r) => setTimeout(r, 25));
      lease = stub.object('/apis/coordination.k8s.io/v1/namespaces/replicas/leases/portcullis-controller') as
        { spec?: { holderIdentity?: string } } | undefined;
    }
    assert.ok(lease?.spec?.holderIdentity, 'nobody took the lease');
    // Both replicas are up and polling the lease; only the holder has listed the pods.
    await new Promise((r) => setTimeout(r, 1_000));
    const lists =
      stub.requests.filter((r) => r.startsWith('/api/v1/pods?') && !r.includes('watch=true')).length -
      listsBefore;
    assert.equal(lists, 1);
  } finally {
    for (const stop of stops) stop.abort();
  }
  assert.deepEqual(await Promise.all(runs), [0, 0]);
});
