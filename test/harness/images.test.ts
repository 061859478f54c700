import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gunzipSync } from 'node:zlib';
import { startRegistry } from './registry.ts';
import type { RunningRegistry } from './registry.ts';
import {
  MEDIA_TYPES,
  REF_NAME_ANNOTATION,
  buildArtifact,
  buildImage,
  buildMultiPlatform,
  pushBuilt,
  pushImage,
  sha256,
  skopeoCopy,
  writeLayout,
  writeOciLayout,
} from './images.ts';

async function get(url: string, accept = ''): Promise<{ status: number; bytes: Buffer; headers: Headers }> {
  const response = await fetch(url, { headers: accept === '' ? {} : { accept } });
  return {
    status: response.status,
    bytes: Buffer.from(await response.arrayBuffer()),
    headers: response.headers,
  };
}

void describe('image building and pushing', () => {
  let registry: RunningRegistry;
  let work: string;
  before(async () => {
    registry = await startRegistry();
    work = await mkdtemp(join(tmpdir(), 'portcullis-images-'));
  });
  after(async () => {
    await registry?.stop();
    await rm(work, { recursive: true, force: true });
  });

  void test('builds a real gzip tar layer whose diff_id is in the config', () => {
    const image = buildImage({ layers: [{ files: { 'etc/motd': 'hi\n' } }] });
    const [config, layer] = image.blobs;
    assert.ok(config !== undefined && layer !== undefined);
    const raw = gunzipSync(layer.bytes);
    assert.equal(raw.subarray(0, 8).toString(), 'etc/motd');
    assert.equal(raw.subarray(257, 262).toString(), 'ustar');
    const configJson = JSON.parse(Buffer.from(config.bytes).toString()) as { rootfs: { diff_ids: string[] } };
    assert.deepEqual(configJson.rootfs.diff_ids, [sha256(raw)]);
    assert.equal(image.digest, sha256(image.bytes));
  });

  void test('distinct seeds give distinct digests; the same spec is reproducible', () => {
    assert.notEqual(buildImage({ seed: 'a' }).digest, buildImage({ seed: 'b' }).digest);
    assert.equal(buildImage({ seed: 'a' }).digest, buildImage({ seed: 'a' }).digest);
  });

  void test('writes a valid OCI layout: oci-layout, index.json with the tag, every blob under its digest', async () => {
    const dir = join(work, 'layout-one');
    const written = await writeOciLayout(dir, { tag: 'v1', annotations: { 'org.example': 'x' } });
    assert.deepEqual(JSON.parse(await readFile(join(dir, 'oci-layout'), 'utf8')), {
      imageLayoutVersion: '1.0.0',
    });
    const index = JSON.parse(await readFile(join(dir, 'index.json'), 'utf8')) as {
      manifests: Array<{ digest: string; annotations: Record<string, string> }>;
    };
    assert.equal(index.manifests[0]?.digest, written.image.digest);
    assert.equal(index.manifests[0]?.annotations[REF_NAME_ANNOTATION], 'v1');
    for (const digest of [written.image.digest, ...written.image.blobs.map((b) => b.digest)]) {
      const bytes = await readFile(join(dir, 'blobs', 'sha256', digest.slice('sha256:'.length)));
      assert.equal(sha256(bytes), digest);
    }
  });

  void test('a layout pushed by skopeo is pulled back byte-exact', async () => {
    const dir = join(work, 'layout-skopeo');
    const { image } = await writeOciLayout(dir, { tag: 'v1', seed: 'skopeo' });
    await skopeoCopy(dir, 'v1', `${registry.host}/harness/skopeo:v1`);
    const manifest = await get(`${registry.url}/v2/harness/skopeo/manifests/v1`, MEDIA_TYPES.ociManifest);
    assert.equal(manifest.status, 200);
    assert.deepEqual(manifest.bytes, Buffer.from(image.bytes));
    for (const blob of image.blobs) {
      const pulled = await get(`${registry.url}/v2/harness/skopeo/blobs/${blob.digest}`);
      assert.deepEqual(pulled.bytes, Buffer.from(blob.bytes));
    }
  });

  void test('a multi-platform index pushed with skopeo --all keeps its digest and children', async () => {
    const dir = join(work, 'layout-index');
    const index = buildMultiPlatform('skopeo-all');
    await writeLayout(dir, [{ manifest: index, tag: 'v1' }]);
    await skopeoCopy(dir, 'v1', `${registry.host}/harness/multi:v1`, { all: true });
    const pulled = await get(`${registry.url}/v2/harness/multi/manifests/v1`, MEDIA_TYPES.ociIndex);
    assert.equal(sha256(pulled.bytes), index.digest);
    for (const child of index.children) {
      const bytes = await get(
        `${registry.url}/v2/harness/multi/manifests/${child.digest}`,
        MEDIA_TYPES.ociManifest,
      );
      assert.equal(bytes.status, 200);
    }
  });

  void test('pushImage by plain PUTs: by tag and by digest, Docker media types too', async () => {
    const image = buildImage({ seed: 'docker', docker: true });
    const digest = await pushImage(registry.host, 'harness/docker', 'v1', {
      manifest: image,
      blobs: image.blobs,
    });
    assert.equal(digest, image.digest);
    const byTag = await get(`${registry.url}/v2/harness/docker/manifests/v1`, MEDIA_TYPES.dockerManifest);
    assert.equal(byTag.headers.get('content-type'), MEDIA_TYPES.dockerManifest);
    assert.deepEqual(byTag.bytes, Buffer.from(image.bytes));
    await pushImage(registry.host, 'harness/docker', image.digest, { manifest: image });
    const byDigest = await get(
      `${registry.url}/v2/harness/docker/manifests/${image.digest}`,
      MEDIA_TYPES.dockerManifest,
    );
    assert.equal(byDigest.status, 200);
  });

  void test('pushImage reports a refused push clearly (manifest whose blobs are missing)', async () => {
    const image = buildImage({ seed: 'orphan' });
    await assert.rejects(
      pushImage(registry.host, 'harness/orphan', 'v1', { manifest: image }),
      (error: Error) => {
        assert.match(error.message, /manifest push harness\/orphan:v1: PUT .* answered 400/);
        return true;
      },
    );
  });

  void test('pushBuilt pushes an index with its children, and a referrer artifact with a subject', async () => {
    const index = buildMultiPlatform('pushed');
    await pushBuilt(registry.host, 'harness/pushed', index, 'v1');
    const signature = buildArtifact({
      artifactType: 'application/vnd.example.signature',
      blobs: [{ mediaType: 'application/vnd.example.payload', bytes: 'sig' }],
      subject: index.descriptor,
    });
    await pushBuilt(registry.host, 'harness/pushed', signature);
    const pulled = await get(
      `${registry.url}/v2/harness/pushed/manifests/${signature.digest}`,
      MEDIA_TYPES.ociManifest,
    );
    const json = JSON.parse(pulled.bytes.toString()) as { subject: { digest: string }; artifactType: string };
    assert.equal(json.subject.digest, index.digest);
    assert.equal(json.artifactType, 'application/vnd.example.signature');
  });
});
