/**
 * Admission decisions with the real policy loader and engine, offline (no registry): which requests
 * are checked, the messages people read, and fail-closed behaviour. Over HTTPS and against a real
 * registry in server.test.ts.
 */
import { before, test } from 'node:test';
import assert from 'node:assert/strict';
import { loadPolicyPaths } from '../../src/policy/load.ts';
import { createDecider } from '../../src/app/decide.ts';
import type { PolicySet } from '../../src/policy/model.ts';
import type { Engine } from '../../src/webhook/engine.ts';
import {
  admit,
  AdmissionReviewError,
  parseAdmissionReview,
  skipReason,
} from '../../src/webhook/admission.ts';
import { admissionReview, basicPolicies, deployment, pod, cronJob, policyDir } from './support.ts';

let policySet: PolicySet;
let engine: Engine;
const DIGEST = 'sha256:' + 'a'.repeat(64);

before(async () => {
  const dir = await policyDir(basicPolicies('ghcr.io'));
  const loaded = await loadPolicyPaths([dir]);
  assert.ok(loaded.ok);
  policySet = loaded.policySet;
  engine = { policySet, decider: createDecider(policySet, { offline: true, timeoutMs: 5000 }) };
});

const options = (over: Partial<Parameters<typeof admit>[2]> = {}) => ({
  engine: () => engine,
  deadlineMs: 5000,
  pin: true,
  ...over,
});

async function run(review: Record<string, unknown>, webhook: 'validate' | 'mutate' = 'validate', over = {}) {
  return admit(parseAdmissionReview(review), webhook, options(over));
}

test('allowed: the response echoes the uid, and the audit record names the request and each image', async () => {
  const review = admissionReview(deployment('api', `ghcr.io/acme/api:1@${DIGEST}`), { uid: 'uid-1' });
  const { review: out, audit } = await run(review);
  assert.deepEqual(out, {
    apiVersion: 'admission.k8s.io/v1',
    kind: 'AdmissionReview',
    response: { uid: 'uid-1', allowed: true },
  });
  assert.equal(audit.verdict, 'allow');
  assert.equal(audit.user, 'alice@example.com');
  assert.equal(audit.kind, 'apps/v1/Deployment');
  assert.equal(audit.namespace, 'team-a');
  assert.equal(audit.name, 'api');
  assert.equal(audit.policySetVersion, policySet.version);
  assert.deepEqual(
    audit.images.map((i) => [
      i.path,
      i.digest,
      i.verdict,
      i.policies.map((p) => `${p.name}@${p.version.slice(0, 7)}`),
    ]),
    [['spec.template.spec.containers[0].image', DIGEST, 'allow', [`local@sha256:`]]],
  );
});

test('denied: 403, one line per image naming path, image, policy, rule and reason', async () => {
  const review = admissionReview(
    deployment('api', 'ghcr.io/acme/api:latest', `ghcr.io/acme/ok:1@${DIGEST}`, 'docker.io/library/nginx:1'),
  );
  const { review: out, audit } = await run(review);
  assert.equal(out.response.allowed, false);
  assert.equal(out.response.status?.code, 403);
  assert.equal(out.response.status?.reason, 'Forbidden');
  assert.equal(
    out.response.status?.message,
    [
      'spec.template.spec.containers[0].image ghcr.io/acme/api:latest: denied by policy local, rule known-bad: digest unknown: the reference has no digest and --offline prevents resolving the tag; denied by policy local, rule no-latest: tag "latest" is forbidden (matches "latest")',
      'spec.template.spec.containers[2].image docker.io/library/nginx:1: denied: no policy applies to docker.io/library/nginx:1 (noMatch: deny)',
    ].join('\n'),
  );
  assert.equal(audit.verdict, 'deny');
  assert.deepEqual(
    audit.images.map((i) => i.verdict),
    ['deny', 'allow', 'deny'],
  );
});

test('warn: allowed with warnings; audit: allowed, the failure only in the audit record', async () => {
  const warned = await run(admissionReview(deployment('s', 'ghcr.io/staging/api:main')));
  assert.equal(warned.review.response.allowed, true);
  assert.deepEqual(warned.review.response.warnings, [
    'spec.template.spec.containers[0].image ghcr.io/staging/api:main: policy staging, rule release-tags: tag "main" is not in the allowed list [v*]',
  ]);
  assert.equal(warned.audit.verdict, 'warn');

  const audited = await run(admissionReview(deployment('o', 'ghcr.io/observed/api:1')));
  assert.deepEqual(audited.review.response, { uid: audited.review.response.uid, allowed: true });
  assert.equal(audited.audit.verdict, 'allow');
  assert.match(audited.audit.images[0]!.reasons.join(), /policy observed \(audit\), rule pinned: /);
});

