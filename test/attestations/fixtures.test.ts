/**
 * Real attestations made by other implementations, judged by the `attestations` rule's evaluate with
 * facts built from the fixture (as the provider would build them): cosign's v0.3 DSSE bundle
 * (`oci-attestation.sigstore.json`, keyless, public-good) and sigstore-go's v0.1 DSSE bundle of SLSA
 * v0.2 provenance (intoto tlog entry, sha512 subject). Also: lint positions of CEL errors inside the
 * expression, and short predicate type names.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { readFileSync } from 'node:fs';
import type { ImageFacts } from '../../src/engine/facts.ts';
import { known } from '../../src/engine/facts.ts';
import type { AttestationsRule, PolicySet } from '../../src/policy/model.ts';
import { parseReference } from '../../src/reference/index.ts';
import { attestations, expandPredicateType } from '../../src/rules/attestations.ts';
import { signatureSourceKey } from '../../src/rules/signatures.ts';
import { fixturePath } from '../harness/fixtures.ts';
import { attestationPolicy, lintPolicyText, loadPolicyText } from './support.ts';

const COSIGN_BUNDLE = fixturePath('sigstore', 'cosign', 'pkg/cosign/testdata/oci-attestation.sigstore.json');
const GO_BUNDLE = fixturePath('sigstore', 'sigstore-go', 'pkg/testing/data/bundles/dsse.sigstore.json');
/** go-containerregistry's empty.Image, the cosign fixture's subject. */
const EMPTY_IMAGE = 'sha256:732112270d7e59418a8c080b134b24cabd67d250d0d0147a97ed95ba5c280aa4';
const GO_SUBJECT =
  'sha512:bbfd372fc9beeb777fe35d05bb10c0c70a9733d366a75fed7dd18866c7391de3ee7e88ba74dd47abf3e15c845e547fcf0e5c3da80854c751554224d3a6d4e55f';

function ruleOf(set: PolicySet): AttestationsRule {
  const rule = set.policies[0]?.rules[0];
  assert.equal(rule?.kind, 'attestations');
  return rule as AttestationsRule;
}

function factsFor(rule: AttestationsRule, digest: string, bundle: Uint8Array, time = new Date()): ImageFacts {
  const image = `registry.example/app@${digest}`;
  const source = rule.attestations[0]?.sources[0];
  assert.ok(source);
  return {
    image,
    reference: parseReference(image),
    digest: known(digest),
    attestations: known({
      digest,
      time,
      sources: [
        {
          key: signatureSourceKey(source),
          location: 'registry.example/app',
          candidates: known([{ kind: 'bundle', source: 'fixture referrer', bundle }]),
        },
      ],
    }),
  };
}

const keyless = (subject: string, issuer: string) =>
  `authorities: [{name: signer, keyless: {identities: [{issuer: "${issuer}", subject: "${subject}"}]}}]`;

