/**
 * The `serve` command: configuration errors exit 2 before listening; policies are reloaded on change,
 * a bad change is rejected and the last good set stays in force; --audit-log and --no-pin.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { PassThrough } from 'node:stream';
import { readFile, rename, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { runServe, type ServeOptions } from '../../src/cli/commands/serve.ts';
import type { WebhookServer } from '../../src/webhook/server.ts';
import type { PolicyStore } from '../../src/webhook/policies.ts';
import { cli } from '../cli/run.ts';
import { admissionReview, deployment, policyDir } from './support.ts';
import { https, makeCa } from './tls.ts';

const ca = makeCa();
const cert = ca.issue('serve');
const DIGEST = 'sha256:' + 'b'.repeat(64);

const policy = (forbidden: string) => `apiVersion: portcullis.dev/v1alpha1
kind: ImagePolicy
metadata: {name: tags}
spec:
  images: [{glob: "ghcr.io/**"}]
  rules:
    - name: no-${forbidden}
      tags: {forbid: [${forbidden}]}
`;

async function serve(options: Partial<ServeOptions>) {
  const stdout = new PassThrough();
  const stderr = new PassThrough();
  let out = '';
  let err = '';
  stdout.on('data', (c: Buffer) => (out += c.toString('utf8')));
  stderr.on('data', (c: Buffer) => (err += c.toString('utf8')));
  const stop = new AbortController();
  let resolveListening!: (v: { server: WebhookServer; policies: PolicyStore }) => void;
  const listening = new Promise<{ server: WebhookServer; policies: PolicyStore }>(
    (r) => (resolveListening = r),
  );
  const done = runServe(
    {
      tlsCert: cert.certFile,
      tlsKey: cert.keyFile,
      port: '0',
      host: '127.0.0.1',
      pin: true,
      deadline: '5',
      logLevel: 'info',
      timeout: '30',
      offline: true,
      ...options,
    },
    { stdout, stderr, readStdin: async () => '' },
    {
      signal: stop.signal,
      onListening: (server, policies) => resolveListening({ server, policies }),
      watchOptions: { debounceMs: 30, pollMs: 100 },
    },
  );
  const started = await Promise.race([listening, done.then((code) => ({ code }))]);
  return {
    started,
    stdout: () => out,
    stderr: () => err,
    async stop() {
      stop.abort();
      return done;
    },
  };
}

const decide = async (server: WebhookServer, image: string) => {
  const r = await https(`${server.url}/validate`, {
    ca: ca.caPem,
    body: JSON.stringify(admissionReview(deployment('d', image))),
  });
  return r.json().response as { allowed: boolean; status?: { message: string }; patch?: string };
};

/** Replaces the file in one step, as Kubernetes swaps a ConfigMap's files. */
async function replaceFile(path: string, text: string): Promise<void> {
  await writeFile(`${path}.tmp`, text);
  await rename(`${path}.tmp`, path);
}

async function until(condition: () => Promise<boolean>): Promise<boolean> {
  for (let i = 0; i < 200; i++) {
    if (await condition()) return true;
    await new Promise((r) => setTimeout(r, 25));
  }
  return false;
}

test('configuration errors exit 2 with a message, before listening', async () => {
  const bad = await policyDir({
    'p.yaml':
      'apiVersion: portcullis.dev/v1alpha1\nkind: ImagePolicy\nmetadata: {name: x}\nspec: {images: 7}\n',
  });
  const r = await cli([
    'serve',
    '--policy',
    bad,
    '--tls-cert',
    cert.certFile,
    '--tls-key',
    cert.keyFile,
    '--port',
    '0',
  ]);
  assert.equal(r.code, 2);
  assert.match(r.stderr, /p\.yaml:4:\d+: .*images/);
  assert.match(r.stderr, /portcullis: the policy set has \d+ error\(s\); not serving/);

  const good = await policyDir({ 'p.yaml': policy('latest') });
  const noTls = await cli(['serve', '--policy', good]);
  assert.equal(noTls.code, 2);
  assert.match(noTls.stderr, /--tls-cert FILE and --tls-key FILE are required/);

  const missingKey = await cli([
    'serve',
    '--policy',
    good,
    '--tls-cert',
    cert.certFile,
    '--tls-key',
    join(ca.dir, 'nope.key'),
    '--port',
    '0',
  ]);
  assert.equal(missingKey.code, 2);
  assert.match(missingKey.stderr, /cannot load the TLS certificate .* and key .*nope\.key: .*ENOENT/);

  const wrongKey = ca.issue('other');
  const mismatched = await cli([
    'serve',
    '--policy',
    good,
    '--tls-cert',
    cert.certFile,
    '--tls-key',
    wrongKey.keyFile,
    '--port',
    '0',
  ]);
  assert.equal(mismatched.code, 2);
  assert.match(mismatched.stderr, /cannot load the TLS certificate .*key values mismatch/);

  const deadline = await cli([
    'serve',
    '--policy',
    good,
    '--tls-cert',
    cert.certFile,
    '--tls-key',
    cert.keyFile,
    '--deadline',
    '40',
  ]);
  assert.equal(deadline.code, 2);
  assert.match(deadline.stderr, /--deadline must be a number of seconds above 0 and at most 29/);

  const auditDir = await cli([
    'serve',
    '--policy',
    good,
    '--tls-cert',
    cert.certFile,
    '--tls-key',
    cert.keyFile,
    '--audit-log',
    '/nonexistent/dir/audit.log',
  ]);
  assert.equal(auditDir.code, 2);
  assert.match(auditDir.stderr, /cannot open --audit-log \/nonexistent\/dir\/audit\.log: ENOENT/);
});

