/**
 * `portcullis serve` end to end over real HTTPS (a CA and certificate made with openssl), against the
 * Debian docker-registry on loopback behind the fault proxy: AdmissionReviews around objects kubectl
 * writes, pinning patches carrying the real digest, denials, warnings, ImageReview, and the failures
 * (registry down or stalled, bad bodies) each answered with a denial or a clear HTTP error.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { PassThrough } from 'node:stream';
import { copyFileSync } from 'node:fs';
import { startRegistry, freePort } from '../harness/registry.ts';
import { buildImage, pushBuilt } from '../harness/images.ts';
import { startFaultProxy } from '../harness/fault-proxy.ts';
import { runServe } from '../../src/cli/commands/serve.ts';
import type { WebhookServer } from '../../src/webhook/server.ts';
import { admissionReview, basicPolicies, cronJob, deployment, pod, policyDir } from './support.ts';
import { makeCa, https, type TestCa } from './tls.ts';

let registry: Awaited<ReturnType<typeof startRegistry>>;
let proxy: Awaited<ReturnType<typeof startFaultProxy>>;
let ca: TestCa;
let server: WebhookServer;
let tlsFiles: { certFile: string; keyFile: string };
let stopServer: AbortController;
let served: Promise<number>;
const auditLines: string[] = [];
let logText = '';
let deadPort: number;
const api = buildImage({ seed: 'webhook-api' });
const banned = buildImage({ seed: 'webhook-banned' });
const moved = buildImage({ seed: 'webhook-moved-to' });

before(async () => {
  registry = await startRegistry();
  proxy = await startFaultProxy(registry.url);
  await pushBuilt(registry.host, 'acme/api', api, 'v1');
  await pushBuilt(registry.host, 'acme/banned', banned, 'v1');
  await pushBuilt(registry.host, 'staging/api', api, 'main');
  await pushBuilt(registry.host, 'pinned/api', api, 'v1');
  await pushBuilt(registry.host, 'acme/moving', api, 'v1');
  await pushBuilt(registry.host, 'acme/moving', moved, 'other');
  deadPort = await freePort();
  const dir = await policyDir(basicPolicies('127.0.0.1:*', banned.digest));
  ca = makeCa();
  const issued = ca.issue('webhook-1');
  // Served from fixed paths that the rotation test overwrites.
  tlsFiles = { certFile: `${ca.dir}/serving.pem`, keyFile: `${ca.dir}/serving.key` };
  copyFileSync(issued.certFile, tlsFiles.certFile);
  copyFileSync(issued.keyFile, tlsFiles.keyFile);

  const stdout = new PassThrough();
  const stderr = new PassThrough();
  stdout.on('data', (c: Buffer) => auditLines.push(...c.toString('utf8').split('\n').filter(Boolean)));
  stderr.on('data', (c: Buffer) => (logText += c.toString('utf8')));
  stopServer = new AbortController();
  const listening = new Promise<WebhookServer>((resolve) => {
    served = runServe(
      {
        policy: [dir],
        tlsCert: tlsFiles.certFile,
        tlsKey: tlsFiles.keyFile,
        port: '0',
        host: '127.0.0.1',
        pin: true,
        deadline: '3',
        logLevel: 'info',
        timeout: '30',
        insecureRegistry: [proxy.host, registry.host, `127.0.0.1:${deadPort}`],
      },
      { stdout, stderr, readStdin: async () => '' },
      {
        signal: stopServer.signal,
        onListening: (s) => resolve(s),
        watchOptions: { debounceMs: 50, pollMs: 200 },
      },
    );
    served.then(
      (code) => code !== 0 && console.error(`serve exited early with ${code}: ${logText}`),
      (error: unknown) => console.error('serve failed', error),
    );
  });
  server = await listening;
});

after(async () => {
  stopServer?.abort();
  await served;
  await proxy?.stop();
  await registry?.stop();
});

const post = (path: string, body: unknown, contentType?: string | null) =>
  https(`${server.url}${path}`, {
    ca: ca.caPem,
    body: typeof body === 'string' ? body : JSON.stringify(body),
    ...(contentType !== undefined ? { contentType } : {}),
  });

const response = (r: { json(): Record<string, unknown> }) =>
  r.json().response as {
    uid: string;
    allowed: boolean;
    status?: { code: number; message: string };
    warnings?: string[];
    patchType?: string;
    patch?: string;
  };

const patchOf = (r: { patch?: string }) =>
  r.patch ? JSON.parse(Buffer.from(r.patch, 'base64').toString('utf8')) : undefined;

const auditFor = (uid: string, webhook = 'mutate') =>
  auditLines
    .map((l) => JSON.parse(l) as Record<string, unknown>)
    .find((a) => a.uid === uid && a.webhook === webhook);

test('mutate: an allowed Deployment is pinned to the digest verified in this request, tag kept', async () => {
  const image = `${proxy.host}/acme/api:v1`;
  const review = admissionReview(deployment('api', image), { uid: 'pin-1' });
  const r = await post('/mutate', review);
  assert.equal(r.status, 200);
  assert.equal(r.tlsVersion === 'TLSv1.3' || r.tlsVersion === 'TLSv1.2', true);
  const out = response(r);
  assert.equal(out.uid, 'pin-1');
  assert.equal(out.allowed, true);
  assert.equal(out.patchType, 'JSONPatch');
  assert.deepEqual(patchOf(out), [
    {
      op: 'replace',
      path: '/spec/template/spec/containers/0/image',
      value: `${proxy.host}/acme/api:v1@${api.digest}`,
    },
  ]);
  const audit = auditFor('pin-1')!;
  assert.equal(audit.source, 'admission', 'one record format with portcullis audit, told apart by source');
  assert.equal(audit.verdict, 'allow');
  assert.equal(audit.user, 'alice@example.com');
  assert.deepEqual(
    (audit.images as { digest: string }[]).map((i) => i.digest),
    [api.digest],
  );

  // /validate decides the same and never patches.
  const v = response(await post('/validate', admissionReview(deployment('api', image))));
  assert.equal(v.allowed, true);
  assert.equal(v.patch, undefined);
});

test('mutate with a digest reference: nothing to pin', async () => {
  const out = response(
    await post('/mutate', admissionReview(deployment('api', `${proxy.host}/acme/api@${api.digest}`))),
  );
  assert.equal(out.allowed, true);
  assert.equal(out.patch, undefined);
});

test('mutate judges what it pins: a requireDigest policy admits the pinned tag; validate sees the pin', async () => {
  const image = `${registry.host}/pinned/api:v1`;
  const mutated = response(await post('/mutate', admissionReview(deployment('p', image))));
  assert.equal(mutated.allowed, true, mutated.status?.message);
  const [op] = patchOf(mutated);
  assert.equal(op.value, `${image}@${api.digest}`);

  const asWritten = response(await post('/validate', admissionReview(deployment('p', image))));
  assert.equal(asWritten.allowed, false);
  assert.match(asWritten.status!.message, /denied by policy pinned, rule by-digest: reference has no digest/);
  const afterPatch = response(await post('/validate', admissionReview(deployment('p', op.value))));
  assert.equal(afterPatch.allowed, true);

  // --no-pin style: nothing pinned means judged as written.
  assert.equal(
    response(await post('/mutate', admissionReview(deployment('p', `${registry.host}/pinned/api:missing`))))
      .allowed,
    false,
  );
});

test('CronJob: the patch points into the job template', async () => {
  const out = response(
    await post('/mutate', admissionReview(cronJob('nightly', `${registry.host}/acme/api:v1`))),
  );
  assert.equal(out.allowed, true);
  assert.deepEqual(patchOf(out), [
    {
      op: 'replace',
      path: '/spec/jobTemplate/spec/template/spec/containers/0/image',
      value: `${registry.host}/acme/api:v1@${api.digest}`,
    },
  ]);
});

test('denied: 403 with the container path, image, policy, rule and reason; no patch', async () => {
  const image = `${registry.host}/acme/banned:v1`;
  for (const route of ['/validate', '/mutate']) {
    const out = response(await post(route, admissionReview(deployment('bad', image))));
    assert.equal(out.allowed, false);
    assert.equal(out.patch, undefined);
    assert.equal(out.status?.code, 403);
    assert.equal(
      out.status?.message,
      `spec.template.spec.containers[0].image ${image}: denied by policy local, rule known-bad: digest ${banned.digest} is denied`,
    );
  }
});

test('warn: allowed with warnings (and still pinned)', async () => {
  const image = `${registry.host}/staging/api:main`;
  const out = response(await post('/mutate', admissionReview(deployment('stg', image))));
  assert.equal(out.allowed, true);
  assert.deepEqual(out.warnings, [
    `spec.template.spec.containers[0].image ${image}: policy staging, rule release-tags: tag "main" is not in the allowed list [v*]`,
  ]);
  assert.equal(patchOf(out)[0].value, `${image}@${api.digest}`);
});

test('ephemeral containers: checked, and only the ephemeral container is pinned', async () => {
  const running = pod('web', `${registry.host}/acme/api@${api.digest}`) as { spec: Record<string, unknown> };
  const debugged = structuredClone(running);
  debugged.spec.ephemeralContainers = [{ name: 'debugger', image: `${registry.host}/acme/banned:v1` }];
  const denied = response(
    await post(
      '/validate',
      admissionReview(debugged, {
        operation: 'UPDATE',
        oldObject: running,
        subResource: 'ephemeralcontainers',
      }),
    ),
  );
  assert.equal(denied.allowed, false);
  assert.match(
    denied.status!.message,
    /^spec\.ephemeralContainers\[0\]\.image .*acme\/banned:v1: denied by policy local, rule known-bad/,
  );

  debugged.spec.ephemeralContainers = [{ name: 'debugger', image: `${registry.host}/acme/api:v1` }];
  const allowed = response(
    await post(
      '/mutate',
      admissionReview(debugged, {
        operation: 'UPDATE',
        oldObject: running,
        subResource: 'ephemeralcontainers',
      }),
    ),
  );
  assert.equal(allowed.allowed, true);
  assert.deepEqual(patchOf(allowed), [
    {
      op: 'replace',
      path: '/spec/ephemeralContainers/0/image',
      value: `${registry.host}/acme/api:v1@${api.digest}`,
    },
  ]);
});

test('ImageReview: allowed with audit annotations; denied with the reason', async () => {
  const ok = await post('/imagereview', {
    apiVersion: 'imagepolicy.k8s.io/v1alpha1',
    kind: 'ImageReview',
    spec: { containers: [{ image: `${registry.host}/acme/api:v1` }], annotations: {}, namespace: 'team-a' },
  });
  assert.equal(ok.status, 200);
  const okStatus = ok.json().status as { allowed: boolean; auditAnnotations: Record<string, string> };
  assert.equal(okStatus.allowed, true);
  assert.equal(okStatus.auditAnnotations['portcullis-verdict'], 'allow');

  const bad = await post('/imagereview', {
    apiVersion: 'imagepolicy.k8s.io/v1alpha1',
    kind: 'ImageReview',
    // A break-glass annotation is the Pod author's word: recorded, never trusted.
    spec: {
      containers: [{ image: `${registry.host}/acme/api:v1` }, { image: `${registry.host}/acme/banned:v1` }],
      annotations: { 'break-glass.image-policy.k8s.io/ticket': '1' },
    },
  });
  const badStatus = bad.json().status as { allowed: boolean; reason: string };
  assert.equal(badStatus.allowed, false);
  assert.equal(
    badStatus.reason,
    `containers[1].image ${registry.host}/acme/banned:v1: denied by policy local, rule known-bad: digest ${banned.digest} is denied`,
  );

  // Even a broken body is a denial there, never an HTTP error the plugin's defaultAllow could admit.
  for (const [body, type] of [
    ['{', 'application/json'],
    ['x', 'text/plain'],
    [JSON.stringify({ kind: 'ImageReview' }), 'application/json'],
  ] as const) {
    const r = await post('/imagereview', body, type);
    assert.equal(r.status, 200);
    assert.equal((r.json().status as { allowed: boolean }).allowed, false);
    assert.match(
      (r.json().status as { reason: string }).reason,
      /^portcullis could not read the ImageReview: /,
    );
  }
});

test('registry down: denied with what failed', async () => {
  const image = `127.0.0.1:${deadPort}/acme/api:v1`;
  const out = response(await post('/validate', admissionReview(deployment('down', image))));
  assert.equal(out.allowed, false);
  assert.match(
    out.status!.message,
    new RegExp(
      `^spec\\.template\\.spec\\.containers\\[0\\]\\.image ${image}: denied by policy local, rule known-bad: digest unknown: could not resolve .*(refused|ECONNREFUSED)`,
    ),
  );
});

test('registry stalled past the deadline: denied, saying it was not verified in time', async () => {
  proxy.setFaults([{ path: /\/manifests\//, fault: 'stall' }]);
  try {
    const out = response(
      await post(
        '/mutate',
        // A tag no earlier test asked for: the server's verdict and tag caches cannot answer for it.
        admissionReview(deployment('slow', `${proxy.host}/acme/api:stalled`), { uid: 'slow-1' }),
      ),
    );
    assert.equal(out.allowed, false);
    assert.equal(out.patch, undefined);
    // Whichever fires first, the request deadline or the decision's own (the same 3 s), says so.
    assert.match(
      out.status!.message,
      /not verified within the webhook's internal deadline of 3s|could not resolve .*(abort|time)/i,
    );
  } finally {
    proxy.setFaults([]);
  }
});

test('TOCTOU: the pinned digest is the verified one even when the tag moves during the request', async () => {
  // The tag answers with the real manifest once, then points elsewhere: a second lookup would see `moved`.
  proxy.setFaults([
    {
      path: /^\/v2\/acme\/moving\/manifests\/v1$/,
      skip: 1,
      fault: 'header',
      headers: { 'docker-content-digest': moved.digest },
    },
  ]);
  proxy.clearRequests();
  try {
    const out = response(
      await post(
        '/mutate',
        admissionReview(deployment('m', `${proxy.host}/acme/moving:v1`), { uid: 'toctou-1' }),
      ),
    );
    assert.equal(out.allowed, true);
    assert.deepEqual(patchOf(out), [
      {
        op: 'replace',
        path: '/spec/template/spec/containers/0/image',
        value: `${proxy.host}/acme/moving:v1@${api.digest}`,
      },
    ]);
    const tagLookups = proxy.requests.filter((q) => q.path === '/v2/acme/moving/manifests/v1');
    assert.equal(
      tagLookups.length,
      1,
      'the tag is resolved once per request; the patch never re-resolves it',
    );
    assert.deepEqual(
      (auditFor('toctou-1')!.images as { digest: string }[]).map((i) => i.digest),
      [api.digest],
    );
  } finally {
    proxy.setFaults([]);
  }
});

test('digest substitution: a registry answering another digest for a digest reference is never believed', async () => {
  const image = `${proxy.host}/acme/api@${api.digest}`;
  const path = new RegExp(`^/v2/acme/api/manifests/${api.digest}$`);
  for (const fault of [
    { path, fault: 'header' as const, headers: { 'docker-content-digest': banned.digest } },
    { method: 'GET', path, fault: 'replaceBody' as const, body: Buffer.from(banned.bytes) },
  ]) {
    proxy.setFaults([fault]);
    try {
      const uid = `subst-${fault.fault}`;
      const out = response(await post('/mutate', admissionReview(deployment('sub', image), { uid })));
      // Judged as the digest written (which the kubelet will pull and check), never as the banned one.
      assert.equal(out.allowed, true, out.status?.message);
      assert.equal(out.patch, undefined);
      assert.deepEqual(
        (auditFor(uid)!.images as { digest: string }[]).map((i) => i.digest),
        [api.digest],
      );
    } finally {
      proxy.setFaults([]);
    }
  }
});

test('bad requests: malformed JSON 400, not an AdmissionReview 400, wrong content type 415, huge body 413', async () => {
  const bad = await post('/validate', '{"apiVersion":');
  assert.equal(bad.status, 400);
  assert.match(bad.json().message as string, /^the request body is not valid JSON: /);

  const wrong = await post('/validate', {
    apiVersion: 'admission.k8s.io/v1beta1',
    kind: 'AdmissionReview',
    request: { uid: 'x' },
  });
  assert.equal(wrong.status, 400);
  assert.match(
    wrong.json().message as string,
    /^not a usable AdmissionReview: apiVersion must be "admission.k8s.io\/v1"/,
  );

  const text = await post('/validate', JSON.stringify(admissionReview(pod('p', 'x:1'))), 'text/plain');
  assert.equal(text.status, 415);
  assert.equal(text.json().message, 'the request body must be JSON (Content-Type: application/json)');
  const none = await post('/validate', JSON.stringify(admissionReview(pod('p', 'x:1'))), null);
  assert.equal(none.status, 415);

  const huge = await post('/validate', JSON.stringify({ padding: 'x'.repeat(7 * 1024 * 1024) }));
  assert.equal(huge.status, 413);
  assert.match(huge.json().message as string, /^the request body is larger than the \d+ bytes accepted$/);

  const charset = await post(
    '/validate',
    JSON.stringify(admissionReview(pod('p', `${registry.host}/acme/api@${api.digest}`))),
    'application/json; charset=utf-8',
  );
  assert.equal(charset.status, 200);
});

test('health, readiness and metrics', async () => {
  const health = await https(`${server.url}/healthz`, { ca: ca.caPem });
  assert.equal(health.status, 200);
  const ready = await https(`${server.url}/readyz`, { ca: ca.caPem });
  assert.equal(ready.status, 200);
  assert.equal(ready.json().status, 'ready');
  const metrics = await https(`${server.url}/metrics`, { ca: ca.caPem });
  assert.equal(metrics.status, 200);
  assert.match(metrics.text, /portcullis_webhook_requests_total\{route="\/validate",code="200"\} \d+/);
  assert.match(metrics.text, /portcullis_webhook_requests_total\{route="\/validate",code="413"\} 1/);
  assert.match(
    metrics.text,
    /portcullis_webhook_policy_decisions_total\{policy="local",mode="enforce",verdict="fail"\} \d+/,
  );
  assert.match(
    metrics.text,
    /portcullis_webhook_request_duration_seconds_bucket\{le="0.1",route="\/mutate"\} \d+/,
  );
  assert.match(metrics.text, /portcullis_policies_loaded 4/);
});

test('TLS: 1.1 is refused; a renewed certificate on disk is served to new connections', async () => {
  await assert.rejects(
    https(`${server.url}/healthz`, { ca: ca.caPem, maxVersion: 'TLSv1.1', minVersion: 'TLSv1' }),
  );
  const before = await https(`${server.url}/healthz`, { ca: ca.caPem });
  assert.equal(before.peer, 'webhook-1');

  const renewed = ca.issue('webhook-2');
  copyFileSync(renewed.keyFile, tlsFiles.keyFile);
  copyFileSync(renewed.certFile, tlsFiles.certFile);
  let peer = before.peer;
  for (let i = 0; i < 100 && peer !== 'webhook-2'; i++) {
    await new Promise((r) => setTimeout(r, 50));
    peer = (await https(`${server.url}/healthz`, { ca: ca.caPem })).peer;
  }
  assert.equal(peer, 'webhook-2');

  // A broken update is rejected; the last good certificate keeps serving.
  assert.equal(await server.reloadTls(), true);
  const { writeFileSync } = await import('node:fs');
  writeFileSync(tlsFiles.certFile, 'not a certificate');
  assert.equal(await server.reloadTls(), false);
  assert.equal((await https(`${server.url}/healthz`, { ca: ca.caPem })).peer, 'webhook-2');
  assert.match(logText, /TLS certificate change rejected/);
});

test('metrics count registry exchanges by host and status', async () => {
  const r = await https(`${server.url}/metrics`, { ca: ca.caPem });
  const lines = r.text.split('\n').filter((l) => l.startsWith('portcullis_registry_requests_total{'));
  assert.ok(
    lines.some((l) => l.includes(`host="${proxy.host}"`) && l.includes('status="200"')),
    lines.join('\n'),
  );
  assert.ok(
    lines.some((l) => l.includes('status="error"') || l.includes('status="404"')),
    lines.join('\n'),
  );
});