test('CronJob paths, init containers and image volumes', async () => {
  const { review: out } = await run(admissionReview(cronJob('nightly', 'ghcr.io/acme/job:latest')));
  assert.match(
    out.response.status!.message,
    /^spec\.jobTemplate\.spec\.template\.spec\.containers\[0\]\.image ghcr\.io\/acme\/job:latest: denied by policy local, rule known-bad: .*; denied by policy local, rule no-latest: /,
  );

  const p = pod('p', `ghcr.io/acme/ok:1@${DIGEST}`) as { spec: Record<string, unknown> };
  p.spec.initContainers = [{ name: 'i', image: 'ghcr.io/acme/init:latest' }];
  p.spec.volumes = [{ name: 'm', image: { reference: 'quay.io/models/x:1' } }];
  const { review: r2 } = await run(admissionReview(p));
  const lines = r2.response.status!.message.split('\n');
  assert.equal(lines.length, 2);
  assert.match(
    lines[0]!,
    /^spec\.initContainers\[0\]\.image ghcr\.io\/acme\/init:latest: denied by policy local, rule known-bad: .*, rule no-latest: /,
  );
  assert.match(
    lines[1]!,
    /^spec\.volumes\[0\]\.image\.reference quay\.io\/models\/x:1: denied: no policy applies/,
  );
});

test('the pods/ephemeralcontainers subresource is checked (CVE-2023-2727)', async () => {
  const running = pod('p', `ghcr.io/acme/ok:1@${DIGEST}`);
  const debugged = structuredClone(running) as { spec: Record<string, unknown> };
  debugged.spec.ephemeralContainers = [{ name: 'debugger', image: 'evil.example/shell:1' }];
  const review = admissionReview(debugged, {
    operation: 'UPDATE',
    oldObject: running,
    subResource: 'ephemeralcontainers',
  });
  const { review: out } = await run(review);
  assert.equal(out.response.allowed, false);
  assert.match(
    out.response.status!.message,
    /^spec\.ephemeralContainers\[0\]\.image evil\.example\/shell:1: denied: no policy applies/,
  );
});

test('skipped: DELETE, status and scale subresources, updates and scale-downs that keep the images', () => {
  const d = deployment('api', 'ghcr.io/acme/api:latest');
  const req = (r: Record<string, unknown>) => parseAdmissionReview(r).request;
  assert.equal(
    skipReason(req(admissionReview(d, { operation: 'DELETE', oldObject: d }))),
    'DELETE requests are not checked',
  );
  assert.equal(
    skipReason(req(admissionReview(d, { operation: 'UPDATE', oldObject: d, subResource: 'status' }))),
    'the status subresource cannot change images',
  );
  assert.equal(
    skipReason(req(admissionReview(d, { operation: 'UPDATE', oldObject: d, subResource: 'scale' }))),
    'the scale subresource cannot change images',
  );
  const relabelled = structuredClone(d) as {
    metadata: { labels: Record<string, string> };
    spec: { replicas: number };
  };
  relabelled.metadata.labels.tier = 'web';
  assert.equal(
    skipReason(req(admissionReview(relabelled, { operation: 'UPDATE', oldObject: d }))),
    'an update that does not change images',
  );
  const scaledDown = structuredClone(d) as { spec: { replicas: number } };
  const scaledUp = structuredClone(d) as { spec: { replicas: number } };
  (d as { spec: { replicas: number } }).spec.replicas = 3;
  scaledDown.spec.replicas = 1;
  scaledUp.spec.replicas = 5;
  assert.equal(
    skipReason(req(admissionReview(scaledDown, { operation: 'UPDATE', oldObject: d }))),
    'a scale-down that does not change images',
  );
  assert.equal(
    skipReason(req(admissionReview(scaledUp, { operation: 'UPDATE', oldObject: d }))),
    'an update that does not change images',
  );
});

test('never skipped: a changed image (even with a scale-down), a CREATE, a forged annotation, a deleting object', async () => {
  const before = deployment('api', `ghcr.io/acme/api:1@${DIGEST}`) as { spec: { replicas: number } };
  before.spec.replicas = 3;
  const after = deployment('api', 'ghcr.io/acme/api:latest') as {
    spec: { replicas: number };
    metadata: Record<string, unknown>;
  };
  after.spec.replicas = 1;
  const req = (r: Record<string, unknown>) => parseAdmissionReview(r).request;
  assert.equal(
    skipReason(req(admissionReview(after, { operation: 'UPDATE', oldObject: before }))),
    undefined,
  );

  // A client can write any annotation; none of them is evidence (Kyverno #16336).
  after.metadata.annotations = {
    'portcullis.dev/verified': 'true',
    'kyverno.io/verify-images': '{"ghcr.io/acme/api:latest":"pass"}',
  };
  after.metadata.deletionTimestamp = '2026-11-27T10:00:00Z';
  const { review: out } = await run(admissionReview(after));
  assert.equal(out.response.allowed, false);
  assert.match(out.response.status!.message, /rule no-latest/);
});

