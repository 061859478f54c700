/**
 * The example policies in examples/policies-attested, loaded by the real loader (with the fixture key
 * in place of the placeholder and the test registry's images in place of ghcr.io/acme), against
 * attestations written by `attestImage` to a real registry: each allows what it should and denies the
 * rest with its reason.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { createDecider } from '../../src/app/decide.ts';
import type { Decision } from '../../src/engine/decision.ts';
import type { PolicySet } from '../../src/policy/model.ts';
import { createRegistryClient, type RegistryClient } from '../../src/registry/client.ts';
import { createRegistryPusher, type RegistryPusher } from '../../src/registry/push.ts';
import { parseReference, withDigest } from '../../src/reference/index.ts';
import type { ImageReference } from '../../src/reference/types.ts';
import { decryptPrivateKey, type SigningKey } from '../../src/signing/keys.ts';
import { attestImage } from '../../src/signing/attest.ts';
import { startRegistry, type RunningRegistry } from '../harness/registry.ts';
import { buildImage, pushBuilt } from '../harness/images.ts';
import { KEYS, loadPolicyText, PASSPHRASE, pubKeyPath } from './support.ts';

const EXAMPLES = fileURLToPath(new URL('../../examples/policies-attested/', import.meta.url));
const DAY = 24 * 3600 * 1000;

let registry: RunningRegistry;
let client: RegistryClient;
let pusher: RegistryPusher;
let key: SigningKey;
let seq = 0;

before(async () => {
  registry = await startRegistry();
  client = createRegistryClient({ insecureRegistries: [registry.host] });
  pusher = createRegistryPusher({ insecureRegistries: [registry.host] });
  key = await decryptPrivateKey(readFileSync(`${KEYS}/k1.private`, 'utf8'), PASSPHRASE);
});

after(async () => {
  await client?.close();
  await pusher?.close();
  await registry?.stop();
});

/** The example, judging the test registry's images with the fixture key. */
async function example(file: string): Promise<PolicySet> {
  const text = readFileSync(`${EXAMPLES}${file}`, 'utf8');
  assert.ok(text.includes('keys/release.pub') && text.includes('ghcr.io/acme/**'));
  return loadPolicyText(
    text
      .replaceAll('keys/release.pub', pubKeyPath('k1'))
      .replaceAll('ghcr.io/acme/**', `${registry.host}/**`),
  );
}

async function image(): Promise<ImageReference> {
  const repo = `examples/app${++seq}`;
  const built = buildImage({ seed: `example-${seq}` });
  await pushBuilt(registry.host, repo, built, 'v1');
  return withDigest(parseReference(`${registry.host}/${repo}:v1`), built.digest);
}

async function attested(
  type: string,
  predicate: unknown,
  format: 'legacy' | 'bundle' = 'legacy',
): Promise<ImageReference> {
  const ref = await image();
  await attestImage(client, pusher, key, ref, { predicateType: type, predicate, format });
  return ref;
}

async function decide(policy: PolicySet, ref: ImageReference): Promise<Decision> {
  return createDecider(policy, { offline: false, registry: client, timeoutMs: 20_000 }).decide(
    `${ref.registry}/${ref.repository}:v1`,
  );
}

