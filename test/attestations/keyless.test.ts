/**
 * Keyless attestations end to end without Sigstore's servers: the tests' own CA, CT log and Rekor
 * (test/harness/sigstore-instance.ts) sign an SLSA statement as a GitHub Actions workflow would; it is
 * pushed as a cosign `.att` layer (certificate and Rekor bundle annotations, dsse Rekor entry) and as a
 * DSSE bundle referrer, and judged through the registry by a keyless attestations policy with a
 * private trust root. The signer's identity reaches the condition as `signer`.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { sign } from 'node:crypto';
import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createDecider } from '../../src/app/decide.ts';
import type { Decision } from '../../src/engine/decision.ts';
import { loadPolicyPaths } from '../../src/policy/load.ts';
import { createRegistryClient, type RegistryClient } from '../../src/registry/client.ts';
import { createRegistryPusher, type RegistryPusher } from '../../src/registry/push.ts';
import { parseReference, withDigest } from '../../src/reference/index.ts';
import type { ImageReference } from '../../src/reference/types.ts';
import { attestationStatement, pushLegacyAttestation } from '../../src/signing/attest.ts';
import { pushBundleReferrer } from '../../src/signing/sign.ts';
import { startRegistry, type RunningRegistry } from '../harness/registry.ts';
import { buildImage, pushBuilt } from '../harness/images.ts';
import {
  createSigstoreInstance,
  dsseRekorBody,
  GITHUB_ISSUER,
  pae,
  type Leaf,
} from '../harness/sigstore-instance.ts';

const IN_TOTO = 'application/vnd.in-toto+json';
const SLSA1 = 'https://slsa.dev/provenance/v1';
const WORKFLOW = 'https://github.com/acme/app/.github/workflows/release.yml@refs/tags/v1.0.0';
const sigstore = createSigstoreInstance({ name: 'attest.portcullis.test' });
const release = sigstore.issueLeaf({ sans: [{ uri: WORKFLOW }], issuer: GITHUB_ISSUER });
const fork = sigstore.issueLeaf({
  sans: [{ uri: 'https://github.com/evil/app/.github/workflows/release.yml@refs/tags/v1.0.0' }],
  issuer: GITHUB_ISSUER,
});

let registry: RunningRegistry;
let client: RegistryClient;
let pusher: RegistryPusher;
let dir: string;
let seq = 0;

before(async () => {
  registry = await startRegistry();
  client = createRegistryClient({ insecureRegistries: [registry.host] });
  pusher = createRegistryPusher({ insecureRegistries: [registry.host] });
  dir = await mkdtemp(join(tmpdir(), 'portcullis-att-keyless-'));
  await writeFile(join(dir, 'trusted_root.json'), JSON.stringify(sigstore.trustedRoot()));
  await writeFile(
    join(dir, 'policy.yaml'),
    `apiVersion: portcullis.dev/v1alpha1
kind: ImagePolicy
metadata: {name: provenance}
spec:
  images: [{glob: "**"}]
  rules:
    - name: provenance
      attestations:
        - name: slsa
          predicateType: slsaprovenance1
          authorities:
            - name: github-release
              trustRoot: trusted_root.json
              keyless:
                identities:
                  - issuer: ${GITHUB_ISSUER}
                    subjectRegExp: 'https://github\\.com/acme/[^/]+/\\.github/workflows/release\\.yml@refs/tags/v.*'
          condition: >-
            predicate.buildDefinition.externalParameters.workflow.repository == 'https://github.com/acme/app' &&
            signer.subject == '${WORKFLOW}' && signer.issuer == '${GITHUB_ISSUER}' && size(signer.signedAt) == 1
`,
  );
});

after(async () => {
  await client?.close();
  await pusher?.close();
  await registry?.stop();
});

async function image(): Promise<ImageReference> {
  const repo = `keyless/app${++seq}`;
  const built = buildImage({ seed: `att-keyless-${seq}` });
  await pushBuilt(registry.host, repo, built, 'v1');
  return withDigest(parseReference(`${registry.host}/${repo}:v1`), built.digest);
}

/** A keyless DSSE envelope of an SLSA statement for `ref`, logged in the instance's Rekor (dsse 0.0.1). */
function signed(leaf: Leaf, ref: ImageReference, repository = 'https://github.com/acme/app') {
  const statement = attestationStatement(ref, ref.digest as string, SLSA1, {
    buildDefinition: { externalParameters: { workflow: { repository } } },
    runDetails: { builder: { id: 'https://github.com/actions/runner' } },
  });
  const sig = sign('sha256', pae(IN_TOTO, statement), leaf.privateKey).toString('base64');
  const envelope = {
    payloadType: IN_TOTO,
    payload: statement.toString('base64'),
    signatures: [{ keyid: '', sig }],
  };
  const integratedTime = Math.floor(leaf.validity.notBefore.getTime() / 1000) + 60;
  const entry = sigstore.rekor.append(
    dsseRekorBody(statement, envelope, sig, leaf.pem),
    'dsse',
    integratedTime,
  );
  return { envelope, entry };
}

