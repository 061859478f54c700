import { test } from 'node:test';
import assert from 'node:assert/strict';
import { fail, pass } from '../../src/engine/outcome.ts';
import { evaluateRule } from '../../src/rules/index.ts';
import { compileRule, DIGEST_A, factsFor, rule } from './helpers.ts';

const ours = rule('repositories', { allow: ['ghcr.io/acme/**', 'registry.acme.example/*'] });
const bad = rule('repositories', { deny: ['docker.io/xmrig/**', 'centos'] });

void test('repositories: allowed repositories pass whatever their tag or digest', () => {
  assert.deepEqual(
    evaluateRule(ours, factsFor(`ghcr.io/acme/api:1.4.2@${DIGEST_A}`)),
    pass('repository "ghcr.io/acme/api" is allowed (matches "ghcr.io/acme/**")'),
  );
  assert.deepEqual(
    evaluateRule(ours, factsFor('registry.acme.example/web')),
    pass('repository "registry.acme.example/web" is allowed (matches "registry.acme.example/*")'),
  );
});

void test('repositories: others fail with the allow list; `*` stays within one segment', () => {
  assert.deepEqual(
    evaluateRule(ours, factsFor('nginx:latest')),
    fail(
      'repository "docker.io/library/nginx" is not in the allowed list [ghcr.io/acme/**, registry.acme.example/*]',
    ),
  );
  assert.equal(evaluateRule(ours, factsFor('registry.acme.example/team/web')).verdict, 'fail');
  // `ghcr.io/acme/**` is the namespace's content, not a prefix of other names.
  assert.equal(evaluateRule(ours, factsFor('ghcr.io/acme-evil/api')).verdict, 'fail');
});

void test('repositories: denied repositories fail; short patterns are Docker-normalized', () => {
  assert.deepEqual(
    evaluateRule(bad, factsFor('xmrig/xmrig:6')),
    fail('repository "docker.io/xmrig/xmrig" is denied (matches "docker.io/xmrig/**")'),
  );
  assert.deepEqual(
    evaluateRule(bad, factsFor('docker.io/library/centos:7')),
    fail('repository "docker.io/library/centos" is denied (matches "centos")'),
  );
  assert.deepEqual(
    evaluateRule(bad, factsFor('ghcr.io/acme/api')),
    pass('repository "ghcr.io/acme/api" is not in the denied list [docker.io/xmrig/**, centos]'),
  );
});

void test('repositories: without a parsed reference the rule fails', () => {
  assert.deepEqual(
    evaluateRule(bad, { image: '', referenceError: 'empty image reference' }),
    fail('reference unknown: empty image reference'),
  );
});

void test('repositories: compile rejects tag and digest parts at their position, and invalid globs', () => {
  const out = compileRule('repositories', {
    deny: ['ghcr.io/acme/api:latest', `ghcr.io/acme/api@${DIGEST_A}`, 'ghcr.io/a+b', 'localhost:5000/app'],
  });
  assert.equal(out.rule, undefined);
  assert.deepEqual(
    out.issues.map((i) => [i.path.join('.'), i.offset, i.message]),
    [
      [
        'deny.0',
        16,
        'repository pattern "ghcr.io/acme/api:latest" has a tag part; write only registry/repository',
      ],
      [
        'deny.1',
        16,
        `repository pattern "ghcr.io/acme/api@${DIGEST_A}" has a digest part; write only registry/repository`,
      ],
      [
        'deny.2',
        9,
        `invalid repository pattern "ghcr.io/a+b": '+' is not allowed: patterns are globs, not regular expressions at position 10`,
      ],
    ],
  );
});
