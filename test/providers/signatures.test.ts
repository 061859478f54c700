/**
 * The signature provider against a real registry: Sigstore bundles attached as OCI 1.1 referrers (the
 * registry has no referrers API, so through the `sha256-<hex>` tag-schema fallback), formats fetched
 * only when a rule counts them, and bounds on bundle size.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import type { Decision } from '../../src/engine/decision.ts';
import { fetchSignatures, BUNDLE_ARTIFACT_TYPE } from '../../src/providers/signatures.ts';
import { sourceOpener } from '../../src/providers/attachment-sources.ts';
import { createRegistryClient } from '../../src/registry/client.ts';
import { referrersTag } from '../../src/registry/cosign.ts';
import { parseReference } from '../../src/reference/index.ts';
import { buildArtifact, buildImage, buildIndex, pushBuilt, pushImage } from '../harness/images.ts';
import { startFaultProxy } from '../harness/fault-proxy.ts';
import { startRegistry } from '../harness/registry.ts';
import { makeSigner, signB64, type Signer } from '../sigstore/support.ts';
import { decider, signaturePolicy } from '../signatures/support.ts';

let registry: Awaited<ReturnType<typeof startRegistry>>;
let proxy: Awaited<ReturnType<typeof startFaultProxy>>;
let host: string;
const signer = makeSigner();
const stranger = makeSigner();
const image = buildImage({ seed: 'bundle-signed' });
const otherImage = buildImage({ seed: 'bundle-wrong-key' });

/** A v0.3 message-signature bundle over the manifest bytes (what `cosign sign-blob` of the manifest makes). */
function bundleFor(manifest: Uint8Array, by: Signer): string {
  return JSON.stringify({
    mediaType: 'application/vnd.dev.sigstore.bundle.v0.3+json',
    verificationMaterial: { publicKey: { hint: 'untrusted' }, tlogEntries: [] },
    messageSignature: {
      messageDigest: {
        algorithm: 'SHA2_256',
        digest: createHash('sha256').update(manifest).digest('base64'),
      },
      signature: signB64(by, manifest),
    },
  });
}

async function attachBundle(repo: string, target: typeof image, by: Signer): Promise<string> {
  const artifact = buildArtifact({
    artifactType: BUNDLE_ARTIFACT_TYPE,
    blobs: [{ mediaType: BUNDLE_ARTIFACT_TYPE, bytes: bundleFor(target.bytes, by) }],
    subject: target.descriptor,
  });
  await pushBuilt(host, repo, artifact);
  await pushImage(host, repo, referrersTag(target.digest), {
    manifest: buildIndex([{ manifest: artifact }]),
  });
  return artifact.digest;
}

let referrer: string;

before(async () => {
  registry = await startRegistry();
  host = registry.host;
  proxy = await startFaultProxy(registry.url);
  await pushBuilt(host, 'bundles/app', image, 'v1');
  await pushBuilt(host, 'bundles/other', otherImage, 'v1');
  referrer = await attachBundle('bundles/app', image, signer);
  await attachBundle('bundles/other', otherImage, stranger);
});

after(async () => {
  await proxy?.stop();
  await registry?.stop();
});

const rule = (format: string) =>
  `format: ${format}\nauthorities:\n  - {name: ci-key, key: {data: ${JSON.stringify(signer.pem)}}}`;

async function decide(format: string, ref: string, limits = {}): Promise<Decision> {
  const d = decider(await signaturePolicy(rule(format)), [host, proxy.host], { limits });
  try {
    return await d.decider.decide(ref);
  } finally {
    await d.close();
  }
}

const reasonOf = (d: Decision): string => d.policies[0]?.rules[0]?.reason ?? JSON.stringify(d);

