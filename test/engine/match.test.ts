/**
 * The pure engine with `spec.match`: which policies apply to an image in a given Kubernetes context,
 * and that an unknown context never drops a policy (fail closed).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { evaluate, policyApplies } from '../../src/engine/evaluate.ts';
import type { AdmissionContext } from '../../src/engine/facts.ts';
import { referenceFacts } from '../../src/providers/reference-facts.ts';
import { loadPolicySet } from '../../src/policy/load.ts';
import type { Policy, PolicySet } from '../../src/policy/model.ts';
import { describeSelector, evaluateMatch, selectorMatches } from '../../src/policy/match.ts';

const IMAGE = 'ghcr.io/acme/api:latest';

function policies(yaml: string): PolicySet {
  const result = loadPolicySet([{ path: 'policies.yaml', text: yaml }]);
  if (!result.ok) assert.fail(result.diagnostics.map((d) => `${d.line}:${d.column} ${d.message}`).join('\n'));
  return result.policySet;
}

/** A policy that forbids `latest` for ghcr.io/acme/**, restricted by `match` (YAML flow mapping). */
const restricted = (name: string, match: string) =>
  `---\napiVersion: portcullis.dev/v1alpha1\nkind: ImagePolicy\nmetadata: {name: ${name}}\nspec:\n  match: ${match}\n  images: [{glob: "ghcr.io/acme/**"}]\n  rules: [{name: no-latest, tags: {forbid: [latest]}}]\n`;
const allowRest = `---\napiVersion: portcullis.dev/v1alpha1\nkind: PolicySet\nmetadata: {name: s}\nspec: {noMatch: allow}\n`;

function one(match: string): Policy {
  return policies(restricted('p', match)).policies[0]!;
}

const ref = referenceFacts(IMAGE, 'not resolved').reference!;
const applies = (match: string, context?: AdmissionContext) => policyApplies(one(match), ref, context);

test('namespaces: exact names and globs, anchored', () => {
  const m = '{namespaces: [prod, "payments-*"]}';
  assert.equal(applies(m, { namespace: 'prod' }), true);
  assert.equal(applies(m, { namespace: 'payments-eu' }), true);
  assert.equal(applies(m, { namespace: 'dev' }), false);
  assert.equal(applies(m, { namespace: 'prod-copy' }), false);
  assert.equal(applies(m, { namespace: 'x-payments-eu' }), false);
});

test('namespaceSelector: In, NotIn, Exists, DoesNotExist and matchLabels, with Kubernetes semantics', () => {
  const inSel =
    '{namespaceSelector: {matchExpressions: [{key: env, operator: In, values: [prod, staging]}]}}';
  assert.equal(applies(inSel, { namespaceLabels: { env: 'prod' } }), true);
  assert.equal(applies(inSel, { namespaceLabels: { env: 'dev' } }), false);
  assert.equal(applies(inSel, { namespaceLabels: {} }), false);

  const notIn = '{namespaceSelector: {matchExpressions: [{key: env, operator: NotIn, values: [dev]}]}}';
  assert.equal(applies(notIn, { namespaceLabels: { env: 'prod' } }), true);
  assert.equal(applies(notIn, { namespaceLabels: { env: 'dev' } }), false);
  // NotIn holds when the label is absent (Kubernetes semantics).
  assert.equal(applies(notIn, { namespaceLabels: {} }), true);

  const exists = '{namespaceSelector: {matchExpressions: [{key: tenant, operator: Exists}]}}';
  assert.equal(applies(exists, { namespaceLabels: { tenant: '' } }), true);
  assert.equal(applies(exists, { namespaceLabels: { other: 'x' } }), false);

  const absent = '{namespaceSelector: {matchExpressions: [{key: sandbox, operator: DoesNotExist}]}}';
  assert.equal(applies(absent, { namespaceLabels: {} }), true);
  assert.equal(applies(absent, { namespaceLabels: { sandbox: 'true' } }), false);

  const both =
    '{namespaceSelector: {matchLabels: {env: prod}, matchExpressions: [{key: pci, operator: Exists}]}}';
  assert.equal(applies(both, { namespaceLabels: { env: 'prod', pci: 'yes' } }), true);
  assert.equal(applies(both, { namespaceLabels: { env: 'prod' } }), false);
  assert.equal(applies(both, { namespaceLabels: { pci: 'yes' } }), false);
});

test('kinds: the kind of the admitted object, exactly', () => {
  const m = '{kinds: [Deployment, Pod]}';
  assert.equal(applies(m, { kind: 'Deployment' }), true);
  assert.equal(applies(m, { kind: 'Pod' }), true);
  assert.equal(applies(m, { kind: 'CronJob' }), false);
  // A Deployment's pods are admitted as Pods; a Deployment-only policy does not follow them.
  assert.equal(applies('{kinds: [Deployment]}', { kind: 'Pod' }), false);
});

