import { test } from 'node:test';
import assert from 'node:assert/strict';
import { fail, pass } from '../../src/engine/outcome.ts';
import { known, unavailable } from '../../src/engine/facts.ts';
import { evaluateRule } from '../../src/rules/index.ts';
import { DIGEST_HEX_LENGTH } from '../../src/reference/index.ts';
import { compileRule, DIGEST_A, DIGEST_B, factsFor, rule } from './helpers.ts';

const denyA = rule('digests', { deny: [DIGEST_A] });
const allowA = rule('digests', { allow: [DIGEST_A] });

void test('digests: a denied digest fails, written or resolved', () => {
  assert.deepEqual(
    evaluateRule(denyA, factsFor(`ghcr.io/acme/api@${DIGEST_A}`)),
    fail(`digest ${DIGEST_A} is denied`),
  );
  assert.deepEqual(
    evaluateRule(denyA, factsFor('ghcr.io/acme/api:1.0', known(DIGEST_A))),
    fail(`digest ${DIGEST_A} is denied`),
  );
  // The written digest is checked too, even if a provider reported a different content digest.
  assert.deepEqual(
    evaluateRule(denyA, factsFor(`ghcr.io/acme/api@${DIGEST_A}`, known(DIGEST_B))),
    fail(`digest ${DIGEST_A} is denied`),
  );
});

void test('digests: other digests pass the deny list; the allow list admits only its digests', () => {
  assert.deepEqual(
    evaluateRule(denyA, factsFor('ghcr.io/acme/api:1.0', known(DIGEST_B))),
    pass(`digest ${DIGEST_B} is not in the denied list [${DIGEST_A}]`),
  );
  assert.deepEqual(
    evaluateRule(allowA, factsFor(`ghcr.io/acme/api@${DIGEST_A}`)),
    pass(`digest ${DIGEST_A} is allowed`),
  );
  assert.deepEqual(
    evaluateRule(allowA, factsFor(`ghcr.io/acme/api@${DIGEST_B}`)),
    fail(`digest ${DIGEST_B} is not in the allowed list [${DIGEST_A}]`),
  );
});

void test('digests: an unknown digest fails with the reason, for allow and deny lists alike', () => {
  assert.deepEqual(
    evaluateRule(denyA, factsFor('docker.io/library/redis')),
    fail('digest unknown: no digest: the reference has none and it was not resolved'),
  );
  assert.deepEqual(
    evaluateRule(
      allowA,
      factsFor('redis:7', unavailable('registry docker.io unreachable: connect ECONNREFUSED')),
    ),
    fail('digest unknown: registry docker.io unreachable: connect ECONNREFUSED'),
  );
  // An unavailable fact is not papered over by the digest written in the reference.
  assert.deepEqual(
    evaluateRule(
      allowA,
      factsFor(`ghcr.io/acme/api@${DIGEST_A}`, unavailable('resolved digest differs from the written one')),
    ),
    fail('digest unknown: resolved digest differs from the written one'),
  );
  assert.deepEqual(
    evaluateRule(denyA, { image: 'x' }),
    fail('digest unknown: no digest: the reference has none and it was not resolved'),
  );
});

void test('digests: a reference digest is used when no provider filled the fact', () => {
  const facts = { ...factsFor(`ghcr.io/acme/api@${DIGEST_A}`) };
  const { digest: _ignored, ...withoutFact } = facts;
  assert.deepEqual(evaluateRule(allowA, withoutFact), pass(`digest ${DIGEST_A} is allowed`));
});

void test('digests: long lists are shortened in reasons', () => {
  const many = Array.from({ length: 10 }, (_, i) => `sha256:${String(i).repeat(64)}`);
  const r = rule('digests', { allow: many });
  const out = evaluateRule(r, factsFor(`ghcr.io/acme/api@${DIGEST_A}`));
  assert.equal(out.verdict, 'fail');
  assert.ok(out.reason.endsWith(`${many[7]}, ... (2 more)]`), out.reason);
});

void test('digests: compile rejects malformed and upper-case digests, overlaps and empty rules', () => {
  const bad = compileRule('digests', {
    allow: ['sha256:abc', DIGEST_A.toUpperCase(), DIGEST_B],
    deny: [DIGEST_B],
  });
  assert.equal(bad.rule, undefined);
  assert.deepEqual(
    bad.issues.map((i) => [i.path.join('.'), i.message]),
    [
      ['allow.0', 'invalid digest "sha256:abc"'],
      ['allow.1', `invalid digest "${DIGEST_A.toUpperCase()}"`],
      ['deny.0', `digest ${DIGEST_B} is both in allow[2] and in deny[0]; remove one`],
    ],
  );
  assert.deepEqual(
    compileRule('digests', { deny: [] }).issues.map((i) => i.message),
    ['the digests rule has no constraints; set allow and/or deny'],
  );
});

void test('digests: the accepted algorithms are the ones references accept (the ones we can recompute)', () => {
  for (const [algorithm, length] of DIGEST_HEX_LENGTH) {
    assert.equal(
      compileRule('digests', { deny: [`${algorithm}:${'0'.repeat(length)}`] }).issues.length,
      0,
      algorithm,
    );
  }
  assert.equal(compileRule('digests', { deny: [`sha384:${'0'.repeat(96)}`] }).issues.length, 1);
});
