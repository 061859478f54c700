/**
 * The signed example policies load cleanly, and the offline demo (examples/policies) is untouched by
 * them: signatures need the registry, so they live in their own directory.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { fileURLToPath } from 'node:url';
import { createDecider } from '../../src/app/decide.ts';
import { loadPolicyPaths } from '../../src/policy/load.ts';
import { requiredSignatureSources } from '../../src/rules/signatures.ts';
import { parseReference } from '../../src/reference/index.ts';

const signed = fileURLToPath(new URL('../../examples/policies-signed', import.meta.url));
const demo = fileURLToPath(new URL('../../examples/policies', import.meta.url));
const PINNED = `sha256:${'e'.repeat(64)}`;

void test('the signed example policies load without warnings and say which signatures they need', async () => {
  const result = await loadPolicyPaths([signed]);
  assert.ok(result.ok, JSON.stringify(result));
  assert.deepEqual(result.warnings, []);
  const set = result.policySet;
  assert.deepEqual(
    set.policies.map((p) => p.name),
    ['signed-production', 'signed-mirror'],
  );
  const needs = (image: string) => requiredSignatureSources(set, parseReference(image)).map((n) => n.key);
  assert.deepEqual(needs('ghcr.io/acme/api:1.4.2'), ['|']);
  assert.deepEqual(needs('registry.acme.example/mirror/nginx:1'), ['registry.acme.example/signatures|']);
  assert.deepEqual(needs('docker.io/library/nginx:1'), []);
});

void test('offline, a signatures policy denies with the reason; the demo policies need no signature', async () => {
  const result = await loadPolicyPaths([signed]);
  assert.ok(result.ok);
  const d = await createDecider(result.policySet, { offline: true, timeoutMs: 1000 }).decide(
    `ghcr.io/acme/api:1.4.2@${PINNED}`,
  );
  assert.equal(d.outcome, 'deny');
  assert.ok(
    d.reasons.includes(
      'policy signed-production, rule signed: signatures are stored in the registry, and --offline prevents fetching them',
    ),
    JSON.stringify(d.reasons),
  );

  const demoSet = await loadPolicyPaths([demo]);
  assert.ok(demoSet.ok);
  for (const image of ['ghcr.io/acme/api:1.4.2', 'nginx:latest', 'registry.acme.example/staging/job:1']) {
    assert.deepEqual(requiredSignatureSources(demoSet.policySet, parseReference(image)), [], image);
  }
});
