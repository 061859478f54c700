/**
 * The registry client against a real registry (Debian docker-registry 2.8 on loopback), with the fault
 * proxy in front only to count requests.
 */
import { after, before, beforeEach, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { startRegistry, type RunningRegistry } from '../harness/registry.ts';
import { startFaultProxy, type FaultProxy } from '../harness/fault-proxy.ts';
import {
  buildArtifact,
  buildImage,
  buildIndex,
  buildMultiPlatform,
  pushBuilt,
  pushImage,
  type BuiltManifest,
} from '../harness/images.ts';
import { replayRegistryDump, type ReplayedDump } from '../harness/fixtures.ts';
import { createRegistryClient, type RegistryClient } from '../../src/registry/client.ts';
import { cosignAttachmentTag, referrersTag } from '../../src/registry/cosign.ts';
import { RegistryError } from '../../src/registry/errors.ts';
import { resolvePlatforms } from '../../src/registry/index-policy.ts';
import { fetchAttachmentManifest } from '../../src/registry/attachments.ts';
import { computeDigest } from '../../src/oci/digest.ts';
import { DOCKER_MANIFEST, OCI_INDEX, OCI_MANIFEST, SIGSTORE_BUNDLE_V03 } from '../../src/oci/media-types.ts';
import { lines, ref } from './support.ts';

function isRegistryError(code: string, pattern: RegExp) {
  return (error: unknown): boolean => {
    assert.ok(error instanceof RegistryError, `expected RegistryError, got ${String(error)}`);
    assert.equal(error.code, code, error.message);
    assert.match(error.message, pattern);
    return true;
  };
}

void describe('registry client against docker-registry', () => {
  let registry: RunningRegistry;
  let proxy: FaultProxy;
  let client: RegistryClient;
  let image: BuiltManifest;
  let dockerImage: BuiltManifest;
  let multi: BuiltManifest;
  let sigArtifact: BuiltManifest;
  let sbomArtifact: BuiltManifest;
  let cosignSig: BuiltManifest;
  let dump: ReplayedDump;

  before(async () => {
    registry = await startRegistry();
    proxy = await startFaultProxy(registry.url);
    image = buildImage({ seed: 'client-a' });
    dockerImage = buildImage({ seed: 'client-docker', docker: true });
    multi = buildMultiPlatform('client-multi');
    await pushBuilt(registry.host, 'app/web', image, 'v1');
    await pushBuilt(registry.host, 'app/web', dockerImage, 'docker');
    await pushBuilt(registry.host, 'app/multi', multi, 'latest');
    // Referrers of `image`, listed in a referrers-tag-schema index as OCI 1.1 clients do on registries
    // without the referrers API.
    sigArtifact = buildArtifact({
      artifactType: SIGSTORE_BUNDLE_V03,
      blobs: [{ mediaType: SIGSTORE_BUNDLE_V03, bytes: '{"bundle":1}' }],
      subject: image.descriptor,
    });
    sbomArtifact = buildArtifact({
      artifactType: 'application/spdx+json',
      blobs: [{ mediaType: 'application/spdx+json', bytes: '{}' }],
      subject: image.descriptor,
    });
    await pushBuilt(registry.host, 'app/web', sigArtifact);
    await pushBuilt(registry.host, 'app/web', sbomArtifact);
    const referrersIndex = buildIndex([{ manifest: sigArtifact }, { manifest: sbomArtifact }]);
    await pushImage(registry.host, 'app/web', referrersTag(image.digest), { manifest: referrersIndex });
    cosignSig = buildImage({ seed: 'client-cosign-sig' });
    await pushBuilt(registry.host, 'app/web', cosignSig, cosignAttachmentTag(image.digest, 'sig'));
    dump = await replayRegistryDump(registry.host, { repos: ['test/app'] });
  });
  after(async () => {
    await client?.close();
    await proxy?.stop();
    await registry?.stop();
  });
  beforeEach(() => {
    client = createRegistryClient({ insecureRegistries: [proxy.host], timeouts: { backoffBaseMs: 5 } });
    proxy.setFaults([]);
    proxy.clearRequests();
  });

  void test('a tag resolves with exactly one HEAD, then one GET by digest; later reads are by digest', async () => {
    const repo = client.repository(proxy.host, 'app/web');
    const descriptor = await repo.resolve(ref(proxy.host, 'app/web', 'v1'));
    assert.deepEqual(descriptor, { mediaType: OCI_MANIFEST, digest: image.digest, size: image.bytes.length });
    assert.deepEqual(lines(proxy.requests), [
      'HEAD /v2/app/web/manifests/v1',
      `GET /v2/app/web/manifests/${image.digest}`,
    ]);
    const manifest = await repo.fetchManifest(descriptor.digest);
    assert.equal(computeDigest(manifest.bytes), image.digest);
    assert.equal(manifest.parsed.kind, 'image');
    assert.equal(proxy.requests.length, 2, 'the verified manifest is reused, not fetched again');
    assert.match(String(proxy.requests[0]?.headers.accept), /application\/vnd\.oci\.image\.index\.v1\+json/);
    assert.match(
      String(proxy.requests[0]?.headers.accept),
      /application\/vnd\.docker\.distribution\.manifest\.list\.v2\+json/,
    );
  });

  void test('a digest reference is one verified GET by digest, no HEAD', async () => {
    const descriptor = await client.resolve(ref(proxy.host, 'app/web', dockerImage.digest));
    assert.equal(descriptor.digest, dockerImage.digest);
    assert.equal(descriptor.mediaType, DOCKER_MANIFEST);
    assert.deepEqual(lines(proxy.requests), [`GET /v2/app/web/manifests/${dockerImage.digest}`]);
  });

  void test('identical concurrent manifest reads are coalesced into one GET', async () => {
    const repo = client.repository(proxy.host, 'app/web');
    const results = await Promise.all(Array.from({ length: 5 }, () => repo.fetchManifest(image.digest)));
    assert.ok(results.every((m) => m.descriptor.digest === image.digest));
    assert.deepEqual(lines(proxy.requests), [`GET /v2/app/web/manifests/${image.digest}`]);
  });

  void test('blobs are fetched by digest, verified, and refused before download when the descriptor is too big', async () => {
    const repo = client.repository(proxy.host, 'app/web');
    const manifest = await repo.fetchManifest(image.digest);
    assert.equal(manifest.parsed.kind, 'image');
    if (manifest.parsed.kind !== 'image') return;
    const config = await repo.fetchBlob(manifest.parsed.config, { maxBytes: client.limits.blob.config });
    assert.equal(computeDigest(config), manifest.parsed.config.digest);
    proxy.clearRequests();
    await assert.rejects(
      repo.fetchBlob(manifest.parsed.config, { maxBytes: 10 }),
      isRegistryError(
        'TOO_LARGE',
        new RegExp(
          `registry ${proxy.host}/app/web@${manifest.parsed.config.digest}: blob is \\d+ bytes by its descriptor, more than the limit of 10`,
        ),
      ),
    );
    assert.equal(proxy.requests.length, 0);
  });

  void test('a verified blob is read once per repository; another repository asks the registry again', async () => {
    const repo = client.repository(proxy.host, 'app/web');
    const manifest = await repo.fetchManifest(image.digest);
    if (manifest.parsed.kind !== 'image') return assert.fail('expected an image');
    const config = manifest.parsed.config;
    proxy.clearRequests();
    const first = await repo.fetchBlob(config, { maxBytes: client.limits.blob.config });
    const second = await repo.fetchBlob(config, { maxBytes: client.limits.blob.config });
    assert.deepEqual(second, first);
    assert.deepEqual(lines(proxy.requests), [`GET /v2/app/web/blobs/${config.digest}`]);
    await assert.rejects(
      client.repository(proxy.host, 'app/other').fetchBlob(config, { maxBytes: client.limits.blob.config }),
    );
    assert.equal(
      proxy.requests.length,
      2,
      'the cache never answers for a repository the registry has not shown it in',
    );
  });

  void test('missing tag, manifest and repository are NOT_FOUND with the place named', async () => {
    await assert.rejects(
      client.resolve(ref(proxy.host, 'app/web', 'nope')),
      isRegistryError('NOT_FOUND', new RegExp(`registry ${proxy.host}/app/web:nope: tag not found`)),
    );
    const missing = `sha256:${'0'.repeat(64)}`;
    await assert.rejects(
      client.resolve(ref(proxy.host, 'app/web', missing)),
      isRegistryError('NOT_FOUND', /manifest not found/),
    );
    assert.equal(await client.repository(proxy.host, 'app/web').resolveTag('nope'), undefined);
    await assert.rejects(
      client.repository(proxy.host, 'no/such').listTags(),
      isRegistryError('NOT_FOUND', /tag list: not found/),
    );
  });

  void test('bad input is refused before any request', async () => {
    assert.throws(
      () => client.repository(proxy.host, 'Bad/Repo'),
      isRegistryError('BAD_REFERENCE', /invalid repository name "Bad\/Repo"/),
    );
    const repo = client.repository(proxy.host, 'app/web');
    await assert.rejects(
      repo.fetchManifest('sha256:abc'),
      isRegistryError('BAD_DIGEST', /64 lower-case hex/),
    );
    await assert.rejects(repo.resolveTag('../etc'), isRegistryError('BAD_REFERENCE', /invalid tag/));
    await assert.rejects(
      repo.resolve(ref(proxy.host, 'other/repo', 'v1')),
      isRegistryError('BAD_REFERENCE', /another repository/),
    );
    assert.equal(proxy.requests.length, 0);
  });

  void test('tag listing', async () => {
    const tags = await client.repository(proxy.host, 'app/web').listTags();
    assert.deepEqual(
      [...tags].sort(),
      ['docker', cosignAttachmentTag(image.digest, 'sig'), referrersTag(image.digest), 'v1'].sort(),
    );
    assert.match(proxy.requests[0]?.path ?? '', /\/tags\/list\?n=1000$/);
  });

  void test('referrers: docker-registry 2.8 has no API (404), so the sha256-<hex> tag schema is used', async () => {
    const repo = client.repository(proxy.host, 'app/web');
    const all = await repo.referrers(image.digest);
    assert.deepEqual(all.map((d) => d.digest).sort(), [sigArtifact.digest, sbomArtifact.digest].sort());
    assert.deepEqual(lines(proxy.requests), [
      `GET /v2/app/web/referrers/${image.digest}`,
      `GET /v2/app/web/manifests/${referrersTag(image.digest)}`,
    ]);
    const bundles = await repo.referrers(image.digest, { artifactType: SIGSTORE_BUNDLE_V03 });
    assert.deepEqual(
      bundles.map((d) => d.digest),
      [sigArtifact.digest],
    );
    assert.deepEqual(await repo.referrers(dockerImage.digest), []);
  });

  void test('cosign attachment tags resolve through the same one-HEAD path', async () => {
    const tag = cosignAttachmentTag(image.digest, 'sig');
    assert.equal(tag, `sha256-${image.digest.slice(7)}.sig`);
    assert.equal(cosignAttachmentTag(image.digest, 'att', 'pfx-'), `pfx-sha256-${image.digest.slice(7)}.att`);
    const repo = client.repository(proxy.host, 'app/web');
    assert.equal((await repo.resolveTag(tag))?.digest, cosignSig.digest);
    assert.equal(await repo.resolveTag(cosignAttachmentTag(image.digest, 'att')), undefined);
    const attachment = await fetchAttachmentManifest(repo, cosignSig.digest, {
      maxLayers: client.limits.signatureLayers,
    });
    assert.equal(attachment.layers.length, 1);
    await assert.rejects(
      fetchAttachmentManifest(repo, cosignSig.digest, { maxLayers: 0 }),
      isRegistryError(
        'TOO_MANY',
        new RegExp(`attachment ${cosignSig.digest} has 1 layers, more than the limit of 0`),
      ),
    );
    await assert.rejects(
      fetchAttachmentManifest(client.repository(proxy.host, 'app/multi'), multi.digest, { maxLayers: 10 }),
      isRegistryError('BAD_MANIFEST', /is an index/),
    );
  });

  void test('image index: the index digest is what resolves; children are fetched by digest, verified', async () => {
    const repo = client.repository(proxy.host, 'app/multi');
    const descriptor = await repo.resolve(ref(proxy.host, 'app/multi', 'latest'));
    assert.equal(descriptor.digest, multi.digest);
    assert.equal(descriptor.mediaType, OCI_INDEX);
    const index = await repo.fetchManifest(descriptor.digest);
    const all = await resolvePlatforms(repo, index);
    assert.deepEqual(
      all.map((c) => c.descriptor.platform?.architecture),
      ['amd64', 'arm64'],
    );
    const arm = await resolvePlatforms(repo, index, { os: 'linux', architecture: 'arm64' });
    assert.equal(arm.length, 1);
    assert.equal(arm[0]?.manifest.descriptor.digest, multi.children[1]?.digest);
    await assert.rejects(
      resolvePlatforms(repo, index, { os: 'windows', architecture: 'amd64' }),
      isRegistryError('NOT_FOUND', /no manifest for windows\/amd64/),
    );
  });

  void test('third-party content: the skopeo-signed dump resolves and its cosign signature tag is found', async () => {
    const tags = dump['test/app'] ?? {};
    const v1 = tags['v1'];
    assert.ok(v1);
    const repo = client.repository(proxy.host, 'test/app');
    const descriptor = await repo.resolve(ref(proxy.host, 'test/app', 'v1'));
    assert.equal(descriptor.digest, v1);
    const sig = await repo.resolveTag(cosignAttachmentTag(v1, 'sig'));
    assert.ok(sig, 'signature tag of v1 exists in the dump');
    const signature = await repo.fetchManifest(sig.digest);
    assert.equal(signature.parsed.kind, 'image');
    if (signature.parsed.kind !== 'image') return;
    const layer = signature.parsed.layers[0];
    assert.ok(layer);
    const payload = await repo.fetchBlob(layer, { maxBytes: client.limits.blob.signaturePayload });
    assert.match(Buffer.from(payload).toString('utf8'), new RegExp(v1));
  });

  void test('plain HTTP is refused for a registry not configured insecure', async () => {
    const strict = createRegistryClient({ timeouts: { attempts: 1 } });
    try {
      await assert.rejects(
        strict.resolve(ref(registry.host, 'app/web', 'v1')),
        isRegistryError(
          'INSECURE_REFUSED',
          new RegExp(`${registry.host} is not configured as insecure; refusing plain HTTP`),
        ),
      );
    } finally {
      await strict.close();
    }
  });
});