async function pushLegacy(leaf: Leaf, ref: ImageReference, repository?: string): Promise<void> {
  const { envelope, entry } = signed(leaf, ref, repository);
  const rekorBundle = JSON.stringify({
    SignedEntryTimestamp: entry.set,
    Payload: {
      body: entry.bodyB64,
      integratedTime: entry.integratedTime,
      logIndex: entry.logIndex,
      logID: entry.logIdHex,
    },
  });
  await pushLegacyAttestation(
    client,
    pusher,
    ref,
    ref.digest as string,
    Buffer.from(JSON.stringify(envelope)),
    {
      'dev.cosignproject.cosign/signature': '',
      'dev.sigstore.cosign/certificate': leaf.pem,
      'dev.sigstore.cosign/bundle': rekorBundle,
      predicateType: SLSA1,
    },
  );
}

async function pushBundle(leaf: Leaf, ref: ImageReference): Promise<void> {
  const { envelope, entry } = signed(leaf, ref);
  const bundle = {
    mediaType: 'application/vnd.dev.sigstore.bundle.v0.3+json',
    verificationMaterial: {
      certificate: { rawBytes: leaf.der.toString('base64') },
      tlogEntries: [
        {
          logIndex: String(entry.logIndex),
          logId: { keyId: sigstore.rekor.logId.toString('base64') },
          kindVersion: { kind: 'dsse', version: '0.0.1' },
          integratedTime: String(entry.integratedTime),
          inclusionPromise: { signedEntryTimestamp: entry.set },
          inclusionProof: entry.inclusionProof,
          canonicalizedBody: entry.bodyB64,
        },
      ],
      timestampVerificationData: { rfc3161Timestamps: [] },
    },
    dsseEnvelope: envelope,
  };
  const manifest = await client.repository(ref.registry, ref.repository).fetchManifest(ref.digest as string);
  await pushBundleReferrer(
    client,
    pusher,
    ref,
    { ...manifest.descriptor, digest: ref.digest as string },
    {
      bytes: Buffer.from(JSON.stringify(bundle)),
      annotations: { 'dev.sigstore.bundle.content': 'dsse-envelope' },
    },
    {},
  );
}

async function decide(ref: ImageReference): Promise<Decision> {
  const loaded = await loadPolicyPaths([join(dir, 'policy.yaml')]);
  assert.ok(loaded.ok, JSON.stringify(loaded));
  return createDecider(loaded.policySet, { offline: false, registry: client, timeoutMs: 20_000 }).decide(
    `${ref.registry}/${ref.repository}:v1`,
  );
}

describe('keyless attestations through the registry', () => {
  it('a legacy .att layer with certificate and Rekor bundle: allowed, the workflow identity named', async () => {
    const ref = await image();
    await pushLegacy(release, ref);
    const d = await decide(ref);
    assert.equal(d.allowed, true, JSON.stringify(d.reasons));
    const statement = d.policies[0]?.rules[0]?.evidence?.attestations?.[0]?.statements?.[0];
    assert.equal(statement?.subject, WORKFLOW);
    assert.equal(statement?.issuer, GITHUB_ISSUER);
    assert.match(
      d.policies[0]?.rules[0]?.reason ?? '',
      /from issuer https:\/\/token\.actions\.githubusercontent\.com; tlog index \d+ at /,
    );
  });

  it('a DSSE bundle referrer with a dsse Rekor entry and inclusion proof: allowed', async () => {
    const ref = await image();
    await pushBundle(release, ref);
    const d = await decide(ref);
    assert.equal(d.allowed, true, JSON.stringify(d.reasons));
  });

  it('another workflow identity, or the right identity attesting another repository: denied', async () => {
    const forked = await image();
    await pushLegacy(fork, forked);
    const d = await decide(forked);
    assert.equal(d.allowed, false);
    assert.match(
      d.reasons.join('\n'),
      /not signed by authority github-release: identity mismatch: got https:\/\/github\.com\/evil\//,
    );
    const other = await image();
    await pushLegacy(release, other, 'https://github.com/acme/other');
    assert.match((await decide(other)).reasons.join('\n'), /attestation slsa: condition false: /);
  });

  it("a Rekor bundle spliced from another attestation's entry is refused", async () => {
    const ref = await image();
    const donor = await image();
    const { envelope } = signed(release, ref);
    const { entry } = signed(release, donor);
    await pushLegacyAttestation(
      client,
      pusher,
      ref,
      ref.digest as string,
      Buffer.from(JSON.stringify(envelope)),
      {
        'dev.cosignproject.cosign/signature': '',
        'dev.sigstore.cosign/certificate': release.pem,
        'dev.sigstore.cosign/bundle': JSON.stringify({
          SignedEntryTimestamp: entry.set,
          Payload: {
            body: entry.bodyB64,
            integratedTime: entry.integratedTime,
            logIndex: entry.logIndex,
            logID: entry.logIdHex,
          },
        }),
      },
    );
    const d = await decide(ref);
    assert.equal(d.allowed, false);
    assert.match(d.reasons.join('\n'), /not signed by authority github-release: transparency log entry/);
  });
});
