/**
 * Attestations end to end against a real registry (Debian docker-registry on loopback): written by
 * `attestImage` (what `portcullis attest` runs) as cosign `.att` layers and as DSSE bundle referrers,
 * found by the attestation provider, verified and judged by the `attestations` rule through the real
 * decider. Each attack class is a test of its own: wrong predicate type (GHSA-vjxv-45g9-9296 /
 * GHSA-739f-hw6h-7wq8), another image's subject, tampered payload, look-alike payloadType
 * (GHSA-jfc7-64v2-mr8c), unparsable payload (GHSA-w6c6-c85g-mmv6), conditions false, erroring and
 * over budget, the wrong key, and one of two required attestations missing.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { readFileSync } from 'node:fs';
import { createDecider } from '../../src/app/decide.ts';
import type { Decision } from '../../src/engine/decision.ts';
import type { PolicySet } from '../../src/policy/model.ts';
import { createRegistryClient, type RegistryClient } from '../../src/registry/client.ts';
import type { PartialLimits } from '../../src/registry/limits.ts';
import { createRegistryPusher, type RegistryPusher } from '../../src/registry/push.ts';
import { parseReference, withDigest } from '../../src/reference/index.ts';
import type { ImageReference } from '../../src/reference/types.ts';
import { decryptPrivateKey, type SigningKey } from '../../src/signing/keys.ts';
import {
  ANNOTATION_PREDICATE_TYPE,
  attestationStatement,
  attestImage,
  pushLegacyAttestation,
  signEnvelope,
} from '../../src/signing/attest.ts';
import { ANNOTATION_SIGNATURE, signImage } from '../../src/signing/sign.ts';
import { startRegistry, type RunningRegistry } from '../harness/registry.ts';
import { buildImage, pushBuilt } from '../harness/images.ts';
import {
  attestationPolicy,
  KEYS,
  keyAuthorities,
  loadPolicyText,
  PASSPHRASE,
  pubKeyPath,
} from './support.ts';

const SPDX = 'https://spdx.dev/Document';
const VULN = 'https://cosign.sigstore.dev/attestation/vuln/v1';
const SLSA1 = 'https://slsa.dev/provenance/v1';
const SBOM = { spdxVersion: 'SPDX-2.3', name: 'app', packages: [{ name: 'openssl', versionInfo: '3.0.13' }] };

let registry: RunningRegistry;
let client: RegistryClient;
let pusher: RegistryPusher;
let k1: SigningKey;
let k2: SigningKey;
let seq = 0;

before(async () => {
  registry = await startRegistry();
  client = createRegistryClient({ insecureRegistries: [registry.host] });
  pusher = createRegistryPusher({ insecureRegistries: [registry.host] });
  k1 = await decryptPrivateKey(readFileSync(`${KEYS}/k1.private`, 'utf8'), PASSPHRASE);
  k2 = await decryptPrivateKey(readFileSync(`${KEYS}/k2.private`, 'utf8'), PASSPHRASE);
});

after(async () => {
  await client?.close();
  await pusher?.close();
  await registry?.stop();
});

/** A fresh image pushed as `<repo>:v1`, with its digest reference. */
async function image(): Promise<ImageReference> {
  const repo = `att/app${++seq}`;
  const built = buildImage({ seed: `attest-${seq}` });
  await pushBuilt(registry.host, repo, built, 'v1');
  return withDigest(parseReference(`${registry.host}/${repo}:v1`), built.digest);
}

async function decide(policySet: PolicySet, ref: ImageReference): Promise<Decision> {
  const decider = createDecider(policySet, { offline: false, registry: client, timeoutMs: 20_000 });
  return decider.decide(`${ref.registry}/${ref.repository}:v1`);
}

const attest = (
  ref: ImageReference,
  predicateType: string,
  predicate: unknown,
  key = k1,
  format: 'legacy' | 'bundle' = 'legacy',
) => attestImage(client, pusher, key, ref, { predicateType, predicate, format });

/** A hand-made `.att` layer for `ref` (negative cases). */
const pushEnvelope = (ref: ImageReference, envelope: unknown, predicateType = SPDX) =>
  pushLegacyAttestation(client, pusher, ref, ref.digest as string, Buffer.from(JSON.stringify(envelope)), {
    [ANNOTATION_SIGNATURE]: '',
    [ANNOTATION_PREDICATE_TYPE]: predicateType,
  });

const sbomPolicy = (condition = "predicate.spdxVersion == 'SPDX-2.3'", keys = ['k1']) =>
  loadPolicyText(
    attestationPolicy(`
- name: sbom
  predicateType: spdx
  ${keyAuthorities(...keys)}
  condition: ${JSON.stringify(condition)}
`),
  );

