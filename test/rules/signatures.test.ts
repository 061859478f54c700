/**
 * The signatures rule kind on its own: lint at load time (positions, keys, trust roots, thresholds),
 * pure evaluation over facts (every missing or unavailable fact fails), and which sources a policy set
 * needs for an image.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { evaluate as evaluatePolicies } from '../../src/engine/evaluate.ts';
import { known, unavailable, type ImageFacts, type SignatureEvidence } from '../../src/engine/facts.ts';
import type { SignaturesRule } from '../../src/policy/model.ts';
import { formatDiagnostic } from '../../src/policy/format-diagnostic.ts';
import { loadPolicySet } from '../../src/policy/load.ts';
import { parseReference } from '../../src/reference/index.ts';
import { evaluateRule } from '../../src/rules/index.ts';
import {
  requiredSignatureSources,
  signatureSourceKey,
  signatureVerificationStats,
} from '../../src/rules/signatures.ts';
import type { SignatureCandidate } from '../../src/sigstore/threshold.ts';
import { registryDumpSignatures } from '../sigstore/support.ts';
import { compileRule } from './helpers.ts';

const FIXTURE_KEYS = join(import.meta.dirname, '../../../shared/fixtures/skopeo-signed/keys');
const IMG_A = 'sha256:a26b9f2187e829cdbda806d6729e554ec8534d6d856a10b33667191ab33a28c9';
const dir = mkdtempSync(join(tmpdir(), 'portcullis-sigrule-'));
// Fixture keys are read from ../shared (never copied into the repo); composed key files go to a temp dir.
const KEYS = join(dir, 'keys');
mkdirSync(KEYS);
for (const name of ['k1.pub', 'k2.pub'])
  writeFileSync(join(KEYS, name), readFileSync(join(FIXTURE_KEYS, name)));

function policyText(rule: string, name = 'signed', images = '**'): string {
  return [
    'apiVersion: portcullis.dev/v1alpha1',
    'kind: ImagePolicy',
    `metadata: {name: ${name}}`,
    'spec:',
    `  images: [{glob: "${images}"}]`,
    '  rules:',
    '    - signatures:',
    ...rule.split('\n').map((l) => `        ${l}`),
    '',
  ].join('\n');
}

function load(...texts: string[]) {
  return loadPolicySet(texts.map((text, i) => ({ path: join(dir, `p${i}.yaml`), text })));
}

function lint(rule: string): string[] {
  const r = load(policyText(rule));
  return (r.ok ? r.warnings : r.diagnostics).map((d) => formatDiagnostic(d).replace(`${dir}/`, ''));
}

function compiled(rule: string, images = '**'): SignaturesRule {
  const r = load(policyText(rule, 'signed', images));
  assert.ok(r.ok, JSON.stringify(r));
  const compiledRule = r.policySet.policies[0]?.rules[0];
  assert.equal(compiledRule?.kind, 'signatures');
  return compiledRule as SignaturesRule;
}

const k1 = `{name: k1, key: {path: "${KEYS}/k1.pub"}}`;
const k2 = `{name: k2, key: {path: "${KEYS}/k2.pub"}}`;

function facts(image: string, digest?: string, signatures?: ImageFacts['signatures']): ImageFacts {
  return {
    image,
    reference: parseReference(image),
    ...(digest ? { digest: known(digest) } : {}),
    ...(signatures ? { signatures } : {}),
  };
}

const legacyA = (): SignatureCandidate[] =>
  registryDumpSignatures('app', IMG_A).map((s) => ({ kind: 'legacy', source: 'test/app:sig', signature: s }));

function evidence(
  rule: SignaturesRule,
  candidates: SignatureEvidence['sources'][number]['candidates'],
): ImageFacts['signatures'] {
  return known({
    digest: IMG_A,
    sources: rule.sources.map((s) => ({
      key: signatureSourceKey(s),
      location: 'registry.test/app',
      candidates,
    })),
  });
}

void test('lint: each problem at its line, with the authority path', () => {
  writeFileSync(join(dir, 'not-a-key.pem'), 'hello\n');
  writeFileSync(join(dir, 'bad-root.json'), '{"mediaType": "nope"}');
  const issues = lint(
    [
      'threshold: 9',
      'authorities:',
      `  - ${k1}`,
      '  - {name: k1, key: {path: missing.pub}}',
      '  - {name: bad, key: {path: not-a-key.pem}}',
      '  - {name: both, key: {data: x}, static: {action: pass}}',
      '  - {name: none}',
      '  - {name: st, static: {action: pass}, source: {tagPrefix: x-}}',
      '  - name: ci',
      '    trustRoot: bad-root.json',
      '    keyless:',
      '      identities: [{issuer: "https://a", subjectRegExp: "a(b"}, {issuer: x}]',
      '      extensions: [{oid: bogus, value: x}, {oid: githubWorkflowRepository, value: a, valueRegExp: b}]',
    ].join('\n'),
  );
  const at = (line: number, text: string) =>
    issues.find((i) => i.startsWith(`p0.yaml:${line}:`) && i.includes(text));
  const expected: [number, string][] = [
    [8, 'threshold 9 is more than the 7 authorities listed'],
    [11, 'authority name "k1" is used twice in this rule (also authorities[0])'],
    [11, `cannot read key file ${dir}/missing.pub: no such file`],
    [12, 'expected one PEM PUBLIC KEY block'],
    [13, 'an authority needs exactly one of key, keyless or static, got key and static'],
    [14, 'an authority needs exactly one of key, keyless or static, got neither'],
    [15, 'a static authority takes no source'],
    [17, 'cannot load trust root'],
    [19, 'invalid regular expression "a(b"'],
    [19, 'missing subject or subjectRegExp'],
    [20, '"bogus" is neither a dotted OID nor a known name'],
    [20, 'give either value or valueRegExp, not both'],
  ];
  for (const [line, text] of expected) {
    assert.ok(at(line, text), `${line}: ${text}\n${issues.join('\n')}`);
  }
  const over = lint(`threshold: 3\nauthorities:\n  - ${k1}\n  - ${k2}`);
  assert.deepEqual(over, [
    'p0.yaml:8:20: error: threshold 3 is more than the 2 authorities listed, so no image could pass (at spec.rules[0].signatures.threshold; found 3, expected at most 2)',
  ]);
});

void test('lint: schema-level mistakes (unknown fields, threshold 0, bad format) are reported by the schema', () => {
  const issues = lint(
    `threshold: 0\nformat: cosign\nauthorities:\n  - ${k1.replace('}}', '}, color: red}')}`,
  );
  assert.equal(issues.length >= 3, true, issues.join('\n'));
  assert.ok(issues.some((i) => i.includes('threshold')));
  assert.ok(issues.some((i) => i.includes('format')));
  assert.ok(issues.some((i) => i.includes('color')));
});

void test('compile: keys, defaults, sources and the public-good trust root for keyless', () => {
  const rule = compiled(
    [
      'threshold: 2',
      'format: legacy',
      'authorities:',
      `  - ${k1}`,
      `  - {name: k2, key: {path: "${KEYS}/k2.pub"}, source: {repository: "ghcr.io/acme/sigs", tagPrefix: "x-"}}`,
      '  - name: ci',
      '    keyless:',
      '      identities: [{issuer: "https://token.actions.githubusercontent.com", subjectRegExp: "https://github.com/acme/.+"}]',
      '      extensions: [{oid: githubWorkflowRepository, value: acme/api}]',
    ].join('\n'),
  );
  assert.equal(rule.threshold, 2);
  assert.equal(rule.format, 'legacy');
  assert.deepEqual(
    rule.authorities.map((a) => [a.name, a.kind]),
    [
      ['k1', 'key'],
      ['k2', 'key'],
      ['ci', 'keyless'],
    ],
  );
  const ci = rule.authorities[2];
  assert.ok(ci?.kind === 'keyless');
  assert.equal(ci.trustRoot.name, 'public-good');
  assert.equal(ci.tlog.required, true);
  assert.deepEqual(
    ci.extensions.map((e) => e.oid),
    ['1.3.6.1.4.1.57264.1.5'],
  );
  const key = rule.authorities[0];
  assert.ok(key?.kind === 'key');
  assert.equal(key.tlog.required, false, 'tlog optional for keys by default');
  assert.deepEqual(rule.sources.map(signatureSourceKey), ['|', 'ghcr.io/acme/sigs|x-']);
});

void test('evaluate: facts missing or unavailable fail with their reason, never pass', () => {
  const rule = compiled(`authorities:\n  - ${k1}`);
  const image = `registry.test/app@${IMG_A}`;
  assert.match(
    evaluateRule(rule, { image: 'x', reference: parseReference('registry.test/app:v1') }).reason,
    /^image digest unknown/,
  );
  assert.deepEqual(evaluateRule(rule, { ...facts(image), digest: unavailable('registry down') }), {
    verdict: 'fail',
    reason: 'image digest unknown: registry down',
  });
  assert.equal(evaluateRule(rule, facts(image, IMG_A)).reason, 'signatures were not fetched for this image');
  assert.equal(evaluateRule(rule, facts(image, IMG_A, unavailable('offline'))).reason, 'offline');
  assert.equal(
    evaluateRule(rule, facts(image, IMG_A, evidence(rule, unavailable('registry said 500')))).reason,
    'registry said 500',
  );
  const elsewhere = known({ digest: `sha256:${'b'.repeat(64)}`, sources: [] });
  assert.match(
    evaluateRule(rule, facts(image, IMG_A, elsewhere)).reason,
    /^signatures were fetched for sha256:b+, not for the image digest/,
  );
  const none = evaluateRule(rule, facts(image, IMG_A, evidence(rule, known([]))));
  assert.equal(none.verdict, 'fail');
  assert.equal(
    none.reason,
    `k1: no signatures found (looked for signatures of ${IMG_A} in registry.test/app)`,
  );
});

void test('evaluate: a real signature passes with evidence; the format filter and the threshold apply', () => {
  const image = `registry.test/app@${IMG_A}`;
  const rule = compiled(`authorities:\n  - ${k1}`);
  const ok = evaluateRule(rule, facts(image, IMG_A, evidence(rule, known(legacyA()))));
  assert.equal(ok.verdict, 'pass', ok.reason);
  assert.match(ok.reason, /^k1: key sha256:[0-9a-f]{64} \(test\/app:sig\)$/);
  assert.equal(ok.evidence?.signatures?.authorities[0]?.signature?.source, 'test/app:sig');

  const bundlesOnly = compiled(`format: bundle\nauthorities:\n  - ${k1}`);
  const filtered = evaluateRule(bundlesOnly, facts(image, IMG_A, evidence(bundlesOnly, known(legacyA()))));
  assert.equal(
    filtered.reason,
    `k1: no signatures found (looked for bundle signatures of ${IMG_A} in registry.test/app)`,
  );

  const two = compiled(`threshold: 2\nauthorities:\n  - ${k1}\n  - ${k2}`);
  const notMet = evaluateRule(two, facts(image, IMG_A, evidence(two, known(legacyA()))));
  assert.equal(notMet.verdict, 'fail');
  assert.match(notMet.reason, /^threshold 2 of 2 not met \(1\): k2: signature invalid/);
});

void test('evaluate: one verification per (fetched evidence, rule); another rule or other evidence is checked anew', () => {
  const image = `registry.test/app@${IMG_A}`;
  const byK1 = compiled(`authorities:\n  - ${k1}`);
  const byK2 = compiled(`authorities:\n  - {name: k1, key: {path: "${KEYS}/k2.pub"}}`);
  const shared = facts(image, IMG_A, evidence(byK1, known(legacyA())));
  const before = { ...signatureVerificationStats };
  const counted = () => ({
    computed: signatureVerificationStats.computed - before.computed,
    reused: signatureVerificationStats.reused - before.reused,
  });

  const first = evaluateRule(byK1, shared);
  assert.equal(first.verdict, 'pass', first.reason);
  assert.deepEqual(evaluateRule(byK1, { ...shared, image: 'registry.test/app:v1' }), first);
  assert.deepEqual(counted(), { computed: 1, reused: 1 });

  // The same evidence object under a rule with another key: its own verdict, never the first rule's.
  const other = evaluateRule(byK2, shared);
  assert.equal(other.verdict, 'fail');
  assert.match(other.reason, /^k1: signature invalid/);
  // Equal but distinct evidence (another decision, another run): checked again.
  assert.equal(evaluateRule(byK1, facts(image, IMG_A, evidence(byK1, known(legacyA())))).verdict, 'pass');
  assert.deepEqual(counted(), { computed: 3, reused: 1 });

  // A fact that fails the rule before verification never reaches the memo.
  const down = facts(image, IMG_A, evidence(byK1, unavailable('registry said 500')));
  assert.equal(evaluateRule(byK1, down).reason, 'registry said 500');
  assert.deepEqual(counted(), { computed: 3, reused: 1 });
});

void test('a key authority may hold several keys (rotation): any one of them satisfies it, once', () => {
  const both = `${KEYS}/both.pub`;
  writeFileSync(both, readFileSync(`${KEYS}/k2.pub`, 'utf8') + readFileSync(`${KEYS}/k1.pub`, 'utf8'));
  const image = `registry.test/app@${IMG_A}`;
  const rule = compiled(`authorities:\n  - {name: release, key: {path: "${both}"}}`);
  const ok = evaluateRule(rule, facts(image, IMG_A, evidence(rule, known(legacyA()))));
  assert.equal(ok.verdict, 'pass', ok.reason);
  assert.match(ok.reason, /^release: key sha256:[0-9a-f]{64}/);

  const bad = `${KEYS}/bad.pub`;
  writeFileSync(
    bad,
    readFileSync(`${KEYS}/k1.pub`, 'utf8') + '-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----\n',
  );
  const issues = lint(`authorities:\n  - {name: release, key: {path: "${bad}"}}`);
  assert.equal(issues.length, 1);
  assert.match(issues[0]!, /authority "release" key 2/);
});

void test('evaluate: static authorities need no signatures at all', () => {
  const rule = compiled(
    'authorities:\n  - {name: open, static: {action: pass, message: "allowed by exception"}}',
  );
  assert.deepEqual(rule.sources, []);
  const outcome = evaluateRule(rule, facts(`registry.test/app@${IMG_A}`, IMG_A));
  assert.equal(outcome.verdict, 'pass');
  assert.equal(outcome.reason, 'open: allowed by exception');
});

void test('requiredSignatureSources: only applicable policies, distinct sources, the formats they count', () => {
  const r = load(
    policyText(`authorities:\n  - ${k1}`, 'a', 'registry.test/**'),
    policyText(
      `format: bundle\nauthorities:\n  - ${k2}\n  - {name: k3, key: {path: "${KEYS}/k1.pub"}, source: {tagPrefix: p-}}`,
      'b',
      'registry.test/app',
    ),
    policyText(
      `authorities:\n  - {name: x, key: {path: "${KEYS}/k1.pub"}, source: {repository: elsewhere.test/sigs}}`,
      'c',
      'other.test/**',
    ),
  );
  assert.ok(r.ok, JSON.stringify(r));
  const needs = (image: string) =>
    requiredSignatureSources(r.policySet, parseReference(image)).map((n) => [n.key, n.formats.join('+')]);
  assert.deepEqual(needs('registry.test/app:v1'), [
    ['|', 'bundle+legacy'],
    ['|p-', 'bundle'],
  ]);
  assert.deepEqual(needs('registry.test/other:v1'), [['|', 'bundle+legacy']]);
  assert.deepEqual(needs('other.test/x:v1'), [['elsewhere.test/sigs|', 'bundle+legacy']]);
  assert.deepEqual(needs('nowhere.test/x:v1'), []);
});

void test('the decision carries the evidence in the rule result', () => {
  const r = load(policyText(`authorities:\n  - ${k1}`));
  assert.ok(r.ok);
  const rule = r.policySet.policies[0]?.rules[0] as SignaturesRule;
  const d = evaluatePolicies(
    r.policySet,
    facts(`registry.test/app@${IMG_A}`, IMG_A, evidence(rule, known(legacyA()))),
  );
  assert.equal(d.outcome, 'allow');
  assert.equal(d.policies[0]?.rules[0]?.evidence?.signatures?.satisfiedCount, 1);
});

void test('lint: attestations compile their authorities and threshold as signatures do, naming the attestation', () => {
  const { issues } = compileRule('attestations', [
    {
      name: 'sbom',
      predicateType: 'spdx',
      threshold: 3,
      authorities: [
        { name: 'ok', static: { action: 'pass' } },
        { name: 'ok', static: { action: 'pass' } },
      ],
    },
  ]);
  assert.deepEqual(
    issues.map((i) => [i.path.join('.'), i.message]),
    [
      ['0.authorities.1.name', 'authority name "ok" is used twice in this attestation (also authorities[0])'],
      ['0.threshold', 'threshold 3 is more than the 2 authorities listed, so no image could pass'],
    ],
  );
});

test('signatures: a pattern that would escape its anchors is an error at its own field', () => {
  const issues = lint(
    [
      'authorities:',
      '  - name: ci',
      '    keyless:',
      '      identities: [{issuer: "https://a", subjectRegExp: "x)|("}]',
    ].join('\n'),
  );
  // `^(?:x)|()$` would match any subject starting with x: refused where the pattern is written.
  assert.ok(
    issues.some(
      (i) => /identities\[0\]\.subjectRegExp/.test(i) && i.includes('invalid regular expression "x)|("'),
    ),
    issues.join('\n'),
  );
});
