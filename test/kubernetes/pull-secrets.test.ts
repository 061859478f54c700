/**
 * Registry credentials at admission, end to end: `portcullis serve` over real HTTPS, a real registry
 * (Debian's docker-registry) requiring Basic auth, and the Kubernetes API played by a THIN STUB
 * (test/kubernetes/stub-apiserver.ts: recorded API shapes, not a real API server).
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { PassThrough } from 'node:stream';
import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startRegistry } from '../harness/registry.ts';
import { buildImage, pushBuilt } from '../harness/images.ts';
import { runServe } from '../../src/cli/commands/serve.ts';
import { UsageError } from '../../src/cli/exit-codes.ts';
import type { WebhookServer } from '../../src/webhook/server.ts';
import { admissionReview, basicPolicies, pod, policyDir } from '../webhook/support.ts';
import { https, makeCa, type TestCa } from '../webhook/tls.ts';
import { startStubApiServer, type StubApiServer } from './stub-apiserver.ts';

const AUTH = { username: 'puller', password: 'pull-secret-password' };
let registry: Awaited<ReturnType<typeof startRegistry>>;
let stub: StubApiServer;
let ca: TestCa;
let server: WebhookServer;
let kubeconfig: string;
let stop: AbortController;
let served: Promise<number>;
const auditLines: string[] = [];
let logText = '';
let image: string;

const dockerConfigJson = (host: string, auth = AUTH) =>
  JSON.stringify({
    auths: {
      [host]: {
        username: auth.username,
        password: auth.password,
        auth: Buffer.from(`${auth.username}:${auth.password}`).toString('base64'),
      },
    },
  });

before(async () => {
  registry = await startRegistry({ auth: AUTH });
  image = `${registry.host}/acme/api:v1`;
  await pushBuilt(registry.host, 'acme/api', buildImage({ seed: 'pull-secrets' }), 'v1', { auth: AUTH });
  stub = await startStubApiServer();
  const port = registry.host.split(':')[1]!;
  for (const ns of ['team-a', 'team-b', 'team-c', 'team-d', 'team-e']) {
    stub.putNamespace(ns, {});
    stub.putServiceAccount(ns, 'default', []);
  }
  stub.putSecret('team-a', 'regcred', 'kubernetes.io/dockerconfigjson', {
    '.dockerconfigjson': dockerConfigJson(registry.host),
  });
  // Right password, wrong hosts: another port, and a name that merely starts with the registry's.
  stub.putSecret('team-b', 'othercred', 'kubernetes.io/dockerconfigjson', {
    '.dockerconfigjson': JSON.stringify({
      auths: {
        [`127.0.0.1:${Number(port) + 1}`]: { username: AUTH.username, password: AUTH.password },
        [`${registry.host}.evil.example`]: { username: AUTH.username, password: AUTH.password },
        localhost: { username: AUTH.username, password: AUTH.password },
      },
    }),
  });
  stub.putSecret('team-d', 'builder-cred', 'kubernetes.io/dockerconfigjson', {
    '.dockerconfigjson': dockerConfigJson(registry.host),
  });
  stub.putServiceAccount('team-d', 'builder', ['builder-cred']);
  stub.putSecret('team-e', 'legacy', 'kubernetes.io/dockercfg', {
    '.dockercfg': JSON.stringify({
      [`http://${registry.host}`]: { username: AUTH.username, password: AUTH.password },
    }),
  });
  // A secret in another namespace is never read for team-c.
  stub.putSecret('team-c', 'opaque', 'Opaque', { password: AUTH.password });

  const dir = await mkdtemp(join(tmpdir(), 'portcullis-kube-'));
  kubeconfig = await stub.writeKubeconfig(dir);
  await writeFile(join(dir, 'docker-config.json'), '{"auths": {}}');
  const policies = await policyDir(basicPolicies('127.0.0.1:*'));
  ca = makeCa();
  const cert = ca.issue('pull-secrets');
  const stdout = new PassThrough();
  const stderr = new PassThrough();
  stdout.on('data', (c: Buffer) => auditLines.push(...c.toString('utf8').split('\n').filter(Boolean)));
  stderr.on('data', (c: Buffer) => (logText += c.toString('utf8')));
  stop = new AbortController();
  server = await new Promise<WebhookServer>((resolve, reject) => {
    served = runServe(
      {
        policy: [policies],
        tlsCert: cert.certFile,
        tlsKey: cert.keyFile,
        port: '0',
        host: '127.0.0.1',
        pin: true,
        deadline: '5',
        logLevel: 'info',
        timeout: '30',
        insecureRegistry: [registry.host],
        // No static credentials: only the pull secrets can open the registry.
        dockerConfig: join(dir, 'docker-config.json'),
        kubeconfig,
        // Verdicts must not be reused across namespaces with different secrets in these tests.
        verdictTtl: '0',
        denyTtl: '0',
        tagTtl: '0',
      },
      { stdout, stderr, readStdin: async () => '' },
      { signal: stop.signal, onListening: (s) => resolve(s), env: {} },
    );
    served.catch(reject);
  });
});

after(async () => {
  stop?.abort();
  await served?.catch(() => 0);
  await stub?.close();
  await registry?.stop();
});

async function validate(namespace: string, object: Record<string, unknown>) {
  const review = admissionReview(object, { namespace });
  const r = await https(`${server.url}/validate`, { ca: ca.caPem, body: JSON.stringify(review) });
  const response = r.json().response as { allowed: boolean; status?: { message: string } };
  const uid = (review.request as { uid: string }).uid;
  const audit = auditLines.map((l) => JSON.parse(l) as Record<string, unknown>).find((a) => a.uid === uid);
  return {
    response,
    audit: audit as { pullSecrets?: { used: string[]; notes: string[]; problem?: string } },
  };
}

const withSecrets = (name: string, secrets: string[], serviceAccountName?: string) => {
  const p = pod(name, image) as { spec: Record<string, unknown> };
  if (secrets.length > 0) p.spec.imagePullSecrets = secrets.map((s) => ({ name: s }));
  if (serviceAccountName) p.spec.serviceAccountName = serviceAccountName;
  return p as Record<string, unknown>;
};

test('the Pod’s imagePullSecrets open a Basic-auth registry: allowed, the secret recorded', async () => {
  const { response, audit } = await validate('team-a', withSecrets('web', ['regcred']));
  assert.equal(response.allowed, true, response.status?.message);
  assert.deepEqual(audit.pullSecrets, { used: ['team-a/regcred'], notes: [] });
});

test('a secret for another host (another port, a look-alike name, localhost) is never used', async () => {
  const { response, audit } = await validate('team-b', withSecrets('web', ['othercred']));
  assert.equal(response.allowed, false);
  assert.match(
    response.status!.message,
    /^spec\.containers\[0\]\.image 127\.0\.0\.1:\d+\/acme\/api:v1: denied by policy local, rule known-bad: digest unknown: .*(UNAUTHORIZED|authentication required)/i,
  );
  assert.deepEqual(audit.pullSecrets?.used, ['team-b/othercred']);
});

test('a missing secret is no error in itself: the registry refuses, denied with its message; the audit line says which', async () => {
  const { response, audit } = await validate('team-c', withSecrets('web', ['absent', 'opaque']));
  assert.equal(response.allowed, false);
  assert.match(
    response.status!.message,
    /denied by policy local, rule known-bad: digest unknown: .*(UNAUTHORIZED|authentication required)/i,
  );
  assert.deepEqual(audit.pullSecrets, {
    used: [],
    notes: [
      'image pull secret team-c/absent not found',
      'image pull secret team-c/opaque has type "Opaque", not kubernetes.io/dockerconfigjson',
    ],
  });
});

test('the service account’s pull secrets are used; the default account is used when none is named', async () => {
  const viaAccount = await validate('team-d', withSecrets('build', [], 'builder'));
  assert.equal(viaAccount.response.allowed, true, viaAccount.response.status?.message);
  assert.deepEqual(viaAccount.audit.pullSecrets, { used: ['team-d/builder-cred'], notes: [] });

  const viaDefault = await validate('team-d', withSecrets('plain', []));
  assert.equal(viaDefault.response.allowed, false);
  assert.deepEqual(viaDefault.audit.pullSecrets, { used: [], notes: [] });
});

test('a legacy kubernetes.io/dockercfg secret works too', async () => {
  const { response, audit } = await validate('team-e', withSecrets('old', ['legacy']));
  assert.equal(response.allowed, true, response.status?.message);
  assert.deepEqual(audit.pullSecrets?.used, ['team-e/legacy']);
});

test('API server down: the credentials are unavailable, the image is denied and the message says why', async () => {
  stub.setDown(true);
  try {
    // Neither this secret nor this account was read before (nothing cached); the API answers 503.
    const { response, audit } = await validate(
      'team-a',
      withSecrets('fresh', ['regcred-2'], 'other-account'),
    );
    assert.equal(response.allowed, false);
    const lines = response.status!.message.split('\n');
    assert.match(
      lines[0]!,
      /denied by policy local, rule known-bad: digest unknown: .*(UNAUTHORIZED|authentication required)/i,
    );
    assert.match(
      lines[1]!,
      /^registry credentials unavailable \(private images cannot be verified\): the service account team-a\/other-account could not be read from the Kubernetes API: \/api\/v1\/namespaces\/team-a\/serviceaccounts\/other-account: HTTP 503: the server is currently unable to handle the request$/,
    );
    assert.match(audit.pullSecrets!.problem!, /HTTP 503/);
  } finally {
    stub.setDown(false);
  }
});

async function readyPolicies(): Promise<number> {
  const r = await https(`${server.url}/readyz`, { ca: ca.caPem });
  return (r.json() as { policies: number }).policies;
}

/** Polls /readyz until the cluster-wide policy count is `n` (the watch and reload are asynchronous). */
async function untilPolicies(n: number): Promise<void> {
  for (let i = 0; i < 400 && (await readyPolicies()) !== n; i++) await new Promise((r) => setTimeout(r, 25));
  assert.equal(await readyPolicies(), n);
}

