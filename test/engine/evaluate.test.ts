import { test } from 'node:test';
import assert from 'node:assert/strict';
import { evaluate } from '../../src/engine/evaluate.ts';
import { referenceFacts } from '../../src/providers/reference-facts.ts';
import { known } from '../../src/engine/facts.ts';
import { loadPolicySet } from '../../src/policy/load.ts';
import type { PolicySet } from '../../src/policy/model.ts';

const PINNED = 'ghcr.io/acme/api:1.0@sha256:' + 'a'.repeat(64);

function policies(yaml: string): PolicySet {
  const result = loadPolicySet([{ path: 'policies.yaml', text: yaml }]);
  if (!result.ok) assert.fail(result.diagnostics.map((d) => `${d.line}:${d.column} ${d.message}`).join('\n'));
  return result.policySet;
}

const policy = (name: string, spec: string) =>
  `---\napiVersion: portcullis.dev/v1alpha1\nkind: ImagePolicy\nmetadata: {name: ${name}}\nspec:\n${spec}\n`;
const noMatch = (action: string) =>
  `---\napiVersion: portcullis.dev/v1alpha1\nkind: PolicySet\nmetadata: {name: settings}\nspec: {noMatch: ${action}}\n`;

const facts = (image: string) => referenceFacts(image, 'not resolved in this test');

const acmeOnly = policy(
  'acme',
  `  images: [{glob: "ghcr.io/acme/**"}]
  rules:
    - name: pinned
      tags: {requireDigest: true}`,
);
const noLatestEverywhere = policy(
  'no-latest',
  `  images: [{glob: "**"}]
  rules:
    - name: no-latest
      tags: {forbid: [latest]}`,
);

test('an image every applicable policy passes is allowed, with each policy and rule recorded', () => {
  const d = evaluate(policies(acmeOnly + noLatestEverywhere), facts(PINNED));
  assert.equal(d.allowed, true);
  assert.equal(d.outcome, 'allow');
  assert.equal(d.mode, 'enforce');
  assert.deepEqual(
    d.policies.map((p) => [p.name, p.verdict, p.rules.map((r) => [r.name, r.verdict])]),
    [
      ['acme', 'pass', [['pinned', 'pass']]],
      ['no-latest', 'pass', [['no-latest', 'pass']]],
    ],
  );
  assert.equal(d.reference, PINNED);
  assert.equal(d.digest, 'sha256:' + 'a'.repeat(64));
  assert.deepEqual(d.reasons, []);
});

test('two policies apply and one denies: the image is denied with that policy and rule named', () => {
  const d = evaluate(policies(acmeOnly + noLatestEverywhere), facts('ghcr.io/acme/api:latest'));
  assert.equal(d.allowed, false);
  assert.equal(d.outcome, 'deny');
  assert.equal(d.reasons.length, 2);
  assert.match(d.reasons[0]!, /^policy acme, rule pinned: /);
  assert.match(d.reasons[1]!, /^policy no-latest, rule no-latest: tag "latest" is forbidden/);
});

test('only the policies whose patterns match apply; exclusions remove an image', () => {
  const set = policies(
    policy(
      'acme',
      `  images: [{glob: "ghcr.io/acme/**"}]
  exclude: [{glob: "ghcr.io/acme/sandbox/**"}]
  rules: [{tags: {forbid: [latest]}}]`,
    ) + noMatch('allow'),
  );
  assert.deepEqual(
    evaluate(set, facts('ghcr.io/acme/api:latest')).policies.map((p) => p.name),
    ['acme'],
  );
  const excluded = evaluate(set, facts('ghcr.io/acme/sandbox/x:latest'));
  assert.deepEqual(excluded.policies, []);
  assert.equal(excluded.noMatch, 'allow');
  assert.equal(excluded.allowed, true);
});

test('no policy applies: the noMatch setting decides, and deny is the default', () => {
  const image = 'quay.io/other/thing:1';
  const byDefault = evaluate(policies(acmeOnly), facts(image));
  assert.equal(byDefault.allowed, false);
  assert.equal(byDefault.noMatch, 'deny');
  assert.deepEqual(byDefault.reasons, ['no policy applies to quay.io/other/thing:1 (noMatch: deny)']);

  const deny = evaluate(policies(acmeOnly + noMatch('deny')), facts(image));
  assert.equal(deny.allowed, false);
  assert.equal(deny.mode, 'enforce');

  const warn = evaluate(policies(acmeOnly + noMatch('warn')), facts(image));
  assert.equal(warn.allowed, true);
  assert.equal(warn.outcome, 'warn');
  assert.deepEqual(warn.warnings, ['no policy applies to quay.io/other/thing:1 (noMatch: warn)']);

  const allow = evaluate(policies(acmeOnly + noMatch('allow')), facts(image));
  assert.equal(allow.allowed, true);
  assert.equal(allow.outcome, 'allow');
  assert.deepEqual(allow.warnings, []);
  assert.equal(allow.mode, 'audit');
});

