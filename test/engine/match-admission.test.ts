/**
 * `spec.match` at admission: the AdmissionReview's kind, namespace and object labels (and the namespace's
 * labels, when a policy selects on them) decide which policies apply. Real loader, engine and admit().
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { loadPolicyPaths } from '../../src/policy/load.ts';
import { createDecider } from '../../src/app/decide.ts';
import type { Engine } from '../../src/webhook/engine.ts';
import { admit, parseAdmissionReview } from '../../src/webhook/admission.ts';
import type { AdmissionOptions } from '../../src/webhook/admission.ts';
import { admissionReview, deployment, pod, policyDir } from '../webhook/support.ts';

const SET = `apiVersion: portcullis.dev/v1alpha1
kind: PolicySet
metadata: {name: default}
spec: {noMatch: allow}
`;
const restricted = (name: string, match: string) => `apiVersion: portcullis.dev/v1alpha1
kind: ImagePolicy
metadata: {name: ${name}}
spec:
  match: ${match}
  images: [{glob: "ghcr.io/acme/**"}]
  rules: [{name: no-latest, tags: {forbid: [latest]}}]
`;

async function engineFor(docs: Record<string, string>): Promise<Engine> {
  const loaded = await loadPolicyPaths([await policyDir({ 'set.yaml': SET, ...docs })]);
  assert.ok(loaded.ok, JSON.stringify(!loaded.ok && loaded.diagnostics));
  const policySet = loaded.policySet;
  return { policySet, decider: createDecider(policySet, { offline: true, timeoutMs: 5000 }) };
}

async function run(engine: Engine, review: Record<string, unknown>, over: Partial<AdmissionOptions> = {}) {
  const { review: out } = await admit(parseAdmissionReview(review), 'validate', {
    engine: () => engine,
    deadlineMs: 2000,
    pin: false,
    ...over,
  });
  return out.response;
}

const LATEST = 'ghcr.io/acme/api:latest';

test('a policy for namespace prod does not apply to a Pod in dev, and denies the same Pod in prod', async () => {
  const engine = await engineFor({ 'prod.yaml': restricted('prod-only', '{namespaces: [prod]}') });
  const inDev = await run(engine, admissionReview(pod('api', LATEST), { namespace: 'dev' }));
  assert.equal(inDev.allowed, true);
  const inProd = await run(engine, admissionReview(pod('api', LATEST), { namespace: 'prod' }));
  assert.equal(inProd.allowed, false);
  assert.equal(
    inProd.status?.message,
    'spec.containers[0].image ghcr.io/acme/api:latest: denied by policy prod-only, rule no-latest: tag "latest" is forbidden (matches "latest")',
  );
});

test('kinds: a Deployment-only policy judges the Deployment, not Pods', async () => {
  const engine = await engineFor({ 'd.yaml': restricted('deployments', '{kinds: [Deployment]}') });
  assert.equal((await run(engine, admissionReview(deployment('api', LATEST)))).allowed, false);
  assert.equal((await run(engine, admissionReview(pod('api', LATEST)))).allowed, true);
});

test('objectSelector: the admitted object’s own labels', async () => {
  const engine = await engineFor({
    'o.yaml': restricted('run-api', '{objectSelector: {matchLabels: {run: api}}}'),
  });
  // kubectl run labels the Pod run=<name>.
  assert.equal((await run(engine, admissionReview(pod('api', LATEST)))).allowed, false);
  assert.equal((await run(engine, admissionReview(pod('web', LATEST)))).allowed, true);
});

test('namespaceSelector: labels from the API lookup; unknown, failed or slow lookups fail closed', async () => {
  const engine = await engineFor({
    'n.yaml': restricted('pci', '{namespaceSelector: {matchLabels: {compliance: pci}}}'),
  });
  const review = () => admissionReview(pod('api', LATEST), { namespace: 'shop' });
  const asked: string[] = [];
  const labels = (value: Record<string, string> | undefined) => async (ns: string) => {
    asked.push(ns);
    return value;
  };
  assert.equal(
    (await run(engine, review(), { namespaceLabels: labels({ compliance: 'pci' }) })).allowed,
    false,
  );
  assert.deepEqual(asked, ['shop']);
  assert.equal(
    (await run(engine, review(), { namespaceLabels: labels({ compliance: 'none' }) })).allowed,
    true,
  );
  // No API client, the namespace unknown to it, an error, or no answer in time: the policy applies.
  assert.equal((await run(engine, review())).allowed, false);
  assert.equal((await run(engine, review(), { namespaceLabels: labels(undefined) })).allowed, false);
  const failing = async () => Promise.reject(new Error('forbidden'));
  assert.equal((await run(engine, review(), { namespaceLabels: failing })).allowed, false);
  const never = () => new Promise<undefined>(() => {});
  assert.equal((await run(engine, review(), { namespaceLabels: never, deadlineMs: 400 })).allowed, false);
});

test('namespace labels are not looked up when no policy selects on them', async () => {
  const engine = await engineFor({ 'prod.yaml': restricted('prod-only', '{namespaces: [prod]}') });
  let asked = 0;
  const lookup = async () => {
    asked++;
    return {};
  };
  await run(engine, admissionReview(pod('api', LATEST), { namespace: 'dev' }), { namespaceLabels: lookup });
  assert.equal(asked, 0);
});