test('objectSelector: over the object’s own labels', () => {
  const m =
    '{objectSelector: {matchLabels: {tier: backend}, matchExpressions: [{key: legacy, operator: DoesNotExist}]}}';
  assert.equal(applies(m, { labels: { tier: 'backend' } }), true);
  assert.equal(applies(m, { labels: { tier: 'frontend' } }), false);
  assert.equal(applies(m, { labels: { tier: 'backend', legacy: 'true' } }), false);
  assert.equal(applies(m, { labels: {} }), false);
  // A label that is a prototype name is only a label.
  assert.equal(
    applies('{objectSelector: {matchExpressions: [{key: constructor, operator: Exists}]}}', { labels: {} }),
    false,
  );
  assert.equal(
    applies('{objectSelector: {matchExpressions: [{key: toString, operator: DoesNotExist}]}}', {
      labels: {},
    }),
    true,
  );
});

test('every field set must match (AND)', () => {
  const m = '{namespaces: ["prod-*"], kinds: [Deployment], objectSelector: {matchLabels: {tier: backend}}}';
  const ok: AdmissionContext = { kind: 'Deployment', namespace: 'prod-eu', labels: { tier: 'backend' } };
  assert.equal(applies(m, ok), true);
  assert.equal(applies(m, { ...ok, namespace: 'dev' }), false);
  assert.equal(applies(m, { ...ok, kind: 'Pod' }), false);
  assert.equal(applies(m, { ...ok, labels: { tier: 'frontend' } }), false);
  // The image patterns still come first.
  const other = referenceFacts('docker.io/library/nginx:1', 'x').reference!;
  assert.equal(policyApplies(one(m), other, ok), false);
});

test('unknown context fails closed: each unknown input counts as matching, so the policy applies', () => {
  const m =
    '{namespaces: [prod], namespaceSelector: {matchLabels: {env: prod}}, kinds: [Deployment], objectSelector: {matchLabels: {tier: backend}}}';
  // `verify IMAGE`: no context at all.
  assert.equal(applies(m), true);
  assert.equal(applies(m, {}), true);
  const verdict = evaluateMatch(one(m).match!, {});
  assert.deepEqual(verdict, {
    applies: true,
    assumed: ['kinds', 'namespaces', 'namespaceSelector', 'objectSelector'],
  });
  // The webhook before namespace labels are read: everything else known and matching.
  const admission = { kind: 'Deployment', namespace: 'prod', labels: { tier: 'backend' } };
  assert.deepEqual(evaluateMatch(one(m).match!, admission), {
    applies: true,
    assumed: ['namespaceSelector'],
  });
  // ...but a known mismatch elsewhere still decides: unknown never widens what is known.
  assert.deepEqual(evaluateMatch(one(m).match!, { ...admission, namespace: 'dev' }), {
    applies: false,
    mismatch: 'namespace dev matches none of prod',
    assumed: [],
  });
  // An empty namespace name is not a namespace: unknown, so it applies.
  assert.equal(applies('{namespaces: [prod]}', { namespace: '' }), true);
});

test('evaluate: a namespaced policy judges images in its namespace only; noMatch decides elsewhere', () => {
  const set = policies(restricted('prod-only', '{namespaces: [prod]}') + allowRest);
  const facts = (context?: AdmissionContext) => ({
    ...referenceFacts(IMAGE, 'not resolved'),
    ...(context ? { context } : {}),
  });
  const inProd = evaluate(set, facts({ kind: 'Pod', namespace: 'prod', labels: {} }));
  assert.equal(inProd.allowed, false);
  assert.deepEqual(inProd.reasons, [
    'policy prod-only, rule no-latest: tag "latest" is forbidden (matches "latest")',
  ]);
  const inDev = evaluate(set, facts({ kind: 'Pod', namespace: 'dev', labels: {} }));
  assert.equal(inDev.allowed, true);
  assert.deepEqual(inDev.policies, []);
  assert.equal(inDev.noMatch, 'allow');
  // verify IMAGE: no context, so the restriction is kept.
  const bare = evaluate(set, facts());
  assert.equal(bare.allowed, false);
  assert.deepEqual(
    bare.policies.map((p) => p.name),
    ['prod-only'],
  );
});

test('selectors: direct evaluation and the kubectl-style description used in messages', () => {
  const sel = one(
    '{objectSelector: {matchLabels: {app: web}, matchExpressions: [{key: env, operator: In, values: [a, b]}, {key: x, operator: NotIn, values: [y]}, {key: k, operator: Exists}, {key: old, operator: DoesNotExist}]}}',
  ).match!.objectSelector!;
  assert.equal(describeSelector(sel), 'app=web,env in (a,b),x notin (y),k,!old');
  assert.equal(selectorMatches(sel, { app: 'web', env: 'b', k: '' }), true);
  assert.equal(selectorMatches(sel, { app: 'web', env: 'b', k: '', x: 'y' }), false);
});