test('serve watches policy resources: an ImagePolicy applies everywhere, a NamespacedImagePolicy in its namespace', async () => {
  const base = await readyPolicies();
  const noV1 = {
    images: [{ glob: '127.0.0.1:*/acme/**' }],
    rules: [{ name: 'no-v1', tags: { forbid: ['v1'] } }],
  };
  stub.putPolicy('ImagePolicy', 'cluster-no-v1', noV1);
  await untilPolicies(base + 1);
  const denied = await validate('team-a', withSecrets('web', ['regcred']));
  assert.equal(denied.response.allowed, false);
  assert.match(
    denied.response.status!.message,
    /denied by policy cluster-no-v1, rule no-v1: tag "v1" is forbidden/,
  );
  stub.deletePolicy('ImagePolicy', 'cluster-no-v1');
  await untilPolicies(base);
  assert.equal((await validate('team-a', withSecrets('web', ['regcred']))).response.allowed, true);

  // Namespaced: /readyz counts cluster-wide policies only, so wait on the decision in team-a itself.
  stub.putPolicy('NamespacedImagePolicy', 'team-no-v1', noV1, 'team-a');
  let inTeamA = await validate('team-a', withSecrets('web', ['regcred']));
  for (let i = 0; i < 400 && inTeamA.response.allowed; i++) {
    await new Promise((r) => setTimeout(r, 25));
    inTeamA = await validate('team-a', withSecrets('web', ['regcred']));
  }
  assert.match(inTeamA.response.status!.message, /denied by policy team-a\/team-no-v1, rule no-v1: /);
  assert.equal((await validate('team-e', withSecrets('old', ['legacy']))).response.allowed, true);
  // ImageReview names the namespace too (it carries no pull secrets, so the registry refuses anyway).
  const imageReview = async (namespace: string) => {
    const body = {
      apiVersion: 'imagepolicy.k8s.io/v1alpha1',
      kind: 'ImageReview',
      spec: { containers: [{ image }], namespace },
    };
    const r = await https(`${server.url}/imagereview`, { ca: ca.caPem, body: JSON.stringify(body) });
    return (r.json() as { status: { allowed: boolean; reason?: string } }).status;
  };
  const reviewedInA = await imageReview('team-a');
  assert.equal(reviewedInA.allowed, false);
  assert.match(reviewedInA.reason!, /denied by policy team-a\/team-no-v1, rule no-v1: /);
  const reviewedInE = await imageReview('team-e');
  assert.equal(reviewedInE.allowed, false);
  assert.doesNotMatch(reviewedInE.reason!, /team-no-v1/);
  stub.deletePolicy('NamespacedImagePolicy', 'team-no-v1', 'team-a');
});

