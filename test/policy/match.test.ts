/**
 * `spec.match` at load: what is accepted, and every bad selector reported at its place with a reason.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { loadPolicySet } from '../../src/policy/load.ts';
import { compileNamespacePattern, labelKeyProblem, labelValueProblem } from '../../src/policy/match.ts';
import { lint, policy } from './helpers.ts';

const RULES = '    - tags: { forbid: [latest] }\n';

function load(match: string) {
  return loadPolicySet([{ path: 'p.yaml', text: policy('prod', RULES, match) }]);
}

void test('a valid match compiles: namespace globs, selectors as requirements, kinds', () => {
  const result = load(`  match:
    namespaces: [prod, payments-*]
    kinds: [Deployment, Pod]
    namespaceSelector:
      matchLabels: { env: production }
    objectSelector:
      matchLabels: { example.com/tier: backend }
      matchExpressions:
        - { key: legacy, operator: DoesNotExist }
        - { key: team, operator: In, values: [a, b] }
        - { key: stage, operator: NotIn, values: [canary] }
        - { key: owner, operator: Exists }
`);
  assert.ok(result.ok, JSON.stringify(!result.ok && result.diagnostics));
  const match = result.policySet.policies[0]!.match!;
  assert.deepEqual(
    match.namespaces!.map((p) => p.pattern),
    ['prod', 'payments-*'],
  );
  assert.deepEqual(match.kinds, ['Deployment', 'Pod']);
  assert.deepEqual(match.namespaceSelector, {
    requirements: [{ key: 'env', operator: 'In', values: ['production'] }],
  });
  assert.deepEqual(match.objectSelector!.requirements, [
    { key: 'example.com/tier', operator: 'In', values: ['backend'] },
    { key: 'legacy', operator: 'DoesNotExist', values: [] },
    { key: 'team', operator: 'In', values: ['a', 'b'] },
    { key: 'stage', operator: 'NotIn', values: ['canary'] },
    { key: 'owner', operator: 'Exists', values: [] },
  ]);
  assert.deepEqual(match.source, { file: 'p.yaml', line: 7, column: 5 });
  assert.equal(result.warnings.length, 0);
});

void test('a policy without match has none (it applies everywhere)', () => {
  const result = load('');
  assert.ok(result.ok);
  assert.equal(result.policySet.policies[0]!.match, undefined);
});

void test('bad kinds, globs and selectors: each at its place, with the reason and the position inside', () => {
  assert.deepEqual(
    lint(
      policy(
        'prod',
        RULES,
        `  match:
    namespaces: [prod, "Pay*", "-x", "a_b"]
    kinds: [pod, Deployments, Foo]
    namespaceSelector: {}
    objectSelector:
      matchLabels: { "tier": "back end", "a/b/c": x }
      matchExpressions:
        - { key: env, operator: In }
        - { key: env, operator: Exists, values: [a] }
        - { key: env, operator: Bogus }
        - { key: "Bad.Example/x", operator: NotIn, values: [ok, "-no"] }
`,
      ),
    ),
    [
      `p.yaml:7:25: error: invalid namespace pattern "Pay*": "P" is not allowed: namespace names are lower-case letters, digits and '-', and '*' stands for any run of them at position 1 (at spec.match.namespaces[1]; found "Pay*")`,
      `p.yaml:7:33: error: invalid namespace pattern "-x": a namespace name cannot start with '-' at position 1 (at spec.match.namespaces[2]; found "-x")`,
      `p.yaml:7:40: error: invalid namespace pattern "a_b": "_" is not allowed: namespace names are lower-case letters, digits and '-', and '*' stands for any run of them at position 2 (at spec.match.namespaces[3]; found "a_b")`,
      'p.yaml:8:13: error: unknown kind "pod" (did you mean "Pod"?) (at spec.match.kinds[0]; found "pod", expected one of Pod, Deployment, ReplicaSet, StatefulSet, DaemonSet, Job, CronJob, ReplicationController (as Kubernetes spells them))',
      'p.yaml:8:18: error: unknown kind "Deployments" (did you mean "Deployment"?) (at spec.match.kinds[1]; found "Deployments", expected one of Pod, Deployment, ReplicaSet, StatefulSet, DaemonSet, Job, CronJob, ReplicationController (as Kubernetes spells them))',
      'p.yaml:8:31: error: unknown kind "Foo" (at spec.match.kinds[2]; found "Foo", expected one of Pod, Deployment, ReplicaSet, StatefulSet, DaemonSet, Job, CronJob, ReplicationController (as Kubernetes spells them))',
      'p.yaml:9:24: error: the namespaceSelector is empty and would match everything; give matchLabels or matchExpressions, or remove it (at spec.match.namespaceSelector; expected at least one of matchLabels, matchExpressions)',
      `p.yaml:11:35: error: invalid label value "back end": " " is not allowed in a label value: letters, digits, '-', '_' and '.', starting and ending with a letter or digit at position 5 (at spec.match.objectSelector.matchLabels.tier; found "back end")`,
      `p.yaml:11:51: error: invalid label key "a/b/c": "/" is not allowed in a label name: letters, digits, '-', '_' and '.', starting and ending with a letter or digit at position 4 (at spec.match.objectSelector.matchLabels["a/b/c"]; found "a/b/c")`,
      'p.yaml:13:11: error: operator In needs at least one value (at spec.match.objectSelector.matchExpressions[0]; expected values: [...] with one or more label values)',
      'p.yaml:14:49: error: operator Exists takes no values; remove values (at spec.match.objectSelector.matchExpressions[1].values; found a list of 1 value)',
      'p.yaml:15:33: error: unsupported operator value "Bogus" (at spec.match.objectSelector.matchExpressions[2].operator; found "Bogus", expected one of In, NotIn, Exists, DoesNotExist)',
      `p.yaml:16:19: error: invalid label key "Bad.Example/x": a label key prefix is a DNS subdomain: lower-case letters, digits, '-' and '.' at position 1 (at spec.match.objectSelector.matchExpressions[3].key; found "Bad.Example/x")`,
      `p.yaml:16:66: error: invalid label value "-no": a label value must start and end with a letter or digit at position 1 (at spec.match.objectSelector.matchExpressions[3].values[1]; found "-no")`,
    ],
  );
});

void test('match: {} and unknown match fields are errors; duplicates are warnings', () => {
  assert.deepEqual(lint(policy('prod', RULES, '  match: {}\n')), [
    'p.yaml:6:10: error: match has no selectors; set at least one of namespaces, namespaceSelector, kinds, objectSelector, or remove match (at spec.match; expected one or more of namespaces, namespaceSelector, kinds, objectSelector)',
  ]);
  assert.deepEqual(lint(policy('prod', RULES, '  match: { namespace: [prod] }\n')), [
    'p.yaml:6:12: error: unknown field "namespace" (did you mean "namespaces"?) (at spec.match.namespace; expected one of namespaces, namespaceSelector, kinds, objectSelector)',
  ]);
  assert.deepEqual(
    lint(policy('prod', RULES, '  match: { namespaces: [prod, prod], kinds: [Pod, Pod] }\n')),
    [
      'p.yaml:6:31: warning: "prod" is listed twice (also at namespaces[0]) (at spec.match.namespaces[1])',
      'p.yaml:6:51: warning: "Pod" is listed twice (at spec.match.kinds[1])',
    ],
  );
});

void test('namespace globs are anchored; * stands for any run of name characters', () => {
  const p = compileNamespacePattern('payments-*');
  assert.equal(p.matches('payments-eu'), true);
  assert.equal(p.matches('payments-'), true);
  assert.equal(p.matches('payments'), false);
  assert.equal(p.matches('x-payments-eu'), false);
  const mid = compileNamespacePattern('team-*-prod');
  assert.equal(mid.matches('team-a-prod'), true);
  assert.equal(mid.matches('team-a-prod-2'), false);
  assert.equal(compileNamespacePattern('*').matches('anything-at-all'), true);
  assert.throws(() => compileNamespacePattern('a'.repeat(64)), /at most 63/);
  assert.throws(() => compileNamespacePattern('prod.'), /"\." is not allowed/);
});

void test('label keys and values follow Kubernetes rules', () => {
  for (const ok of ['app', 'app.kubernetes.io/name', 'a', 'A_b-c.d', `${'a'.repeat(253)}/x`]) {
    assert.equal(labelKeyProblem(ok), undefined, ok);
  }
  for (const bad of ['', '/x', 'x/', 'a b', '-a', 'a'.repeat(64), `${'a'.repeat(254)}/x`, 'Ex.com/x']) {
    assert.notEqual(labelKeyProblem(bad), undefined, bad);
  }
  assert.equal(labelValueProblem(''), undefined);
  assert.equal(labelValueProblem('v1.2_3'), undefined);
  assert.notEqual(labelValueProblem('v1/2'), undefined);
  assert.notEqual(labelValueProblem('x'.repeat(64)), undefined);
});

void test('the spec schema accepts match (and the CRD keeps the selector maps)', async () => {
  const { crdSpecSchema } = await import('../../src/policy/schema.ts');
  const spec = crdSpecSchema() as { properties: Record<string, { properties: Record<string, unknown> }> };
  const match = spec.properties.match!;
  assert.deepEqual(Object.keys(match.properties), [
    'namespaces',
    'namespaceSelector',
    'kinds',
    'objectSelector',
  ]);
  const selector = match.properties.objectSelector as {
    properties: { matchLabels: Record<string, unknown> };
  };
  assert.deepEqual(selector.properties.matchLabels.additionalProperties, { type: 'string', maxLength: 63 });
});