void describe('Sigstore bundles as OCI referrers', () => {
  void test('a bundle referrer signed by the key is found through the tag-schema fallback and admits the image', async () => {
    const d = await decide('bundle', `${host}/bundles/app:v1`);
    assert.equal(d.outcome, 'allow', reasonOf(d));
    assert.match(
      reasonOf(d),
      new RegExp(`^ci-key: key sha256:[0-9a-f]{64} \\(${host}/bundles/app@${referrer}\\)$`),
    );
  });

  void test('format any reads both; format legacy ignores bundles', async () => {
    assert.equal((await decide('any', `${host}/bundles/app:v1`)).outcome, 'allow');
    const legacy = await decide('legacy', `${host}/bundles/app:v1`);
    assert.equal(legacy.outcome, 'deny');
    assert.match(reasonOf(legacy), /^ci-key: no signatures found \(looked for legacy signatures of sha256:/);
  });

  void test('a bundle by another key: signature invalid', async () => {
    const d = await decide('bundle', `${host}/bundles/other:v1`);
    assert.equal(d.outcome, 'deny');
    assert.match(reasonOf(d), /^ci-key: signature invalid/);
  });

  void test('an oversize bundle is refused by the blob limit: denied with the limit', async () => {
    const d = await decide('bundle', `${host}/bundles/app:v1`, { blob: { bundle: 64 } });
    assert.equal(d.outcome, 'deny');
    assert.match(reasonOf(d), new RegExp(`^could not fetch signatures from ${host}/bundles/app: .*64`));
  });

  void test('only the formats a rule counts are fetched', async () => {
    const client = createRegistryClient({ insecureRegistries: [proxy.host] });
    try {
      const ref = parseReference(`${proxy.host}/bundles/app:v1`);
      const open = () => client.repository(proxy.host, 'bundles/app');
      proxy.clearRequests();
      const signal = AbortSignal.timeout(10_000);
      const need = (formats: ('legacy' | 'bundle')[]) => [{ source: { tagPrefix: '' }, key: '|', formats }];
      const fact = await fetchSignatures(open, ref, image.digest, need(['legacy']), {
        signal,
        limits: client.limits,
      });
      assert.ok(fact.available);
      assert.deepEqual(fact.value.sources[0]?.candidates, { available: true, value: [] });
      assert.deepEqual(
        proxy.requests.filter(
          (r) =>
            r.path.endsWith(`/manifests/${referrersTag(image.digest)}`) || r.path.includes('/referrers/'),
        ),
        [],
        'no referrers request for a legacy-only rule',
      );
      const both = await fetchSignatures(open, ref, image.digest, need(['bundle', 'legacy']), {
        signal,
        limits: client.limits,
      });
      assert.ok(both.available);
      const candidates = both.value.sources[0]?.candidates;
      assert.ok(candidates?.available);
      assert.deepEqual(
        candidates.value.map((c) => c.kind),
        ['bundle'],
      );
    } finally {
      await client.close();
    }
  });
  void test('sources naming the same repository list its referrers once per decision', async () => {
    const listings = async (prefixes: string[]): Promise<number> => {
      const client = createRegistryClient({ insecureRegistries: [proxy.host] });
      try {
        const ref = parseReference(`${proxy.host}/bundles/app:v1`);
        const repository = { registry: proxy.host, repository: 'bundles/app' };
        const needs = prefixes.map((tagPrefix) => ({
          source: { repository, tagPrefix },
          key: `${proxy.host}/bundles/app|${tagPrefix}`,
          formats: ['bundle' as const],
        }));
        const open = sourceOpener({ ref, offline: false, registry: client, what: 'signatures' });
        proxy.clearRequests();
        const fact = await fetchSignatures(open, ref, image.digest, needs, {
          signal: AbortSignal.timeout(10_000),
          limits: client.limits,
        });
        assert.ok(fact.available);
        for (const source of fact.value.sources) {
          assert.ok(source.candidates.available, JSON.stringify(source.candidates));
          assert.equal(source.candidates.value.length, 1);
        }
        return proxy.requests.filter(
          (r) =>
            r.path.endsWith(`/manifests/${referrersTag(image.digest)}`) || r.path.includes('/referrers/'),
        ).length;
      } finally {
        await client.close();
      }
    };
    const once = await listings(['']);
    assert.ok(once > 0);
    assert.equal(await listings(['', 'team-']), once);
  });
  void test('more bundle layers than the limit: refused before any bundle is downloaded', async () => {
    const crowded = buildImage({ seed: 'bundle-crowded' });
    await pushBuilt(host, 'bundles/crowded', crowded, 'v1');
    const bundle = bundleFor(crowded.bytes, signer);
    // Two referrers of two bundles each: within the limit of 2 one by one, over it together.
    const artifacts = ['a', 'b'].map((n) =>
      buildArtifact({
        artifactType: BUNDLE_ARTIFACT_TYPE,
        blobs: [
          { mediaType: BUNDLE_ARTIFACT_TYPE, bytes: `${bundle}${n}` },
          { mediaType: BUNDLE_ARTIFACT_TYPE, bytes: `${bundle}${n}${n}` },
        ],
        subject: crowded.descriptor,
      }),
    );
    for (const artifact of artifacts) await pushBuilt(host, 'bundles/crowded', artifact);
    await pushImage(host, 'bundles/crowded', referrersTag(crowded.digest), {
      manifest: buildIndex(artifacts.map((manifest) => ({ manifest }))),
    });
    const client = createRegistryClient({ insecureRegistries: [proxy.host], limits: { signatureLayers: 2 } });
    try {
      const ref = parseReference(`${proxy.host}/bundles/crowded:v1`);
      proxy.clearRequests();
      const fact = await fetchSignatures(
        () => client.repository(proxy.host, 'bundles/crowded'),
        ref,
        crowded.digest,
        [{ source: { tagPrefix: '' }, key: '|', formats: ['bundle'] }],
        { signal: AbortSignal.timeout(10_000), limits: client.limits },
      );
      assert.ok(fact.available);
      assert.deepEqual(fact.value.sources[0]?.candidates, {
        available: false,
        reason: `could not fetch signatures from ${proxy.host}/bundles/crowded: 4 signature bundles are attached to ${crowded.digest}, more than the limit of 2`,
      });
      assert.deepEqual(
        proxy.requests.filter((r) => r.path.includes('/blobs/')),
        [],
        'no bundle blob was read',
      );
    } finally {
      await client.close();
    }
  });
});
