/**
 * The controller reads a private registry with each pod's image pull secrets, as the kubelet does, and
 * with nothing else: a pod without the secret gets an `error` result (never a pass), and `--no-pull-secrets`
 * reads with --docker-config only. Real Basic-auth registry (Debian docker-registry with htpasswd); THIN
 * STUB of the Kubernetes API server (test/kubernetes/stub-apiserver.ts).
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { PassThrough } from 'node:stream';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runController, type ControllerCommandOptions } from '../../src/cli/commands/controller.ts';
import type { Io } from '../../src/cli/command.ts';
import type { Controller } from '../../src/controller/loop.ts';
import { startRegistry, type RunningRegistry } from '../harness/registry.ts';
import { buildImage, pushBuilt } from '../harness/images.ts';
import { startStubApiServer, type StubApiServer } from '../kubernetes/stub-apiserver.ts';

const AUTH = { username: 'puller', password: 'controller-pull-password' };
let registry: RunningRegistry;
let stub: StubApiServer;
let dir: string;
let policyFile: string;

before(async () => {
  registry = await startRegistry({ auth: AUTH });
  await pushBuilt(registry.host, 'acme/private', buildImage({ seed: 'controller-private' }), 'v1', {
    auth: AUTH,
  });
  stub = await startStubApiServer();
  dir = await mkdtemp(join(tmpdir(), 'portcullis-controller-secrets-'));
  policyFile = join(dir, 'policy.yaml');
  await writeFile(
    policyFile,
    // A digest rule: it needs the registry, so an image that cannot be read is an error, not a pass.
    `apiVersion: portcullis.dev/v1alpha1\nkind: ImagePolicy\nmetadata: {name: not-revoked}\nspec:\n  images: [{glob: "**"}]\n  rules:\n    - {name: revoked, digests: {deny: ["sha256:${'0'.repeat(64)}"]}}\n`,
  );
  const auths = {
    auths: {
      [registry.host]: { auth: Buffer.from(`${AUTH.username}:${AUTH.password}`).toString('base64') },
    },
  };
  for (const ns of ['with-secret', 'without-secret']) {
    stub.putNamespace(ns, {});
    stub.putServiceAccount(ns, 'default', []);
  }
  stub.putSecret('with-secret', 'regcred', 'kubernetes.io/dockerconfigjson', {
    '.dockerconfigjson': JSON.stringify(auths),
  });
  const spec = (secrets: string[]) => ({
    containers: [{ name: 'app', image: `${registry.host}/acme/private:v1` }],
    imagePullSecrets: secrets.map((name) => ({ name })),
  });
  stub.putPod('with-secret', 'app', spec(['regcred']));
  stub.putPod('without-secret', 'app', spec([]));
});

after(async () => {
  await stub?.close();
  await registry?.stop();
  if (dir) await rm(dir, { recursive: true, force: true });
});

const quiet = (): Io =>
  ({ stdout: new PassThrough(), stderr: new PassThrough(), readStdin: async () => '' }) as unknown as Io;

async function oneResync(extra: Partial<ControllerCommandOptions>) {
  const kubeconfig = await stub.writeKubeconfig(dir);
  const stop = new AbortController();
  let controller!: Controller;
  const started = new Promise<void>((resolve) => {
    void runController(
      {
        policy: [policyFile],
        interval: '1h',
        metricsHost: '127.0.0.1',
        maxResults: '1000',
        logLevel: 'error',
        timeout: '20',
        kubeconfig,
        insecureRegistry: [registry.host],
        leaderElection: false,
        ...extra,
      },
      quiet(),
      {
        signal: stop.signal,
        onStarted: (c) => {
          controller = c;
          resolve();
        },
      },
    ).then((code) => assert.equal(code, 0));
  });
  await started;
  try {
    const r = await controller.resync();
    const resultOf = (ns: string) =>
      (stub.report('portcullis', ns)!.results as Record<string, unknown>[]).map(
        (x) => `${String(x.result)} ${String(x.policy)}: ${String(x.message)}`,
      );
    return {
      problems: r.problems,
      withSecret: resultOf('with-secret'),
      withoutSecret: resultOf('without-secret'),
    };
  } finally {
    stop.abort();
  }
}

test("each pod's pull secrets, and only its own, open the private registry", async () => {
  const r = await oneResync({});
  assert.deepEqual(r.withSecret, [
    `pass not-revoked: ${registry.host}/acme/private:v1: policy not-revoked passed`,
  ]);
  assert.equal(r.withoutSecret.length, 1);
  assert.match(r.withoutSecret[0]!, /^error not-revoked: .*(401|unauthorized|credentials)/i);
});

test('--no-pull-secrets reads with the static credentials only', async () => {
  const before = stub.requests.length;
  const r = await oneResync({ pullSecrets: false });
  assert.match(r.withSecret[0]!, /^error not-revoked: .*(401|unauthorized|credentials)/i);
  const secretReads = stub.requests.slice(before).filter((p) => /\/(secrets|serviceaccounts)\//.test(p));
  assert.deepEqual(secretReads, []);
});
