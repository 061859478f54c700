/**
 * `portcullis controller` as a command: flag errors, and one run against the real local registry and a
 * THIN STUB of the Kubernetes API server (test/kubernetes/stub-apiserver.ts), stopped by a signal.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { PassThrough } from 'node:stream';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Io } from '../../src/cli/command.ts';
import {
  parseInterval,
  runController,
  type ControllerCommandOptions,
} from '../../src/cli/commands/controller.ts';
import { UsageError } from '../../src/cli/exit-codes.ts';
import { startRegistry, type RunningRegistry } from '../harness/registry.ts';
import { buildImage, pushBuilt } from '../harness/images.ts';
import { startStubApiServer, type StubApiServer } from '../kubernetes/stub-apiserver.ts';

let registry: RunningRegistry;
let stub: StubApiServer;
let dir: string;
let policyFile: string;

before(async () => {
  registry = await startRegistry();
  stub = await startStubApiServer();
  dir = await mkdtemp(join(tmpdir(), 'portcullis-controller-cmd-'));
  policyFile = join(dir, 'policy.yaml');
  await writeFile(
    policyFile,
    'apiVersion: portcullis.dev/v1alpha1\nkind: ImagePolicy\nmetadata: {name: no-latest}\nspec:\n  images: [{glob: "**"}]\n  rules:\n    - {name: pinned-tag, tags: {forbid: [latest]}}\n',
  );
});

after(async () => {
  await stub?.close();
  await registry?.stop();
  if (dir) await rm(dir, { recursive: true, force: true });
});

function io(): Io & { err: () => string } {
  const stderr = new PassThrough();
  let text = '';
  stderr.on('data', (c: Buffer) => (text += c.toString()));
  return {
    stdout: new PassThrough(),
    stderr,
    readStdin: async () => '',
    err: () => text,
  } as unknown as Io & {
    err: () => string;
  };
}

const base = (extra: Partial<ControllerCommandOptions> = {}): ControllerCommandOptions => ({
  policy: [policyFile],
  interval: '10m',
  metricsHost: '127.0.0.1',
  maxResults: '1000',
  logLevel: 'error',
  timeout: '20',
  ...extra,
});

test('--interval accepts 10s to 24h, in seconds, minutes or hours', () => {
  assert.equal(parseInterval('90'), 90_000);
  assert.equal(parseInterval('10m'), 600_000);
  assert.equal(parseInterval('1h'), 3_600_000);
  for (const bad of ['5s', '25h', '-1m', '10 m', 'soon', ''])
    assert.throws(() => parseInterval(bad), /--interval must be a duration between 10s and 24h/);
});

test('bad flags are usage errors that say which flag', async () => {
  await assert.rejects(runController(base({ interval: 'x' }), io()), UsageError);
  await assert.rejects(
    runController(base({ notifyUrl: 'http://hooks.example/x' }), io()),
    /--notify-url http:\/\/hooks\.example must be https:\/\//,
  );
  await assert.rejects(runController(base({ metricsPort: '70000' }), io()), /--metrics-port must be 0-65535/);
  await assert.rejects(runController(base({ maxResults: '0' }), io()), /--max-results must be 1-5000/);
  await assert.rejects(runController(base({ policy: [] }), io()), /at least one --policy PATH is required/);
  await assert.rejects(
    runController(base({ leaseNamespace: 'Bad_NS' }), io()),
    /--lease-namespace takes a namespace name .*"Bad_NS"/,
  );
  await assert.rejects(
    runController(base({ kubeconfig: join(dir, 'missing') }), io()),
    /cannot load Kubernetes API configuration/,
  );
  await assert.rejects(
    runController(
      base({
        kubeconfig: await stub.writeKubeconfig(dir),
        auditLog: join(dir, 'no-such-dir', 'audit.jsonl'),
      }),
      io(),
    ),
    /cannot open --audit-log .*no-such-dir\/audit\.jsonl: ENOENT/,
  );
});

test('a run writes the reports and serves the gauge on /metrics until stopped', async () => {
  const image = buildImage({ seed: 'cmd-latest' });
  await pushBuilt(registry.host, 'acme/tool', image, 'latest');
  stub.putPod('tools', 'tool', { containers: [{ name: 't', image: `${registry.host}/acme/tool:latest` }] });
  const stop = new AbortController();
  let port: number | undefined;
  const running = runController(
    base({
      kubeconfig: await stub.writeKubeconfig(dir),
      metricsPort: '0',
      insecureRegistry: [registry.host],
    }),
    io(),
    { signal: stop.signal, onStarted: (_c, p) => (port = p) },
  );
  try {
    for (let i = 0; i < 400 && !stub.report('portcullis-cluster'); i++)
      await new Promise((r) => setTimeout(r, 50));
    const report = stub.report('portcullis', 'tools')!;
    assert.equal((report.summary as Record<string, number>).fail, 1);
    assert.ok(port);
    const text = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
    assert.match(text, /portcullis_noncompliant_workloads\{namespace="tools",policy="no-latest"\} 1/);
    assert.equal((await fetch(`http://127.0.0.1:${port}/healthz`)).status, 200);
  } finally {
    stop.abort();
  }
  assert.equal(await running, 0);
});

async function until(what: string, ok: () => boolean): Promise<void> {
  for (let i = 0; i < 400; i++) {
    if (ok()) return;
    await new Promise((r) => setTimeout(r, 50));
  }
  assert.fail(`timed out waiting for ${what}`);
}

const summaryOf = (namespace: string) =>
  stub.report('portcullis', namespace)?.summary as Record<string, number> | undefined;

test('a policy change is judged at once, not at the next interval; a bad change keeps the last good set; policy resources apply', async () => {
  const image = buildImage({ seed: 'cmd-stable' });
  await pushBuilt(registry.host, 'acme/stable', image, 'stable');
  stub.putNamespace('reload', {});
  stub.putPod('reload', 'svc', { containers: [{ name: 's', image: `${registry.host}/acme/stable:stable` }] });
  const file = join(dir, 'reload.yaml');
  const forbid = (tag: string) =>
    `apiVersion: portcullis.dev/v1alpha1\nkind: ImagePolicy\nmetadata: {name: tags}\nspec:\n  images: [{glob: "**"}]\n  rules:\n    - {name: forbidden, tags: {forbid: [${tag}]}}\n`;
  await writeFile(file, forbid('latest'));
  const stop = new AbortController();
  const log = io();
  const running = runController(
    base({ policy: [file], kubeconfig: await stub.writeKubeconfig(dir), insecureRegistry: [registry.host] }),
    log,
    {
      signal: stop.signal,
      watchOptions: { debounceMs: 20, pollMs: 50 },
      kubernetesBackoff: { initialMs: 10 },
    },
  );
  try {
    await until('the first report', () => summaryOf('reload')?.pass === 1);
    // Stricter: the running tag is now forbidden. The interval is 10 minutes; the reload resyncs now.
    await writeFile(file, forbid('stable'));
    await until('the stricter policy to be judged', () => summaryOf('reload')?.fail === 1);
    // A broken file: rejected, and the last good set (still failing the pod) stays in force.
    await writeFile(file, 'apiVersion: portcullis.dev/v1alpha1\nkind: ImagePolicy\nspec: [\n');
    await until('the rejection', () => /policy change rejected/.test(log.err()));
    assert.equal(summaryOf('reload')?.fail, 1);
    // A cluster policy resource (ImagePolicy in the API) joins the files' set.
    await writeFile(file, forbid('latest'));
    await until('the looser file', () => summaryOf('reload')?.pass === 1);
    stub.putPolicy('ImagePolicy', 'cluster-no-stable', {
      images: [{ glob: '**' }],
      rules: [{ name: 'no-stable', tags: { forbid: ['stable'] } }],
    });
    await until('the cluster policy to be judged', () => summaryOf('reload')?.fail === 1);
    const failed = (stub.report('portcullis', 'reload')!.results as Record<string, unknown>[]).find(
      (r) => r.result === 'fail',
    )!;
    assert.equal(failed.policy, 'cluster-no-stable');
  } finally {
    stop.abort();
    stub.deletePolicy('ImagePolicy', 'cluster-no-stable');
    stub.deletePod('reload', 'svc');
  }
  assert.equal(await running, 0);
});

test('a policy set that does not load is exit 2 with its positions, before anything runs', async () => {
  const broken = join(dir, 'broken.yaml');
  await writeFile(
    broken,
    'apiVersion: portcullis.dev/v1alpha1\nkind: ImagePolicy\nmetadata: {name: bad}\nspec:\n  images: [{glob: "**"}]\n  rules:\n    - {name: r, tags: {forbid: 7}}\n',
  );
  const log = io();
  const before = stub.requests.filter((r) => r.startsWith('/api/v1/pods')).length;
  const code = await runController(
    base({ policy: [broken], kubeconfig: await stub.writeKubeconfig(dir), leaderElection: false }),
    log,
  );
  assert.equal(code, 2);
  assert.match(log.err(), /broken\.yaml:7:\d+/);
  assert.match(log.err(), /the policy set has \d+ error\(s\); not starting/);
  assert.equal(stub.requests.filter((r) => r.startsWith('/api/v1/pods')).length, before, 'no pod was listed');
});
