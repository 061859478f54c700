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
    runController(base({ kubeconfig: join(dir, 'missing') }), io()),
    /cannot load Kubernetes API configuration/,
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