describe('examples/policies-attested', () => {
  it('provenance.yaml: SLSA v1 from the acme builder and the acme/api repository', async () => {
    const policy = await example('provenance.yaml');
    const provenance = (builder: string, repository: string) => ({
      buildDefinition: {
        buildType: 'https://actions.github.io/buildtypes/workflow/v1',
        externalParameters: {
          workflow: { ref: 'refs/tags/v1.4.2', repository, path: '.github/workflows/release.yml' },
        },
      },
      runDetails: { builder: { id: builder } },
    });
    const BUILDER = 'https://github.com/acme/builder/.github/workflows/build.yml@refs/tags/v1';
    const good = await attested(
      'https://slsa.dev/provenance/v1',
      provenance(BUILDER, 'https://github.com/acme/api'),
    );
    assert.equal((await decide(policy, good)).allowed, true);
    const fork = await attested(
      'https://slsa.dev/provenance/v1',
      provenance(BUILDER, 'https://github.com/evil/api'),
    );
    const d = await decide(policy, fork);
    assert.equal(d.allowed, false);
    assert.match(
      d.reasons.join('\n'),
      /attestation slsa: condition false: predicate\.runDetails\.builder\.id == /,
    );
    const v02 = await attested('https://slsa.dev/provenance/v0.2', { builder: { id: BUILDER } });
    assert.match(
      (await decide(policy, v02)).reasons.join('\n'),
      /no attestations of type https:\/\/slsa\.dev\/provenance\/v1 found .*\(found types: https:\/\/slsa\.dev\/provenance\/v0\.2\)/,
    );
  });

  it('vulnerability-scan.yaml: scanned within 7 days, criticals only from the allow-list', async () => {
    const policy = await example('vulnerability-scan.yaml');
    const scan = (daysAgo: number, vulnerabilities: { id: string; severity: string }[]) => ({
      invocation: { uri: 'https://github.com/acme/api/actions/runs/1' },
      scanner: {
        uri: 'pkg:github/aquasecurity/trivy@0.50.0',
        version: '0.50.0',
        result: { vulnerabilities },
      },
      metadata: {
        scanStartedOn: new Date(Date.now() - daysAgo * DAY - 60_000).toISOString(),
        scanFinishedOn: new Date(Date.now() - daysAgo * DAY).toISOString(),
      },
    });
    const VULN = 'https://cosign.sigstore.dev/attestation/vuln/v1';
    const accepted = [
      { id: 'CVE-2024-0001', severity: 'CRITICAL' },
      { id: 'CVE-2024-1111', severity: 'HIGH' },
    ];
    assert.equal((await decide(policy, await attested(VULN, scan(1, accepted)))).allowed, true);
    const stale = await decide(policy, await attested(VULN, scan(10, accepted)));
    assert.equal(stale.allowed, false);
    assert.match(
      stale.reasons.join('\n'),
      /attestation scan: condition false: isWithin\(predicate\.metadata\.scanFinishedOn, '168h'\)/,
    );
    const critical = await decide(
      policy,
      await attested(VULN, scan(1, [...accepted, { id: 'CVE-2024-9999', severity: 'CRITICAL' }])),
    );
    assert.equal(critical.allowed, false);
    assert.match(critical.reasons.join('\n'), /attestation scan: condition false:/);
  });

  it('sbom.yaml: SPDX or CycloneDX, listing its contents; a vuln scan is no SBOM', async () => {
    const policy = await example('sbom.yaml');
    const spdx = await attested('https://spdx.dev/Document', {
      spdxVersion: 'SPDX-2.3',
      packages: [{ name: 'openssl', versionInfo: '3.0.13' }],
    });
    const spdxDecision = await decide(policy, spdx);
    assert.equal(spdxDecision.allowed, true, JSON.stringify(spdxDecision.reasons));
    assert.equal(
      spdxDecision.policies[0]?.rules[0]?.evidence?.attestations?.[0]?.statements?.[0]?.predicateType,
      'https://spdx.dev/Document',
    );
    const cdx = await attested(
      'https://cyclonedx.org/bom',
      { bomFormat: 'CycloneDX', specVersion: '1.5', components: [{ name: 'zlib', version: '1.3' }] },
      'bundle',
    );
    assert.equal((await decide(policy, cdx)).allowed, true);
    const empty = await attested('https://cyclonedx.org/bom', { bomFormat: 'CycloneDX', components: [] });
    assert.match((await decide(policy, empty)).reasons.join('\n'), /attestation sbom: condition false/);
    const vulnOnly = await attested('https://cosign.sigstore.dev/attestation/vuln/v1', { scanner: {} });
    assert.match(
      (await decide(policy, vulnOnly)).reasons.join('\n'),
      /no attestations of type https:\/\/spdx\.dev\/Document or https:\/\/cyclonedx\.org\/bom found .*\(found types: https:\/\/cosign\.sigstore\.dev\/attestation\/vuln\/v1\)/,
    );
  });
});