test('flags: --watch-crds needs the API; --kubeconfig contradicts --no-kubernetes; a bad kubeconfig is a usage error', async () => {
  const base = {
    policy: ['/nonexistent'],
    tlsCert: 'x',
    tlsKey: 'y',
    port: '0',
    host: '127.0.0.1',
    pin: true,
    deadline: '5',
    logLevel: 'info',
    timeout: '30',
    offline: true,
  };
  const io = { stdout: new PassThrough(), stderr: new PassThrough(), readStdin: async () => '' };
  await assert.rejects(runServe({ ...base, watchCrds: true }, io, { env: {} }), {
    name: 'UsageError',
    message: '--watch-crds needs the Kubernetes API: give --kubeconfig, or run in a cluster',
  });
  await assert.rejects(runServe({ ...base, kubernetes: false, kubeconfig }, io, { env: {} }), UsageError);
  await assert.rejects(runServe({ ...base, kubeconfig: '/nonexistent/kubeconfig' }, io, { env: {} }), {
    name: 'UsageError',
    message: /^cannot load Kubernetes API configuration from \/nonexistent\/kubeconfig: /,
  });
});

test('namespace labels come from the API: a namespaceSelector policy applies where the labels match', async () => {
  const base = await readyPolicies();
  stub.putNamespace('team-a', { env: 'prod' });
  stub.putPolicy('ImagePolicy', 'prod-no-v1', {
    images: [{ glob: '127.0.0.1:*/acme/**' }],
    match: { namespaceSelector: { matchLabels: { env: 'prod' } } },
    rules: [{ name: 'no-v1', tags: { forbid: ['v1'] } }],
  });
  await untilPolicies(base + 1);
  const inProd = await validate('team-a', withSecrets('web', ['regcred']));
  assert.equal(inProd.response.allowed, false);
  assert.match(
    inProd.response.status!.message,
    /denied by policy prod-no-v1, rule no-v1: tag "v1" is forbidden/,
  );
  const elsewhere = await validate('team-e', withSecrets('old', ['legacy']));
  assert.equal(elsewhere.response.allowed, true, 'team-e has no env=prod label');
  // A burst in one namespace reads its labels once (cached for a few seconds), not once per request.
  const again = await validate('team-a', withSecrets('web-2', ['regcred']));
  assert.equal(again.response.allowed, false);
  assert.equal(stub.requests.filter((r) => r === '/api/v1/namespaces/team-a').length, 1);
  stub.deletePolicy('ImagePolicy', 'prod-no-v1');
  await untilPolicies(base);
  stub.putNamespace('team-a', {});
});