test('fail closed: an unreadable object, no policies, an internal error, the deadline', async () => {
  const broken = {
    kind: 'Pod',
    apiVersion: 'v1',
    metadata: { name: 'b' },
    spec: { containers: [{ name: 'c', image: 42 }] },
  };
  const r1 = await run(admissionReview(broken));
  assert.equal(r1.review.response.allowed, false);
  assert.equal(
    r1.review.response.status!.message,
    'portcullis cannot check Pod b: spec.containers[0].image must be a string, got a number',
  );

  const r2 = await run(admissionReview(pod('p', 'ghcr.io/acme/x:1')), 'validate', {
    engine: () => undefined,
  });
  assert.equal(r2.review.response.allowed, false);
  assert.match(r2.review.response.status!.message, /no policies loaded/);

  const throwing: Engine = { policySet, decider: { decide: () => Promise.reject(new Error('boom')) } };
  const r3 = await run(admissionReview(pod('p', 'ghcr.io/acme/x:1')), 'mutate', { engine: () => throwing });
  assert.equal(r3.review.response.allowed, false);
  assert.equal(r3.review.response.patch, undefined);
  assert.equal(
    r3.review.response.status!.message,
    'spec.containers[0].image ghcr.io/acme/x:1: not verified, so denied: internal error: boom',
  );

  const never: Engine = { policySet, decider: { decide: () => new Promise(() => {}) } };
  const r4 = await run(admissionReview(pod('p', 'ghcr.io/acme/x:1')), 'validate', {
    engine: () => never,
    deadlineMs: 50,
  });
  assert.equal(r4.review.response.allowed, false);
  assert.equal(r4.review.response.status!.code, 403);
  assert.equal(
    r4.review.response.status!.message,
    "spec.containers[0].image ghcr.io/acme/x:1: not verified, so denied: not verified within the webhook's internal deadline of 0.1s (registry slow or unreachable?)",
  );
  assert.deepEqual(
    r4.audit.images.map((i) => i.verdict),
    ['error'],
  );
});

test('registry-controlled text cannot put control characters in front of a terminal', async () => {
  const sneaky: Engine = {
    policySet,
    decider: { decide: () => Promise.reject(new Error('bad\u001b[31m\nred')) },
  };
  const { review: out } = await run(admissionReview(pod('p', 'ghcr.io/acme/x:1')), 'validate', {
    engine: () => sneaky,
  });
  assert.equal(
    out.response.status!.message,
    'spec.containers[0].image ghcr.io/acme/x:1: not verified, so denied: internal error: bad [31m red',
  );
});

