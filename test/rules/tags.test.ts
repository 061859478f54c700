import { test } from 'node:test';
import assert from 'node:assert/strict';
import { fail, pass } from '../../src/engine/outcome.ts';
import { evaluateRule } from '../../src/rules/index.ts';
import { compileRule, DIGEST_A, factsFor, rule } from './helpers.ts';

const noLatest = rule('tags', { forbid: ['latest'] });
const pinned = rule('tags', { requireDigest: true });
const releases = rule('tags', { allow: ['v*', 'main'] });

void test('tags: a forbidden tag fails, naming the pattern', () => {
  assert.deepEqual(
    evaluateRule(noLatest, factsFor('nginx:latest')),
    fail('tag "latest" is forbidden (matches "latest")'),
  );
  const r = rule('tags', { forbid: ['*-rc*'] });
  assert.deepEqual(
    evaluateRule(r, factsFor('ghcr.io/acme/api:1.5-rc1')),
    fail('tag "1.5-rc1" is forbidden (matches "*-rc*")'),
  );
});

void test('tags: a reference with neither tag nor digest is judged as latest', () => {
  assert.deepEqual(
    evaluateRule(noLatest, factsFor('nginx')),
    fail('tag "latest" (implied: no tag or digest written) is forbidden (matches "latest")'),
  );
  assert.deepEqual(
    evaluateRule(releases, factsFor('docker.io/library/redis')),
    fail('tag "latest" (implied: no tag or digest written) is not in the allowed list [v*, main]'),
  );
});

void test('tags: other tags pass; a digest-only reference has no tag to judge', () => {
  assert.deepEqual(
    evaluateRule(noLatest, factsFor('ghcr.io/acme/api:1.4.2')),
    pass('tag "1.4.2" is not forbidden [latest]'),
  );
  assert.deepEqual(
    evaluateRule(releases, factsFor('ghcr.io/acme/api:v1.4.2')),
    pass('tag "v1.4.2" is allowed (matches "v*")'),
  );
  assert.deepEqual(
    evaluateRule(noLatest, factsFor(`ghcr.io/acme/api@${DIGEST_A}`)),
    pass('reference has no tag, only a digest'),
  );
});

void test('tags: allow list rejects other tags, case-sensitively', () => {
  assert.deepEqual(
    evaluateRule(releases, factsFor('ghcr.io/acme/api:V1')),
    fail('tag "V1" is not in the allowed list [v*, main]'),
  );
});

void test('tags: requireDigest fails an unpinned reference and passes a pinned one', () => {
  assert.deepEqual(
    evaluateRule(pinned, factsFor('docker.io/library/redis')),
    fail('reference has no digest; this rule requires images pinned by digest (name:tag@sha256:...)'),
  );
  // A digest resolved from the registry does not make the reference as written pinned.
  assert.equal(
    evaluateRule(pinned, factsFor('redis:7', { available: true, value: DIGEST_A })).verdict,
    'fail',
  );
  assert.deepEqual(
    evaluateRule(pinned, factsFor(`ghcr.io/acme/api:1.4.2@${DIGEST_A}`)),
    pass(`reference is pinned by digest ${DIGEST_A}`),
  );
});

void test('tags: all constraints together report each part that passed', () => {
  const all = rule('tags', { forbid: ['latest'], allow: ['v*'], requireDigest: true });
  assert.deepEqual(
    evaluateRule(all, factsFor(`ghcr.io/acme/api:v2@${DIGEST_A}`)),
    pass(`reference is pinned by digest ${DIGEST_A}; tag "v2" is allowed (matches "v*")`),
  );
  assert.deepEqual(
    evaluateRule(all, factsFor('ghcr.io/acme/api:v2')),
    fail('reference has no digest; this rule requires images pinned by digest (name:tag@sha256:...)'),
  );
});

void test('tags: without a parsed reference the rule fails', () => {
  assert.deepEqual(
    evaluateRule(noLatest, { image: 'UPPER/x', referenceError: 'repository must be lower case' }),
    fail('reference unknown: repository must be lower case'),
  );
});

void test('tags: compile reports bad patterns with their position, contradictions and empty rules', () => {
  const bad = compileRule('tags', { forbid: ['lat[e]st', 'latest'], allow: ['latest'] });
  assert.equal(bad.rule, undefined);
  assert.equal(bad.issues.length, 2);
  assert.deepEqual(bad.issues[0]?.path, ['forbid', 0]);
  assert.equal(bad.issues[0]?.offset, 3);
  assert.match(bad.issues[0]?.message ?? '', /^invalid tag pattern "lat\[e\]st": .* at position 4$/);
  assert.deepEqual(bad.issues[1], {
    severity: 'error',
    path: ['forbid', 1],
    message: 'tag pattern "latest" is both in allow[0] and in forbid[1]; remove one',
    found: '"latest"',
  });
  assert.deepEqual(
    compileRule('tags', { requireDigest: false }).issues.map((i) => i.message),
    [
      'the tags rule has no constraints (requireDigest: false alone constrains nothing); set forbid, allow and/or requireDigest: true',
    ],
  );
  assert.deepEqual(
    compileRule('tags', {}).issues.map((i) => i.message),
    ['the tags rule has no constraints; set forbid, allow and/or requireDigest: true'],
  );
  assert.deepEqual(
    compileRule('tags', 'latest').issues.map((i) => i.message),
    ['tags must be a mapping with forbid, allow and/or requireDigest'],
  );
});
