import { test } from 'node:test';
import assert from 'node:assert/strict';
import { fileURLToPath } from 'node:url';
import { evaluate } from '../../src/engine/evaluate.ts';
import { known, unavailable } from '../../src/engine/facts.ts';
import type { ImageFacts } from '../../src/engine/facts.ts';
import { loadPolicyPaths, loadPolicySet } from '../../src/policy/load.ts';
import { parseReference } from '../../src/reference/index.ts';

const dir = fileURLToPath(new URL('../../examples/policies', import.meta.url));
const PINNED = `sha256:${'e'.repeat(64)}`;

function facts(image: string): ImageFacts {
  const reference = parseReference(image);
  const digest = reference.digest
    ? known(reference.digest)
    : unavailable('no digest: the reference has none and it was not resolved');
  return { image, reference, digest };
}

void test('the example policies load cleanly, without warnings', async () => {
  const result = await loadPolicyPaths([dir]);
  assert.ok(result.ok, JSON.stringify(result));
  assert.deepEqual(result.warnings, []);
  assert.deepEqual(result.policySet.policies.map((p) => [p.name, p.mode]).sort(), [
    ['deny-list', 'enforce'],
    ['production', 'enforce'],
    ['staging', 'warn'],
  ]);
  assert.equal(result.policySet.noMatch, 'deny');
});

void test('the example policies decide the example images as documented', async () => {
  const result = await loadPolicyPaths([dir]);
  assert.ok(result.ok);
  const set = result.policySet;
  const allowed = evaluate(set, facts(`ghcr.io/acme/api:1.4.2@${PINNED}`));
  assert.equal(allowed.outcome, 'allow', JSON.stringify(allowed));

  const latest = evaluate(set, facts('nginx:latest'));
  assert.equal(latest.outcome, 'deny');
  assert.ok(
    latest.reasons.includes('policy deny-list, rule no-latest: tag "latest" is forbidden (matches "latest")'),
    latest.reasons.join('\n'),
  );

  const redis = evaluate(set, facts('docker.io/library/redis'));
  assert.equal(redis.outcome, 'deny');
  assert.ok(
    redis.reasons.includes(
      'policy deny-list, rule bad-digests: digest unknown: no digest: the reference has none and it was not resolved',
    ),
    redis.reasons.join('\n'),
  );

  const unpinnedProd = evaluate(set, { ...facts('ghcr.io/acme/api:1.4.2'), digest: known(PINNED) });
  assert.equal(unpinnedProd.outcome, 'deny');
  assert.ok(
    unpinnedProd.reasons.includes(
      'policy production, rule pinned: reference has no digest; this rule requires images pinned by digest (name:tag@sha256:...)',
    ),
  );

  const staging = evaluate(set, {
    ...facts('registry.acme.example/staging/web:feature-x'),
    digest: known(PINNED),
  });
  assert.equal(staging.outcome, 'warn');
  assert.deepEqual(staging.warnings, [
    'policy staging, rule staging-tags: tag "feature-x" is not in the allowed list [v*, main, pr-*]',
  ]);

  const miner = evaluate(set, facts(`xmrig/xmrig@${PINNED}`));
  assert.equal(miner.outcome, 'deny');
  assert.ok(
    miner.reasons.includes(
      'policy deny-list, rule bad-repositories: repository "docker.io/xmrig/xmrig" is denied (matches "docker.io/xmrig/**")',
    ),
  );
});

void test('every complete document shown in docs/policy-language.md loads', async () => {
  const { readFile } = await import('node:fs/promises');
  const doc = await readFile(new URL('../../docs/policy-language.md', import.meta.url), 'utf8');
  const blocks = [...doc.matchAll(/```yaml\n([\s\S]*?)```/g)].map((m) => m[1] ?? '');
  const complete = blocks.filter((b) => b.startsWith('apiVersion: portcullis.dev/v1alpha1'));
  assert.ok(complete.length >= 2);
  const files = complete.map((text, i) => ({ path: `doc-${i}.yaml`, text }));
  const result = loadPolicySet(files);
  assert.ok(result.ok, JSON.stringify(result));
});