test('malformed AdmissionReviews are refused with a clear error', () => {
  const cases: [unknown, RegExp][] = [
    [[], /must be a JSON object/],
    [{ apiVersion: 'admission.k8s.io/v1', kind: 'Pod' }, /kind must be "AdmissionReview", got "Pod"/],
    [
      { apiVersion: 'admission.k8s.io/v1beta1', kind: 'AdmissionReview', request: {} },
      /apiVersion must be "admission.k8s.io\/v1", got "admission.k8s.io\/v1beta1" \(set admissionReviewVersions: \["v1"\]/,
    ],
    [{ apiVersion: 'admission.k8s.io/v1', kind: 'AdmissionReview' }, /request is missing/],
    [
      { apiVersion: 'admission.k8s.io/v1', kind: 'AdmissionReview', request: { operation: 'CREATE' } },
      /request\.uid is missing/,
    ],
    [
      {
        apiVersion: 'admission.k8s.io/v1',
        kind: 'AdmissionReview',
        request: { uid: 'u', operation: 'PATCH' },
      },
      /request\.operation must be one of CREATE, UPDATE, DELETE, CONNECT, got "PATCH"/,
    ],
    [
      {
        apiVersion: 'admission.k8s.io/v1',
        kind: 'AdmissionReview',
        request: { uid: 'u', operation: 'CREATE', kind: 'Pod' },
      },
      /request\.kind must be an object/,
    ],
  ];
  for (const [body, message] of cases) {
    assert.throws(
      () => parseAdmissionReview(body),
      (e: unknown) => e instanceof AdmissionReviewError && message.test(e.message),
      String(message),
    );
  }
});

test('an object serialized without kind is read as the kind the API server names', async () => {
  const p = pod('p', 'ghcr.io/acme/x:latest') as Record<string, unknown>;
  const review = admissionReview(p);
  delete (review.request as { object: Record<string, unknown> }).object.kind;
  const { review: out } = await run(review);
  assert.equal(out.response.allowed, false);
  assert.match(
    out.response.status!.message,
    /^spec\.containers\[0\]\.image ghcr\.io\/acme\/x:latest: denied by policy local/,
  );
});

test('namespace labels are asked while the pull secrets are read, not after; both shape the decision', async () => {
  const dir = await policyDir({
    ...basicPolicies('ghcr.io'),
    'prod.yaml': `apiVersion: portcullis.dev/v1alpha1
kind: ImagePolicy
metadata: {name: prod}
spec:
  images: [{glob: "ghcr.io/acme/**"}]
  match: {namespaceSelector: {matchLabels: {env: prod}}}
  rules:
    - name: by-digest
      tags: {requireDigest: true}
`,
  });
  const loaded = await loadPolicyPaths([dir]);
  assert.ok(loaded.ok);
  const set = loaded.policySet;
  const selecting: Engine = {
    policySet: set,
    decider: createDecider(set, { offline: true, timeoutMs: 5000 }),
  };
  // While the pull secrets are being read, the labels have been asked for already.
  let labelsAsked = false;
  let askedDuringCredentials: boolean | undefined;
  const { review: out } = await run(admissionReview(pod('web', 'ghcr.io/acme/api:1')), 'validate', {
    engine: () => selecting,
    namespaceLabels: async (namespace: string) => {
      labelsAsked = true;
      return namespace === 'team-a' ? { env: 'prod' } : {};
    },
    credentials: async () => {
      await new Promise((resolve) => setImmediate(resolve));
      askedDuringCredentials = labelsAsked;
      return { used: [], notes: [] };
    },
  });
  assert.equal(askedDuringCredentials, true);
  assert.equal(out.response.allowed, false);
  assert.match(out.response.status!.message, /denied by policy prod, rule by-digest: /);
});

test('the deadline denial names the deadline as configured, though reading the pull secrets spent part of it', async () => {
  const never: Engine = { policySet, decider: { decide: () => new Promise(() => {}) } };
  const { review: out } = await run(admissionReview(pod('p', 'ghcr.io/acme/x:1')), 'validate', {
    engine: () => never,
    deadlineMs: 200,
    credentials: async () => {
      await new Promise((resolve) => setTimeout(resolve, 120));
      return { used: [], notes: [] };
    },
  });
  assert.equal(out.response.allowed, false);
  assert.equal(
    out.response.status!.message,
    "spec.containers[0].image ghcr.io/acme/x:1: not verified, so denied: not verified within the webhook's internal deadline of 0.2s (registry slow or unreachable?)",
  );
});

test('the namespace is the one the API server names, never the object metadata a client wrote', async () => {
  const dir = await policyDir({
    ...basicPolicies('ghcr.io'),
    'prod.yaml': `apiVersion: portcullis.dev/v1alpha1
kind: ImagePolicy
metadata: {name: prod}
spec:
  images: [{glob: "ghcr.io/acme/**"}]
  match: {namespaces: [prod]}
  rules:
    - name: by-digest
      tags: {requireDigest: true}
`,
  });
  const loaded = await loadPolicyPaths([dir]);
  assert.ok(loaded.ok);
  const set = loaded.policySet;
  const scopedTo: (string | undefined)[] = [];
  const strict: Engine = {
    policySet: set,
    decider: createDecider(set, { offline: true, timeoutMs: 5000 }),
    scoped: ({ namespace }) => {
      scopedTo.push(namespace);
      return strict;
    },
  };
  const object = pod('web', 'ghcr.io/acme/api:1') as { metadata: Record<string, unknown> };
  object.metadata.namespace = 'dev';
  const review = admissionReview(object) as { request: Record<string, unknown> };
  delete review.request.namespace;
  const { review: out } = await run(review, 'validate', { engine: () => strict });
  // The namespace is unknown, so `namespaces: [prod]` cannot be escaped by writing another one.
  assert.equal(out.response.allowed, false);
  assert.match(out.response.status!.message, /denied by policy prod, rule by-digest: /);
  assert.deepEqual(scopedTo, [undefined], 'no NamespacedImagePolicy of the namespace a client wrote');
});

test('an audit-mode failure admits, and is kept in the audit record naming policy and rule', async () => {
  const { review: out, audit } = await run(admissionReview(pod('p', 'ghcr.io/observed/x:1')));
  assert.equal(out.response.allowed, true);
  assert.equal(out.response.status, undefined);
  assert.equal(audit.images.length, 1);
  assert.ok(
    audit.images[0]!.reasons.some((r) => /^policy observed \(audit\), rule pinned: .+/.test(r)),
    JSON.stringify(audit.images[0]!.reasons),
  );
});
