/**
 * PolicyReport generation (pure): result mapping, summaries, the size cap, and every generated report
 * validated against the CRD's openAPIV3Schema subset in fixtures/ (written from reference/peers.md 6.1).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { Ajv2020 } from 'ajv/dist/2020.js';
import type { Decision, PolicyResult } from '../../src/engine/decision.ts';
import type { ImageCheck } from '../../src/controller/findings.ts';
import { buildReports, DROPPED_ANNOTATION } from '../../src/controller/reports.ts';

const schema: unknown = JSON.parse(
  readFileSync(new URL('./fixtures/policyreport-v1alpha2.schema.json', import.meta.url), 'utf8'),
);
const validate = new Ajv2020({ strict: false, validateFormats: false, allErrors: true }).compile(
  schema as object,
);

const source = { file: 'p.yaml', line: 1, column: 1 } as unknown as PolicyResult['source'];
const at = new Date('2026-11-27T12:00:00.250Z');
const deploy = (name: string, namespace = 'shop') => ({
  apiVersion: 'apps/v1',
  kind: 'Deployment',
  name,
  namespace,
  uid: `uid-${name}`,
});

function policy(
  name: string,
  verdict: 'pass' | 'fail',
  mode: PolicyResult['mode'] = 'enforce',
): PolicyResult {
  return {
    name,
    mode,
    version: '1',
    source,
    verdict,
    rules: [
      {
        name: 'signed',
        kind: 'signatures',
        verdict,
        reason: verdict === 'pass' ? 'signed by k1' : 'no valid signature',
        source,
      },
    ],
  } as PolicyResult;
}

function decision(policies: PolicyResult[], digest: string | null = 'sha256:' + 'a'.repeat(64)): Decision {
  const allowed = policies.every((p) => p.verdict === 'pass' || p.mode !== 'enforce');
  return {
    image: 'reg/app:v1',
    ...(digest ? { digest } : {}),
    allowed,
    outcome: allowed ? 'allow' : 'deny',
    mode: 'enforce',
    policies,
    reasons: allowed ? [] : ['denied'],
    warnings: [],
  };
}

const check = (name: string, d: Decision | undefined, extra: Partial<ImageCheck> = {}): ImageCheck => ({
  workload: deploy(name),
  image: 'reg/app:v1',
  ...(d ? { decision: d } : { error: 'registry unreachable' }),
  checkedAt: at,
  ...extra,
});

test('one PolicyReport per namespace plus the ClusterPolicyReport; results, summary and properties', () => {
  const reports = buildReports([
    check('good', decision([policy('prod', 'pass')])),
    check('bad', decision([policy('prod', 'fail'), policy('advice', 'fail', 'warn')])),
    check('other', decision([policy('prod', 'fail', 'audit')]), { workload: deploy('other', 'ops') }),
  ]);
  assert.deepEqual(
    reports.map((r) => [r.kind, r.metadata.namespace, r.metadata.name]),
    [
      ['PolicyReport', 'ops', 'portcullis'],
      ['PolicyReport', 'shop', 'portcullis'],
      ['ClusterPolicyReport', undefined, 'portcullis-cluster'],
    ],
  );
  const shop = reports[1]!;
  assert.deepEqual(shop.summary, { pass: 1, fail: 1, warn: 1, error: 0, skip: 0 });
  const fail = shop.results.find((r) => r.result === 'fail')!;
  assert.equal(fail.policy, 'prod');
  assert.equal(fail.rule, 'signed');
  assert.equal(fail.source, 'portcullis');
  assert.equal(fail.category, 'Supply Chain');
  assert.equal(fail.severity, 'high');
  assert.equal(fail.message, 'rule signed: no valid signature');
  assert.deepEqual(fail.timestamp, { seconds: Math.floor(at.getTime() / 1000), nanos: 0 });
  assert.deepEqual(fail.resources, [deploy('bad')]);
  assert.equal(fail.properties.image, 'reg/app:v1');
  assert.equal(fail.properties.digest, 'sha256:' + 'a'.repeat(64));
  assert.equal(shop.results.find((r) => r.policy === 'advice')!.result, 'warn');
  assert.equal(reports[0]!.results[0]!.result, 'fail', 'a failing audit-mode policy is a fail in the report');
  for (const r of reports) assert.ok(validate(r), JSON.stringify(validate.errors));
});

test('no decision, or no digest, is an error result, not a fail', () => {
  const [shop] = buildReports([
    check('down', undefined),
    check('gone', decision([policy('prod', 'fail')], null)),
  ]);
  assert.deepEqual(shop!.summary, { pass: 0, fail: 0, warn: 0, error: 2, skip: 0 });
  assert.equal(shop!.results.find((r) => r.resources[0]!.name === 'down')!.message, 'registry unreachable');
  assert.equal(shop!.results.find((r) => r.resources[0]!.name === 'down')!.policy, '(error)');
  assert.ok(validate(shop), JSON.stringify(validate.errors));
});

test('a namespace with no workloads left gets an empty report; a cluster-scoped workload goes to the ClusterPolicyReport', () => {
  const node = { apiVersion: 'v1', kind: 'Node', name: 'n1' };
  const reports = buildReports([check('n1', decision([policy('prod', 'fail')]), { workload: node })], {
    namespaces: ['empty'],
  });
  assert.equal(reports[0]!.metadata.namespace, 'empty');
  assert.deepEqual(reports[0]!.results, []);
  assert.equal(reports[1]!.kind, 'ClusterPolicyReport');
  assert.equal(reports[1]!.summary.fail, 1);
  assert.equal(reports[1]!.metadata.namespace, undefined);
  for (const r of reports) assert.ok(validate(r), JSON.stringify(validate.errors));
});

test('past the cap, failures are kept first, the summary counts everything and the annotation says how many were dropped', () => {
  const checks = [
    ...Array.from({ length: 5 }, (_, i) => check(`ok${i}`, decision([policy('prod', 'pass')]))),
    check('bad', decision([policy('prod', 'fail')])),
  ];
  const [shop] = buildReports(checks, { maxResults: 2 });
  assert.equal(shop!.results.length, 2);
  assert.equal(shop!.results[0]!.result, 'fail');
  assert.deepEqual(shop!.summary, { pass: 5, fail: 1, warn: 0, error: 0, skip: 0 });
  assert.equal(shop!.metadata.annotations?.[DROPPED_ANNOTATION], '4');
  assert.ok(validate(shop), JSON.stringify(validate.errors));
});

test('the schema fixture rejects what the CRD rejects (so the validation above means something)', () => {
  const [shop] = buildReports([check('bad', decision([policy('prod', 'fail')]))]);
  const broken = { ...shop, results: [{ ...shop!.results[0], result: 'failed' }] };
  assert.equal(validate(broken), false);
  const noPolicy = { ...shop, results: [{ result: 'fail' }] };
  assert.equal(validate(noPolicy), false);
});