function denied(d: Decision, pattern: RegExp): void {
  assert.equal(d.allowed, false, `expected a denial, got ${JSON.stringify(d.reasons)}`);
  assert.match(d.reasons.join('\n'), pattern);
}

describe('attest, then verify', () => {
  it('a legacy .att attestation satisfies the policy; the decision names the statement and signer', async () => {
    const ref = await image();
    const written = await attest(ref, SPDX, SBOM);
    assert.equal(
      written.written,
      `${registry.host}/${ref.repository}:${(ref.digest as string).replace(':', '-')}.att`,
    );
    const d = await decide(await sbomPolicy(), ref);
    assert.equal(d.allowed, true, JSON.stringify(d.reasons));
    const rule = d.policies[0]?.rules[0];
    assert.equal(rule?.verdict, 'pass');
    const evidence = rule?.evidence?.attestations?.[0];
    assert.equal(evidence?.satisfied, true);
    assert.equal(evidence?.predicateType, SPDX);
    assert.equal(evidence?.statements?.[0]?.authority, 'k1');
    assert.equal(evidence?.statements?.[0]?.source, written.written);
    assert.match(evidence?.statements?.[0]?.keyFingerprint ?? '', /^sha256:[0-9a-f]{64}$/);
    assert.match(
      rule?.reason ?? '',
      /^attestation sbom: https:\/\/spdx\.dev\/Document by k1: key sha256:[0-9a-f]{64} \(/,
    );
  });

  it('a DSSE bundle referrer satisfies the policy too, and the statement is in-toto v1 with the repository as subject name', async () => {
    const ref = await image();
    const written = await attest(ref, SPDX, SBOM, k1, 'bundle');
    assert.match(written.written, /@sha256:[0-9a-f]{64}$/);
    const d = await decide(await sbomPolicy(), ref);
    assert.equal(d.allowed, true, JSON.stringify(d.reasons));
    const statement = JSON.parse(attestationStatement(ref, ref.digest as string, SPDX, SBOM).toString()) as {
      _type: string;
      subject: { name: string; digest: Record<string, string> }[];
    };
    assert.equal(statement._type, 'https://in-toto.io/Statement/v1');
    assert.deepEqual(statement.subject, [
      { name: `${registry.host}/${ref.repository}`, digest: { sha256: (ref.digest as string).slice(7) } },
    ]);
  });

  it('conditions see statement, predicate, predicateType, subject, signer, image and now', async () => {
    const ref = await image();
    await attest(ref, SPDX, SBOM);
    const condition = [
      "statement._type == 'https://in-toto.io/Statement/v1'",
      `predicateType == '${SPDX}'`,
      `subject.exists(s, 'sha256:' + s.digest.sha256 == image.digest)`,
      "signer.authority == 'k1' && signer.keyFingerprint.startsWith('sha256:')",
      `image.repository == '${ref.repository}' && image.tag == 'v1'`,
      "now > timestamp('2020-01-01T00:00:00Z')",
      "predicate.packages.exists(p, p.name == 'openssl')",
    ].join(' && ');
    const d = await decide(await sbomPolicy(condition), ref);
    assert.equal(d.allowed, true, JSON.stringify(d.reasons));
  });
});

describe('sources', () => {
  it('attestations in another repository under a tag prefix are found where the authority says, and only there', async () => {
    const ref = await image();
    const store = `${registry.host}/att/store`;
    await attestImage(client, pusher, k1, ref, {
      predicateType: SPDX,
      predicate: SBOM,
      tagPrefix: 'x-',
      signatureRepository: { registry: registry.host, repository: 'att/store' },
    });
    const at = (source: string) =>
      loadPolicyText(
        attestationPolicy(`
- name: sbom
  predicateType: spdx
  authorities: [{name: k1, key: {path: "${pubKeyPath('k1')}"}, source: ${source}}]
`),
      );
    const d = await decide(await at(`{repository: ${store}, tagPrefix: x-}`), ref);
    assert.equal(d.allowed, true, JSON.stringify(d.reasons));
    assert.equal(
      d.policies[0]?.rules[0]?.evidence?.attestations?.[0]?.statements?.[0]?.source,
      `${store}:x-${(ref.digest as string).replace(':', '-')}.att`,
    );
    denied(
      await decide(await at(`{repository: ${store}}`), ref),
      /no attestations of type https:\/\/spdx\.dev\/Document found in .*att\/store \(found types: none\)/,
    );
  });
});

describe('denials', () => {
  it('GHSA-vjxv / GHSA-739f: only a vuln attestation, the policy requires SPDX: denied, naming the types found', async () => {
    const ref = await image();
    await attest(ref, VULN, { scanner: { result: { vulnerabilities: [] } }, metadata: {} });
    const d = await decide(await sbomPolicy(), ref);
    denied(
      d,
      /rule attested: attestation sbom: no attestations of type https:\/\/spdx\.dev\/Document found in .* \(found types: https:\/\/cosign\.sigstore\.dev\/attestation\/vuln\/v1\)$/m,
    );
  });

  it('a statement whose subject is another image is not counted', async () => {
    const ref = await image();
    const other = await image();
    const statement = attestationStatement(other, other.digest as string, SPDX, SBOM);
    await pushEnvelope(ref, signEnvelope(k1, statement));
    denied(
      await decide(await sbomPolicy(), ref),
      /attestation of type https:\/\/spdx\.dev\/Document not signed by authority k1: no in-toto subject has the artifact digest sha256:/,
    );
  });

  it('a tampered payload fails the signature', async () => {
    const ref = await image();
    const envelope = signEnvelope(k1, attestationStatement(ref, ref.digest as string, SPDX, SBOM));
    const forged = attestationStatement(ref, ref.digest as string, SPDX, {
      ...SBOM,
      spdxVersion: 'SPDX-2.3',
      packages: [],
    });
    await pushEnvelope(ref, { ...envelope, payload: forged.toString('base64') });
    denied(
      await decide(await sbomPolicy('predicate.packages.size() == 0'), ref),
      /not signed by authority k1: signature invalid/,
    );
  });

  it('GHSA-jfc7: a payloadType with look-alike characters (latin1 aliases of the in-toto type) is refused', async () => {
    const ref = await image();
    const statement = attestationStatement(ref, ref.digest as string, SPDX, SBOM);
    // U+016A and U+0174 encode to 'j' and 't' in latin1: a PAE built that way would verify.
    const lookAlike = 'applica\u0174ion/vnd.in-toto+\u016Ason';
    const envelope = signEnvelope(k1, statement);
    await pushEnvelope(ref, { ...envelope, payloadType: lookAlike });
    const other = await image();
    await pushEnvelope(
      other,
      signEnvelope(k1, attestationStatement(other, other.digest as string, SPDX, SBOM), lookAlike),
    );
    for (const r of [ref, other]) {
      denied(
        await decide(await sbomPolicy(), r),
        /not signed by authority k1: DSSE payloadType ".*" is not application\/vnd\.in-toto\+json/,
      );
    }
  });

  it('GHSA-w6c6: an unparsable payload is a failure, never a pass', async () => {
    const ref = await image();
    await pushEnvelope(ref, signEnvelope(k1, Buffer.from('{"predicateType": "https://spdx.dev/Document", ')));
    denied(
      await decide(await sbomPolicy('true'), ref),
      /no attestations of type https:\/\/spdx\.dev\/Document found .*\(found types: none; 1 unreadable: DSSE payload is not JSON\)/,
    );
    // A statement with the right type but no subject parses, and still fails verification.
    const noSubject = Buffer.from(
      JSON.stringify({ _type: 'https://in-toto.io/Statement/v1', predicateType: SPDX, predicate: {} }),
    );
    const other = await image();
    await pushEnvelope(other, signEnvelope(k1, noSubject));
    denied(
      await decide(await sbomPolicy('true'), other),
      /not signed by authority k1: in-toto statement has no subject/,
    );
  });

  it('condition false: denied with the expression', async () => {
    const ref = await image();
    await attest(ref, SPDX, SBOM);
    denied(
      await decide(await sbomPolicy("predicate.spdxVersion == 'SPDX-3.0'"), ref),
      /rule attested: attestation sbom: condition false: predicate\.spdxVersion == 'SPDX-3\.0' \(statement signed by key sha256:[0-9a-f]{64} \(.*\.att\)\)$/m,
    );
  });

  it('condition erroring (a missing field): denied with the expression and the error', async () => {
    const ref = await image();
    await attest(ref, SPDX, SBOM);
    denied(
      await decide(await sbomPolicy('predicate.creationInfo.created != ""'), ref),
      /rule attested: attestation sbom: condition error: condition `predicate\.creationInfo\.created != ""`: field not found: creationInfo \(line 1, column 10\)/m,
    );
  });

  it('a condition over its cost budget denies', async () => {
    const ref = await image();
    // Each contains() over the 200,000-character string costs 20,000 units: 100 of them exceed 1,000,000.
    const packages = Array.from({ length: 100 }, (_, i) => ({ name: `p${i}` }));
    await attest(ref, SPDX, { ...SBOM, packages, blob: 'x'.repeat(200_000) });
    denied(
      await decide(await sbomPolicy('predicate.packages.all(p, !predicate.blob.contains(p.name))'), ref),
      /condition error: condition `predicate\.packages\.all\(p, !predicate\.blob\.contains\(p\.name\)\)`: .*cost budget/,
    );
  });

  it('an attestation signed by the wrong key is not counted', async () => {
    const ref = await image();
    await attest(ref, SPDX, SBOM, k2);
    denied(
      await decide(await sbomPolicy(), ref),
      /rule attested: attestation sbom: attestation of type https:\/\/spdx\.dev\/Document not signed by authority k1: signature invalid/m,
    );
  });

  it('two required attestations, one missing: denied for the missing one only', async () => {
    const ref = await image();
    await attest(ref, SPDX, SBOM);
    const policy = await loadPolicyText(
      attestationPolicy(`
- name: sbom
  predicateType: spdx
  ${keyAuthorities('k1')}
- name: provenance
  predicateType: slsaprovenance1
  ${keyAuthorities('k1')}
`),
    );
    const d = await decide(policy, ref);
    denied(
      d,
      /rule attested: attestation provenance: no attestations of type https:\/\/slsa\.dev\/provenance\/v1 found .*\(found types: https:\/\/spdx\.dev\/Document\)$/m,
    );
    assert.doesNotMatch(d.reasons.join('\n'), /attestation sbom/);
    const evidence = d.policies[0]?.rules[0]?.evidence?.attestations;
    assert.deepEqual(
      evidence?.map((e) => [e.name, e.satisfied]),
      [
        ['sbom', true],
        ['provenance', false],
      ],
    );
    await attest(ref, SLSA1, { buildDefinition: {}, runDetails: { builder: { id: 'x' } } });
    assert.equal((await decide(policy, ref)).allowed, true);
  });

  it('two authorities, threshold 2: one statement counts once; two signers pass', async () => {
    const ref = await image();
    await attest(ref, SPDX, SBOM, k1);
    const policy = await loadPolicyText(
      attestationPolicy(`
- name: sbom
  predicateType: spdx
  ${keyAuthorities('k1', 'k2')}
  threshold: 2
`),
    );
    denied(
      await decide(policy, ref),
      /threshold 2 of 2 not met \(1\): k2: attestation of type .* not signed by authority k2: signature invalid/,
    );
    await attest(ref, SPDX, SBOM, k2);
    assert.equal((await decide(policy, ref)).allowed, true);
  });

  it('image signatures beside the attestations are not attestations: the cosign v3 type is listed, a message signature skipped', async () => {
    const ref = await image();
    await signImage(client, pusher, k1, ref, { format: 'bundle', bundleContent: 'message-signature' });
    await signImage(client, pusher, k1, ref, { format: 'bundle' });
    denied(
      await decide(await sbomPolicy(), ref),
      /no attestations of type https:\/\/spdx\.dev\/Document found .*\(found types: https:\/\/sigstore\.dev\/cosign\/sign\/v1\)$/m,
    );
  });

  it('GHSA-vfp6: more attestation layers or blobs than the limits: denied with the registry message, not skipped', async () => {
    const ref = await image();
    await attest(ref, SPDX, SBOM, k1);
    await attest(ref, SPDX, SBOM, k2);
    await attest(ref, SPDX, { ...SBOM, padding: 'x'.repeat(4096) }, k1);
    const tight = async (limits: PartialLimits) => {
      const small = createRegistryClient({ insecureRegistries: [registry.host], limits });
      try {
        const decider = createDecider(await sbomPolicy(), {
          offline: false,
          registry: small,
          timeoutMs: 20_000,
        });
        return await decider.decide(`${ref.registry}/${ref.repository}:v1`);
      } finally {
        await small.close();
      }
    };
    denied(
      await tight({ signatureLayers: 2 }),
      /attestation sbom: could not fetch attestations from .*: attachment sha256:[0-9a-f]{64} has 3 layers, more than the limit of 2$/m,
    );
    denied(
      await tight({ blob: { attestation: 2048 } }),
      /attestation sbom: could not fetch attestations from .*: blob is \d+ bytes by its descriptor, more than the limit of 2048$/m,
    );
    assert.equal((await decide(await sbomPolicy(), ref)).allowed, true);
  });

  it('no attestation at all: denied; a registry that cannot be read: denied with its message', async () => {
    const ref = await image();
    denied(
      await decide(await sbomPolicy(), ref),
      /no attestations of type https:\/\/spdx\.dev\/Document found .*\(found types: none\)/,
    );
    const offline = createDecider(await sbomPolicy(), { offline: true, timeoutMs: 5_000 });
    const d = await offline.decide(`${ref.registry}/${ref.repository}@${ref.digest}`);
    denied(d, /attestations are stored in the registry, and --offline prevents fetching them/);
  });
});