test('a warn-mode policy that fails allows with a warning; an audit-mode one only records', () => {
  const warnPolicy = policy(
    'staging',
    `  mode: warn\n  images: [{glob: "**"}]\n  rules: [{name: nl, tags: {forbid: [latest]}}]`,
  );
  const auditPolicy = policy(
    'observe',
    `  mode: audit\n  images: [{glob: "**"}]\n  rules: [{name: nl, tags: {forbid: [latest]}}]`,
  );

  const warned = evaluate(policies(warnPolicy), facts('nginx:latest'));
  assert.equal(warned.allowed, true);
  assert.equal(warned.outcome, 'warn');
  assert.equal(warned.mode, 'warn');
  assert.deepEqual(warned.reasons, []);
  assert.equal(warned.warnings.length, 1);
  assert.match(warned.warnings[0]!, /^policy staging, rule nl: tag "latest" is forbidden/);

  const audited = evaluate(policies(auditPolicy), facts('nginx:latest'));
  assert.equal(audited.allowed, true);
  assert.equal(audited.outcome, 'allow');
  assert.equal(audited.mode, 'audit');
  assert.deepEqual(audited.warnings, []);
  assert.equal(audited.policies[0]!.verdict, 'fail');

  const both = evaluate(policies(warnPolicy + auditPolicy + noLatestEverywhere), facts('nginx:latest'));
  assert.equal(both.allowed, false, 'an enforce failure denies whatever the other modes say');
  assert.equal(both.mode, 'enforce');
  assert.equal(both.warnings.length, 1);
});

test('a matching policy with no rules denies: no verdict is not a pass', () => {
  const base = policies(acmeOnly);
  const empty: PolicySet = { ...base, policies: [{ ...base.policies[0]!, rules: [] }] };
  const d = evaluate(empty, facts(PINNED));
  assert.equal(d.allowed, false);
  assert.deepEqual(d.reasons, ['policy acme: it has no rules, and a matching policy must produce a verdict']);
});

test('a rule needing a fact nobody provided fails with that reason', () => {
  const set = policies(
    policy(
      'digests',
      `  images: [{glob: "**"}]\n  rules: [{name: known-bad, digests: {deny: ["sha256:${'b'.repeat(64)}"]}}]`,
    ),
  );
  const d = evaluate(set, facts('ghcr.io/acme/api:1.0'));
  assert.equal(d.allowed, false);
  assert.match(d.reasons[0]!, /^policy digests, rule known-bad: digest unknown: not resolved in this test$/);

  const resolved = evaluate(set, {
    ...facts('ghcr.io/acme/api:1.0'),
    digest: known('sha256:' + 'c'.repeat(64)),
  });
  assert.equal(resolved.allowed, true);
  assert.equal(resolved.digest, 'sha256:' + 'c'.repeat(64));
});

test('an invalid reference is denied even when nothing would apply and noMatch is allow', () => {
  const d = evaluate(policies(acmeOnly + noMatch('allow')), facts('ghcr.io/Acme/api'));
  assert.equal(d.allowed, false);
  assert.equal(d.reference, undefined);
  assert.match(
    d.reasons[0]!,
    /^invalid image reference "ghcr.io\/Acme\/api": repository name must be lowercase/,
  );
});

test('a rule evaluator that throws denies with an internal-error reason instead of crashing or passing', () => {
  const d = evaluate(policies(acmeOnly), facts(PINNED), () => {
    throw new Error('boom');
  });
  assert.equal(d.allowed, false);
  assert.deepEqual(d.reasons, ['policy acme, rule pinned: internal error evaluating rule pinned: boom']);
});

test('a rule evaluator that returns no verdict denies', () => {
  const d = evaluate(policies(acmeOnly), facts(PINNED), () => ({}) as never);
  assert.equal(d.allowed, false);
  assert.match(d.reasons[0]!, /returned no verdict/);
});