describe('fixture attestations through the rule', () => {
  it("cosign's v0.3 DSSE bundle: the custom predicate verifies and its condition is evaluated", async () => {
    const rule = ruleOf(
      await loadPolicyText(
        attestationPolicy(`
- name: custom
  predicateType: custom
  ${keyless('cody@soyland.com', 'https://github.com/login/oauth')}
  condition: "statement._type == 'https://in-toto.io/Statement/v0.1' && predicate.Data.contains('foo') && signer.subject == 'cody@soyland.com' && signer.issuer == 'https://github.com/login/oauth'"
`),
      ),
    );
    const outcome = attestations.evaluate(rule, factsFor(rule, EMPTY_IMAGE, readFileSync(COSIGN_BUNDLE)));
    assert.equal(outcome.verdict, 'pass', outcome.reason);
    assert.match(
      outcome.reason,
      /^attestation custom: https:\/\/cosign\.sigstore\.dev\/attestation\/v1 by signer: cody@soyland\.com from issuer https:\/\/github\.com\/login\/oauth; tlog index \d+/,
    );
    const statement = outcome.evidence?.attestations?.[0]?.statements?.[0];
    assert.equal(statement?.subject, 'cody@soyland.com');
    assert.equal(statement?.issuer, 'https://github.com/login/oauth');
    assert.equal(statement?.source, 'fixture referrer');
  });

  it('cosign bundle: wrong type, another image, another identity, condition false all deny', async () => {
    const load = async (type: string, identity = 'cody@soyland.com', condition = 'true') =>
      ruleOf(
        await loadPolicyText(
          attestationPolicy(`
- name: a
  predicateType: ${type}
  ${keyless(identity, 'https://github.com/login/oauth')}
  condition: ${JSON.stringify(condition)}
`),
        ),
      );
    const bundle = readFileSync(COSIGN_BUNDLE);
    const spdx = await load('spdx');
    assert.equal(
      attestations.evaluate(spdx, factsFor(spdx, EMPTY_IMAGE, bundle)).reason,
      'attestation a: no attestations of type https://spdx.dev/Document found in registry.example/app (found types: https://cosign.sigstore.dev/attestation/v1)',
    );
    const custom = await load('custom');
    const other = attestations.evaluate(custom, factsFor(custom, `sha256:${'1'.repeat(64)}`, bundle));
    assert.equal(other.verdict, 'fail');
    assert.match(
      other.reason,
      /not signed by authority signer: no in-toto subject has the artifact digest sha256:1{64}/,
    );
    const mallory = await load('custom', 'mallory@example.com');
    assert.match(
      attestations.evaluate(mallory, factsFor(mallory, EMPTY_IMAGE, bundle)).reason,
      /not signed by authority signer: identity mismatch: got cody@soyland\.com from issuer https:\/\/github\.com\/login\/oauth/,
    );
    const old = await load('custom', 'cody@soyland.com', "isWithin(predicate.Timestamp, '24h')");
    assert.match(
      attestations.evaluate(old, factsFor(old, EMPTY_IMAGE, bundle, new Date('2026-11-27T00:00:00Z'))).reason,
      /^attestation a: condition false: isWithin\(predicate\.Timestamp, '24h'\) \(statement signed by cody@soyland\.com/,
    );
    const fresh = attestations.evaluate(
      old,
      factsFor(old, EMPTY_IMAGE, bundle, new Date('2025-02-28T20:00:00Z')),
    );
    assert.equal(fresh.verdict, 'pass', fresh.reason);
  });

  it("sigstore-go's v0.1 DSSE bundle: SLSA v0.2 provenance (intoto tlog entry, sha512 subject) from a builder", async () => {
    const load = async (builder: string) =>
      ruleOf(
        await loadPolicyText(
          attestationPolicy(`
- name: provenance
  predicateType: slsaprovenance
  ${keyless('brian@dehamer.com', 'https://github.com/login/oauth')}
  condition: "predicate.builder.id == '${builder}'"
`),
        ),
      );
    const bundle = readFileSync(GO_BUNDLE);
    const ok = await load('https://github.com/npm/slsa-provenance@0.0.1');
    const passed = attestations.evaluate(ok, factsFor(ok, GO_SUBJECT, bundle));
    assert.equal(passed.verdict, 'pass', passed.reason);
    const wrong = await load('https://github.com/evil/builder');
    assert.match(
      attestations.evaluate(wrong, factsFor(wrong, GO_SUBJECT, bundle)).reason,
      /condition false: predicate\.builder\.id == 'https:\/\/github\.com\/evil\/builder'/,
    );
  });

  it('a tampered fixture payload and a garbage bundle deny', async () => {
    const rule = ruleOf(
      await loadPolicyText(
        attestationPolicy(`
- name: custom
  predicateType: custom
  ${keyless('cody@soyland.com', 'https://github.com/login/oauth')}
`),
      ),
    );
    const json = JSON.parse(readFileSync(COSIGN_BUNDLE, 'utf8')) as { dsseEnvelope: { payload: string } };
    const statement = JSON.parse(Buffer.from(json.dsseEnvelope.payload, 'base64').toString()) as Record<
      string,
      unknown
    >;
    json.dsseEnvelope.payload = Buffer.from(
      JSON.stringify({ ...statement, predicate: { Data: 'tampered' } }),
    ).toString('base64');
    const tampered = attestations.evaluate(
      rule,
      factsFor(rule, EMPTY_IMAGE, Buffer.from(JSON.stringify(json))),
    );
    assert.equal(tampered.verdict, 'fail');
    assert.match(
      tampered.reason,
      /not signed by authority signer: (signature invalid|transparency log entry does not match)/,
    );
    const garbage = attestations.evaluate(rule, factsFor(rule, EMPTY_IMAGE, Buffer.from('{not json')));
    assert.match(garbage.reason, /found types: none; 1 unreadable: bundle is not JSON/);
  });
});

describe('policy loading', () => {
  it('CEL compile errors point inside the expression (file:line:column)', async () => {
    const text = attestationPolicy(`
- name: sbom
  predicateType: spdx
  authorities: [{name: s, static: {action: pass}}]
  condition: predicate.spdxVersion == 'SPDX-2.3' && bogus.x
- name: quoted
  predicateType: spdx
  authorities: [{name: s, static: {action: pass}}]
  condition: "predicate.a == 1 && nope"
- name: block
  predicateType: spdx
  authorities: [{name: s, static: {action: pass}}]
  condition: |-
    predicate.a == 1 &&
    predicate.b.exists(x, x = 1)
- name: folded
  predicateType: spdx
  authorities: [{name: s, static: {action: pass}}]
  condition: >-
    predicate.a == 1 &&
    nope2
`);
    const { diagnostics } = await lintPolicyText(text);
    const lines = text.split('\n');
    const at = (d: { line: number; column: number }) => (lines[d.line - 1] ?? '').slice(d.column - 1);
    const [plain, quoted, block] = diagnostics;
    assert.match(plain?.message ?? '', /^invalid condition: undeclared variable 'bogus'/);
    assert.ok(at(plain!).startsWith('bogus.x'), at(plain!));
    assert.match(quoted?.message ?? '', /undeclared variable 'nope'/);
    assert.ok(at(quoted!).startsWith('nope"'), at(quoted!));
    // A block scalar: the YAML value's position, and the place inside the expression in the message.
    assert.match(block?.message ?? '', /^invalid condition: .*\(line 2, column \d+ of the expression\)$/);
    // A folded scalar is one line once folded: its column inside the expression is in the message.
    const folded = diagnostics[3];
    assert.match(
      folded?.message ?? '',
      /^invalid condition: undeclared variable 'nope2' .*\(column 21 of the expression\)$/,
    );
    assert.equal(diagnostics.length, 4);
  });

  it('predicate types: short names expand, anything else must be a URI; bad thresholds are refused', async () => {
    assert.equal(expandPredicateType('slsaprovenance'), 'https://slsa.dev/provenance/v0.2');
    assert.equal(expandPredicateType('slsaprovenance1'), 'https://slsa.dev/provenance/v1');
    assert.equal(expandPredicateType('spdxjson'), 'https://spdx.dev/Document');
    assert.equal(expandPredicateType('cyclonedx'), 'https://cyclonedx.org/bom');
    assert.equal(expandPredicateType('vuln'), 'https://cosign.sigstore.dev/attestation/vuln/v1');
    assert.equal(expandPredicateType('openvex'), 'https://openvex.dev/ns');
    assert.equal(expandPredicateType('custom'), 'https://cosign.sigstore.dev/attestation/v1');
    assert.equal(expandPredicateType('https://example.com/x/v1'), 'https://example.com/x/v1');
    assert.equal(expandPredicateType('sbom'), undefined);
    const { diagnostics } = await lintPolicyText(
      attestationPolicy(`
- name: a
  predicateType: sbom
  authorities: [{name: s, static: {action: pass}}]
  threshold: 2
`),
    );
    assert.deepEqual(
      diagnostics.map((d) => d.message),
      [
        'predicateType "sbom" is neither a URI nor a short name (slsaprovenance, slsaprovenance02, slsaprovenance1, spdx, spdxjson, cyclonedx, vuln, openvex, custom)',
        'threshold 2 is more than the 1 authorities listed, so no image could pass',
      ],
    );
  });
});
