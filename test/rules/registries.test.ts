import { test } from 'node:test';
import assert from 'node:assert/strict';
import { fail, pass } from '../../src/engine/outcome.ts';
import { evaluateRule, isRuleKind, RESERVED_RULE_KINDS, ruleKinds } from '../../src/rules/index.ts';
import type { Rule } from '../../src/policy/model.ts';
import { compileRule, DIGEST_A, factsFor, rule } from './helpers.ts';

const trusted = rule('registries', { allow: ['ghcr.io', '*.acme.example'] });

void test('registries: an allowed registry passes, naming the entry it matched', () => {
  assert.deepEqual(
    evaluateRule(trusted, factsFor('ghcr.io/acme/api:1.4.2')),
    pass('registry "ghcr.io" is allowed (matches "ghcr.io")'),
  );
  assert.deepEqual(
    evaluateRule(trusted, factsFor('eu.registry.acme.example/app@' + DIGEST_A)),
    pass('registry "eu.registry.acme.example" is allowed (matches "*.acme.example")'),
  );
});

void test('registries: a registry outside the allow list fails with the list', () => {
  assert.deepEqual(
    evaluateRule(trusted, factsFor('nginx:latest')),
    fail('registry "docker.io" is not in the allowed list [ghcr.io, *.acme.example]'),
  );
  // `*.domain` is subdomains only, and a port is part of the host.
  assert.equal(evaluateRule(trusted, factsFor('acme.example/app')).verdict, 'fail');
  assert.deepEqual(
    evaluateRule(trusted, factsFor('a.acme.example:5000/app')),
    fail('registry "a.acme.example:5000" is not in the allowed list [ghcr.io, *.acme.example]'),
  );
  // A look-alike host is not a subdomain.
  assert.equal(evaluateRule(trusted, factsFor('evilacme.example/app')).verdict, 'fail');
  assert.equal(evaluateRule(trusted, factsFor('ghcr.io.attacker.example/acme/api')).verdict, 'fail');
});

void test('registries: deny wins over allow, and Docker Hub aliases and case are folded', () => {
  const r = rule('registries', { allow: ['*.acme.example'], deny: ['bad.acme.example'] });
  assert.deepEqual(
    evaluateRule(r, factsFor('bad.acme.example/app')),
    fail('registry "bad.acme.example" is denied (matches "bad.acme.example")'),
  );
  const hub = rule('registries', { deny: ['Index.Docker.IO'] });
  assert.deepEqual(
    evaluateRule(hub, factsFor('redis')),
    fail('registry "docker.io" is denied (matches "Index.Docker.IO")'),
  );
  assert.deepEqual(
    evaluateRule(hub, factsFor('ghcr.io/acme/api')),
    pass('registry "ghcr.io" is not in the denied list [Index.Docker.IO]'),
  );
});

void test('registries: without a parsed reference the rule fails, never passes', () => {
  const facts = { image: 'in@valid', referenceError: 'invalid image reference "in@valid": bad digest' };
  assert.deepEqual(
    evaluateRule(trusted, facts),
    fail('reference unknown: invalid image reference "in@valid": bad digest'),
  );
  assert.deepEqual(evaluateRule(trusted, { image: 'x' }), fail('reference unknown: "x" was not parsed'));
});

void test('registries: compile rejects bad hosts, wildcards other than a leading *., overlaps and empty rules', () => {
  const bad = compileRule('registries', {
    allow: ['ghcr.io*', 'https://ghcr.io', 'ghcr.io'],
    deny: ['GHCR.io'],
  });
  assert.equal(bad.rule, undefined);
  assert.deepEqual(
    bad.issues.map((i) => [i.path.join('.'), i.message]),
    [
      ['allow.0', 'invalid registry "ghcr.io*"'],
      ['allow.1', 'invalid registry "https://ghcr.io"'],
      ['deny.0', 'registry "GHCR.io" is both in allow[2] and in deny[0]; remove one'],
    ],
  );
  const empty = compileRule('registries', {});
  assert.deepEqual(
    empty.issues.map((i) => i.message),
    ['the registries rule has no constraints; set allow and/or deny'],
  );
  const dup = compileRule('registries', { allow: ['ghcr.io', 'GHCR.IO'] });
  assert.ok(dup.rule);
  assert.deepEqual(dup.issues, [
    { severity: 'warning', path: ['allow', 1], message: '"GHCR.IO" is listed twice (also at allow[0])' },
  ]);
});

void test('the rule-kind registry: keys match kinds, reserved kinds are not implemented, unknown kinds fail', () => {
  for (const [key, definition] of Object.entries(ruleKinds)) assert.equal(definition.kind, key);
  for (const reserved of RESERVED_RULE_KINDS) assert.equal(isRuleKind(reserved), false, reserved);
  const bogus = {
    kind: 'provenance',
    name: 's',
    source: { file: 'f', line: 1, column: 1 },
  } as unknown as Rule;
  assert.deepEqual(evaluateRule(bogus, factsFor('nginx')), fail('rule kind "provenance" is not supported'));
});