test('policies are reloaded on change; a bad change is rejected and the last good set stays', async () => {
  const dir = await policyDir({ 'p.yaml': policy('latest') });
  const s = await serve({ policy: [dir] });
  assert.ok('server' in s.started, s.stderr());
  const { server, policies } = s.started;
  try {
    assert.equal((await decide(server, `ghcr.io/acme/a:latest@${DIGEST}`)).allowed, false);
    assert.equal((await decide(server, `ghcr.io/acme/a:edge@${DIGEST}`)).allowed, true);
    const first = policies.current()!.policySet.version;

    await replaceFile(join(dir, 'p.yaml'), policy('edge'));
    assert.ok(await until(async () => policies.current()!.policySet.version !== first), 'reloaded');
    assert.equal((await decide(server, `ghcr.io/acme/a:edge@${DIGEST}`)).allowed, false);
    assert.equal((await decide(server, `ghcr.io/acme/a:latest@${DIGEST}`)).allowed, true);
    const second = policies.current()!.policySet.version;

    await replaceFile(
      join(dir, 'p.yaml'),
      'apiVersion: portcullis.dev/v1alpha1\nkind: ImagePolicy\nmetadata: {name: tags}\nspec: {images: [{glob: "**"}], rules: [{name: r, tags: {forbid: 3}}]}\n',
    );
    const rejection = () =>
      s
        .stderr()
        .split('\n')
        .filter(Boolean)
        .map((l) => JSON.parse(l) as { msg: string; diagnostics?: string[]; keeping?: string })
        .find((l) => l.msg.startsWith('policy change rejected') && l.keeping === second);
    assert.ok(await until(async () => rejection() !== undefined), s.stderr());
    assert.match(rejection()!.diagnostics!.join('\n'), /p\.yaml:4:\d+: .*tags\.forbid/);
    assert.equal(policies.current()!.policySet.version, second, 'the last good set is still in force');
    assert.equal((await decide(server, `ghcr.io/acme/a:edge@${DIGEST}`)).allowed, false);

    const ready = await https(`${server.url}/readyz`, { ca: ca.caPem });
    assert.equal(ready.json().policySetVersion, second);
  } finally {
    assert.equal(await s.stop(), 0);
  }
});

test('--audit-log writes one JSON line per decision to the file; --no-pin sends no patch', async () => {
  const dir = await policyDir({ 'p.yaml': policy('latest') });
  const auditLog = join(ca.dir, 'audit.log');
  const s = await serve({ policy: [dir], auditLog, pin: false });
  assert.ok('server' in s.started);
  try {
    const review = admissionReview(deployment('d', `ghcr.io/acme/a:v1@${DIGEST}`), { uid: 'audit-1' });
    const r = await https(`${s.started.server.url}/mutate`, { ca: ca.caPem, body: JSON.stringify(review) });
    const response = r.json().response as { allowed: boolean; patch?: string };
    assert.equal(response.allowed, true);
    assert.equal(response.patch, undefined);
  } finally {
    await s.stop();
  }
  const lines = (await readFile(auditLog, 'utf8')).trim().split('\n');
  assert.equal(lines.length, 1);
  const record = JSON.parse(lines[0]!);
  assert.equal(record.uid, 'audit-1');
  assert.equal(record.webhook, 'mutate');
  assert.equal(record.operation, 'CREATE');
  assert.equal(record.kind, 'apps/v1/Deployment');
  assert.equal(record.namespace, 'team-a');
  assert.equal(record.name, 'd');
  assert.equal(record.verdict, 'allow');
  assert.equal(record.images[0].digest, DIGEST);
  assert.deepEqual(
    record.images[0].policies.map((p: { name: string }) => p.name),
    ['tags'],
  );
  assert.match(record.images[0].policies[0].version, /^sha256:[0-9a-f]{64}$/);
  assert.equal(s.stdout(), '', 'nothing on stdout when the audit log goes to a file');
});

test('the real process: listens, answers, logs JSON on stderr, and exits 0 on SIGTERM', async (t) => {
  const { spawn } = await import('node:child_process');
  const dir = await policyDir({ 'p.yaml': policy('latest') });
  const child = spawn(
    process.execPath,
    [
      'bin/portcullis.js',
      'serve',
      '--policy',
      dir,
      '--tls-cert',
      cert.certFile,
      '--tls-key',
      cert.keyFile,
      '--port',
      '0',
      '--host',
      '127.0.0.1',
      '--offline',
    ],
    { stdio: ['ignore', 'pipe', 'pipe'] },
  );
  // Never leave the server behind if an assertion fails.
  t.after(() => {
    if (child.exitCode === null) child.kill('SIGKILL');
  });
  let err = '';
  let out = '';
  child.stdout.on('data', (c: Buffer) => (out += c.toString('utf8')));
  const port = await new Promise<number>((resolve, reject) => {
    child.stderr.on('data', (c: Buffer) => {
      err += c.toString('utf8');
      const m = /"port":(\d+)[^\n]*portcullis webhook listening/.exec(err);
      if (m) resolve(Number(m[1]));
    });
    child.on('exit', (code) => reject(new Error(`exited ${code}: ${err}`)));
  });
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  const r = await https(`https://127.0.0.1:${port}/validate`, {
    ca: ca.caPem,
    body: JSON.stringify(admissionReview(deployment('d', 'ghcr.io/acme/a:latest'), { uid: 'proc-1' })),
  });
  assert.equal((r.json().response as { allowed: boolean }).allowed, false);
  child.kill('SIGTERM');
  assert.equal(await exited, 0);
  const audit = out
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l) as { uid: string; verdict: string });
  assert.deepEqual(
    audit.map((a) => [a.uid, a.verdict]),
    [['proc-1', 'deny']],
  );
  for (const line of err.trim().split('\n')) JSON.parse(line);
});
