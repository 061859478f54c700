import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { cp, mkdtemp, readFile, rm, symlink, unlink, writeFile, chmod } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, relative as relativePath } from 'node:path';
import { promisify } from 'node:util';
import { openOciLayout, LayoutError } from '../../src/registry/layout.ts';
import { layoutImageReference, parseLayoutReference } from '../../src/registry/layout-reference.ts';
import type { ImageReference } from '../../src/reference/types.ts';
import {
  MEDIA_TYPES,
  buildArtifact,
  buildDescriptorIndex,
  buildImage,
  buildMultiPlatform,
  sha256,
  writeLayout,
  writeOciLayout,
} from '../harness/images.ts';
import { OCI_LAYOUTS_DIR } from '../harness/fixtures.ts';

const run = promisify(execFile);
const ref = (input: string): ImageReference => layoutImageReference(parseLayoutReference(input));
/** Validated annotations are null-prototype objects: compare plain JSON. */
const plain = (value: unknown): unknown => JSON.parse(JSON.stringify(value));
const blobFile = (dir: string, digest: string): string => join(dir, 'blobs', 'sha256', digest.slice(7));

async function rejectsWith(promise: Promise<unknown>, code: string, message: RegExp): Promise<void> {
  await assert.rejects(promise, (error: Error) => {
    assert.ok(error instanceof LayoutError, `expected LayoutError, got ${String(error)}`);
    assert.equal(error.code, code, error.message);
    assert.match(error.message, message);
    assert.match(error.message, /^OCI layout oci:\//);
    return true;
  });
}

void describe('OCI layout source: layouts written by the tests', () => {
  let work: string;
  before(async () => {
    work = await mkdtemp(join(tmpdir(), 'portcullis-layout-'));
  });
  after(async () => {
    await rm(work, { recursive: true, force: true });
  });
  const fresh = async (name: string): Promise<string> => join(work, name);

  void test('resolves a tag through index.json and fetches the verified manifest and blobs', async () => {
    const dir = await fresh('one');
    const { image } = await writeOciLayout(dir, { tag: 'v1' });
    const source = openOciLayout(dir);
    assert.equal(source.location, `oci:${dir}`);
    const descriptor = await source.resolve(ref(`oci:${dir}:v1`));
    assert.equal(descriptor.digest, image.digest);
    assert.equal(descriptor.size, image.bytes.length);
    assert.equal(descriptor.mediaType, MEDIA_TYPES.ociManifest);
    const manifest = await source.fetchManifest(descriptor.digest);
    assert.deepEqual(Buffer.from(manifest.bytes), Buffer.from(image.bytes));
    assert.deepEqual(manifest.json, image.json);
    for (const blob of image.blobs) {
      const bytes = await source.fetchBlob(
        { mediaType: 'x', digest: blob.digest, size: blob.bytes.length },
        { maxBytes: 1 << 20 },
      );
      assert.deepEqual(Buffer.from(bytes), Buffer.from(blob.bytes));
    }
    assert.deepEqual(await source.listTags(), ['v1']);
    assert.equal((await source.resolveTag('v1'))?.digest, image.digest);
    assert.equal(await source.resolveTag('v2'), undefined);
  });

  void test('no tag: the only manifest; several manifests: ambiguous, with the tags listed', async () => {
    const single = await fresh('single');
    const { image } = await writeOciLayout(single, { tag: 'only' });
    assert.equal((await openOciLayout(single).resolve(ref(`oci:${single}`))).digest, image.digest);

    const multi = await fresh('multi');
    await writeLayout(multi, [
      { manifest: buildImage({ seed: 'a' }), tag: 'a' },
      { manifest: buildImage({ seed: 'b' }), tag: 'b' },
    ]);
    await rejectsWith(
      openOciLayout(multi).resolve(ref(`oci:${multi}`)),
      'AMBIGUOUS',
      /holds 2 manifests; name one \(tags present: a, b\)/,
    );
    await rejectsWith(
      openOciLayout(multi).resolve(ref(`oci:${multi}:c`)),
      'NOT_FOUND',
      /tag "c" not found; tags present: a, b/,
    );
  });

  void test('one tag naming two different manifests is refused, not guessed', async () => {
    const dir = await fresh('dup-tag');
    await writeLayout(dir, [
      { manifest: buildImage({ seed: 'x' }), tag: 'v1' },
      { manifest: buildImage({ seed: 'y' }), tag: 'v1' },
    ]);
    await rejectsWith(
      openOciLayout(dir).resolve(ref(`oci:${dir}:v1`)),
      'AMBIGUOUS',
      /tag "v1" names 2 different manifests/,
    );
  });

  void test('by digest: an index child not listed in index.json; Docker media types', async () => {
    const dir = await fresh('index');
    const index = buildMultiPlatform('layout');
    const docker = buildImage({ seed: 'docker', docker: true });
    await writeLayout(dir, [
      { manifest: index, tag: 'v1' },
      { manifest: docker, tag: 'docker' },
    ]);
    const source = openOciLayout(dir);
    const top = await source.resolve(ref(`oci:${dir}:v1`));
    assert.equal(top.mediaType, MEDIA_TYPES.ociIndex);
    const child = index.children[1];
    assert.ok(child);
    const byDigest = await source.resolve(ref(`oci:${dir}@${child.digest}`));
    assert.deepEqual(byDigest, {
      mediaType: MEDIA_TYPES.ociManifest,
      digest: child.digest,
      size: child.bytes.length,
    });
    assert.equal((await source.resolve(ref(`oci:${dir}:docker`))).mediaType, MEDIA_TYPES.dockerManifest);
  });

  void test('differential: skopeo reads the same digests from the same layouts', async () => {
    const dir = await fresh('differential');
    await writeLayout(dir, [
      { manifest: buildMultiPlatform('differential'), tag: 'index' },
      { manifest: buildImage({ seed: 'differential-docker', docker: true }), tag: 'docker' },
      { manifest: buildImage({ seed: 'differential-oci', annotations: { a: 'b' } }), tag: 'oci' },
    ]);
    const source = openOciLayout(dir);
    // skopeo 1.9 finds only OCI media types through index.json, so the Docker one is ours alone.
    for (const tag of ['index', 'oci']) {
      const ours = await source.resolve(ref(`oci:${dir}:${tag}`));
      const { stdout } = await run('skopeo', ['inspect', '--raw', `oci:${dir}:${tag}`], {
        encoding: 'buffer',
      });
      assert.equal(ours.digest, sha256(stdout), tag);
    }
  });

  void test('tampered content is refused: manifest bytes, blob bytes, sizes and media types that lie', async () => {
    const dir = await fresh('tampered');
    const { image } = await writeOciLayout(dir, { tag: 'v1' });
    const source = openOciLayout(dir);
    const manifestPath = blobFile(dir, image.digest);
    const original = await readFile(manifestPath);
    await writeFile(
      manifestPath,
      Buffer.from(original.toString().replace('"schemaVersion":2', '"schemaVersion":2 ')),
    );
    await rejectsWith(
      source.resolve(ref(`oci:${dir}:v1`)),
      'DIGEST_MISMATCH',
      new RegExp(`content hashes to sha256:[0-9a-f]{64}, not ${image.digest}`),
    );
    await writeFile(manifestPath, original);

    const layer = image.blobs[1];
    assert.ok(layer);
    await writeFile(blobFile(dir, layer.digest), Buffer.concat([Buffer.from(layer.bytes), Buffer.from('x')]));
    await rejectsWith(
      source.fetchBlob(
        { mediaType: 'x', digest: layer.digest, size: layer.bytes.length },
        { maxBytes: 1 << 20 },
      ),
      'DIGEST_MISMATCH',
      /blob sha256:/,
    );
    await writeFile(blobFile(dir, layer.digest), layer.bytes);
    await rejectsWith(
      source.fetchBlob(
        { mediaType: 'x', digest: layer.digest, size: layer.bytes.length + 1 },
        { maxBytes: 1 << 20 },
      ),
      'SIZE_MISMATCH',
      /descriptor says \d+ bytes, the blob has \d+/,
    );

    const indexPath = join(dir, 'index.json');
    const index = JSON.parse(await readFile(indexPath, 'utf8')) as {
      manifests: Array<{ size: number; mediaType: string }>;
    };
    const entry = index.manifests[0];
    assert.ok(entry);
    entry.size += 1;
    await writeFile(indexPath, JSON.stringify(index));
    await rejectsWith(source.resolve(ref(`oci:${dir}:v1`)), 'SIZE_MISMATCH', /index.json says \d+ bytes/);
    entry.size -= 1;
    entry.mediaType = MEDIA_TYPES.ociIndex;
    await writeFile(indexPath, JSON.stringify(index));
    await rejectsWith(
      source.resolve(ref(`oci:${dir}:v1`)),
      'BAD_MANIFEST',
      /index.json says application\/vnd.oci.image.index.v1\+json, the manifest is/,
    );
  });

  void test('size limits: manifests and blobs beyond the limit are refused before or while reading', async () => {
    const dir = await fresh('limits');
    const { image } = await writeOciLayout(dir, { tag: 'v1', layers: [Buffer.alloc(5000, 1)] });
    const small = openOciLayout(dir, { limits: { manifestBytes: 100 } });
    await rejectsWith(small.resolve(ref(`oci:${dir}:v1`)), 'TOO_LARGE', /more than the limit of 100/);
    await rejectsWith(
      small.fetchManifest(image.digest),
      'TOO_LARGE',
      /manifest sha256:.* more than the limit of 100/,
    );
    const layer = image.blobs[1];
    assert.ok(layer);
    const source = openOciLayout(dir);
    // The descriptor says small but the file is big: the read stops at the limit.
    await rejectsWith(
      source.fetchBlob({ mediaType: 'x', digest: layer.digest, size: 10 }, { maxBytes: 100 }),
      'TOO_LARGE',
      /more than the limit of 100/,
    );
    await rejectsWith(
      source.fetchBlob({ mediaType: 'x', digest: layer.digest, size: 5000 }, { maxBytes: 100 }),
      'TOO_LARGE',
      /descriptor says 5000 bytes, more than the limit of 100/,
    );
    await assert.rejects(
      source.fetchBlob({ mediaType: 'x', digest: layer.digest, size: 1 }, { maxBytes: -1 }),
      TypeError,
    );
  });

  void test('only regular files: symlinks and FIFOs are refused without hanging', async () => {
    const dir = await fresh('special');
    const { image } = await writeOciLayout(dir, { tag: 'v1' });
    const layer = image.blobs[1];
    assert.ok(layer);
    await unlink(blobFile(dir, layer.digest));
    await symlink('/dev/zero', blobFile(dir, layer.digest));
    const source = openOciLayout(dir);
    await rejectsWith(
      source.fetchBlob(
        { mediaType: 'x', digest: layer.digest, size: layer.bytes.length },
        { maxBytes: 1 << 20 },
      ),
      'BAD_LAYOUT',
      /is a symlink/,
    );
    await unlink(blobFile(dir, layer.digest));
    await run('mkfifo', [blobFile(dir, layer.digest)]);
    await rejectsWith(
      source.fetchBlob(
        { mediaType: 'x', digest: layer.digest, size: layer.bytes.length },
        { maxBytes: 1 << 20 },
      ),
      'BAD_LAYOUT',
      /is not a regular file/,
    );
  });

  void test('not a layout, broken index.json, missing manifest, bad digests', async () => {
    const empty = await fresh('empty');
    await writeOciLayout(empty, { tag: 'v1' });
    await unlink(join(empty, 'oci-layout'));
    await rejectsWith(
      openOciLayout(empty).resolve(ref(`oci:${empty}:v1`)),
      'BAD_LAYOUT',
      /is not an OCI image layout \(no oci-layout file\)/,
    );

    const broken = await fresh('broken');
    await writeOciLayout(broken, { tag: 'v1' });
    await writeFile(join(broken, 'index.json'), '{"schemaVersion":2,"manifests":[');
    await rejectsWith(openOciLayout(broken).listTags(), 'BAD_LAYOUT', /index.json: is not valid JSON/);
    await writeFile(
      join(broken, 'index.json'),
      '{"schemaVersion":2,"manifests":[{"mediaType":"x","digest":"nope","size":1}]}',
    );
    await rejectsWith(
      openOciLayout(broken).listTags(),
      'BAD_MANIFEST',
      /index.json: manifests\[0\].digest "nope" is not a valid digest/,
    );
    await writeFile(join(broken, 'oci-layout'), '{"imageLayoutVersion":"2.0.0"}');
    await rejectsWith(openOciLayout(broken).listTags(), 'BAD_LAYOUT', /imageLayoutVersion "2.0.0"/);

    const missing = await fresh('missing');
    const { image } = await writeOciLayout(missing, { tag: 'v1' });
    await unlink(blobFile(missing, image.digest));
    await rejectsWith(
      openOciLayout(missing).resolve(ref(`oci:${missing}:v1`)),
      'NOT_FOUND',
      /manifest sha256:[0-9a-f]{64} not found/,
    );
    await rejectsWith(
      openOciLayout(missing).fetchManifest('sha256:../../../etc/passwd'),
      'BAD_DIGEST',
      /expected algorithm:hex/,
    );
    await rejectsWith(
      openOciLayout(missing).fetchManifest(`md5:${'a'.repeat(32)}`),
      'BAD_DIGEST',
      /unsupported algorithm/,
    );
    await rejectsWith(openOciLayout(join(work, 'nowhere')).listTags(), 'BAD_LAYOUT', /no oci-layout file/);
  });

  void test('a blob that is not a manifest is refused as one', async () => {
    const dir = await fresh('not-manifest');
    const { image } = await writeOciLayout(dir, { tag: 'v1' });
    const config = image.blobs[0];
    assert.ok(config);
    await rejectsWith(
      openOciLayout(dir).fetchManifest(config.digest),
      'BAD_MANIFEST',
      /manifest sha256:[0-9a-f]{64}: schemaVersion must be 2/,
    );
  });

  void test('a reference that does not name this layout is refused', async () => {
    const dir = await fresh('foreign');
    const other = await fresh('foreign-other');
    await writeOciLayout(dir, { tag: 'v1' });
    const source = openOciLayout(dir);
    const registryRef: ImageReference = {
      original: 'docker.io/library/app:v1',
      registry: 'docker.io',
      repository: 'library/app',
      tag: 'v1',
    };
    await rejectsWith(
      source.resolve(registryRef),
      'BAD_REFERENCE',
      /cannot resolve "docker.io\/library\/app:v1" here/,
    );
    await rejectsWith(source.resolve(ref(`oci:${other}:v1`)), 'BAD_REFERENCE', /does not name this layout/);
    // A relative spelling of the same directory is the same layout.
    const relative = relativePath(process.cwd(), dir);
    assert.equal((await source.resolve(ref(`oci:${relative}:v1`))).mediaType, MEDIA_TYPES.ociManifest);
  });

  void test('an aborted operation ends with DEADLINE_EXCEEDED', async () => {
    const dir = await fresh('aborted');
    await writeOciLayout(dir, { tag: 'v1' });
    const controller = new AbortController();
    controller.abort(new Error('deadline'));
    await rejectsWith(
      openOciLayout(dir).resolve(ref(`oci:${dir}:v1`), { signal: controller.signal }),
      'DEADLINE_EXCEEDED',
      /aborted/,
    );
  });

  void test('referrers: manifests whose subject is the digest, plus the sha256-<hex> tag schema, filtered by artifactType', async () => {
    const dir = await fresh('referrers');
    const image = buildImage({ seed: 'subject' });
    const other = buildImage({ seed: 'other' });
    const sbom = buildArtifact({
      artifactType: 'application/spdx+json',
      blobs: [{ mediaType: 'application/spdx+json', bytes: '{}' }],
      subject: image.descriptor,
      annotations: { 'org.example': 'sbom' },
    });
    const signature = buildArtifact({
      artifactType: 'application/vnd.dev.sigstore.bundle.v0.3+json',
      blobs: [{ mediaType: 'application/vnd.dev.sigstore.bundle.v0.3+json', bytes: '{"b":1}' }],
      subject: image.descriptor,
    });
    const unrelated = buildArtifact({
      artifactType: 'application/spdx+json',
      blobs: [{ mediaType: 'application/spdx+json', bytes: '{"other":1}' }],
      subject: other.descriptor,
    });
    const viaTag = buildArtifact({
      artifactType: 'application/vnd.example.vex',
      blobs: [{ mediaType: 'application/json', bytes: '[]' }],
      subject: image.descriptor,
    });
    const fallbackIndex = buildDescriptorIndex([viaTag.descriptor]);
    await writeLayout(dir, [
      { manifest: image, tag: 'v1' },
      { manifest: other, tag: 'other' },
      { manifest: sbom },
      { manifest: signature },
      { manifest: unrelated },
      { manifest: viaTag },
      { manifest: fallbackIndex, tag: image.digest.replace(':', '-') },
    ]);
    const source = openOciLayout(dir);
    const all = await source.referrers(image.digest);
    assert.deepEqual(all.map((d) => d.digest).sort(), [sbom.digest, signature.digest, viaTag.digest].sort());
    const sbomEntry = all.find((d) => d.digest === sbom.digest);
    assert.deepEqual(plain(sbomEntry), {
      mediaType: MEDIA_TYPES.ociManifest,
      digest: sbom.digest,
      size: sbom.bytes.length,
      artifactType: 'application/spdx+json',
      annotations: { 'org.example': 'sbom' },
    });
    const sboms = await source.referrers(image.digest, { artifactType: 'application/spdx+json' });
    assert.deepEqual(
      sboms.map((d) => d.digest),
      [sbom.digest],
    );
    assert.deepEqual(await source.referrers(`sha256:${'0'.repeat(64)}`), []);
    await rejectsWith(
      openOciLayout(dir, { limits: { referrers: 2 } }).referrers(image.digest),
      'TOO_MANY',
      /more than 2 referrers/,
    );
    await rejectsWith(source.referrers('sha256:zz'), 'BAD_DIGEST', /referrers of sha256:zz/);
    await rejectsWith(
      openOciLayout(dir, { referrerScanBytes: 500 }).referrers(image.digest),
      'TOO_MANY',
      /more than 500 bytes of manifests/,
    );
  });

  void test('a referrers tag that is not an index is refused', async () => {
    const dir = await fresh('bad-fallback');
    const image = buildImage({ seed: 'bad-fallback' });
    await writeLayout(dir, [
      { manifest: image, tag: 'v1' },
      { manifest: buildImage({ seed: 'impostor' }), tag: image.digest.replace(':', '-') },
    ]);
    await rejectsWith(
      openOciLayout(dir).referrers(image.digest),
      'BAD_MANIFEST',
      /referrers tag sha256-[0-9a-f]{64} is a application\/vnd.oci.image.manifest.v1\+json, not an index/,
    );
  });
});

void describe('OCI layout source: third-party layouts from shared/fixtures', () => {
  const A = 'sha256:a26b9f2187e829cdbda806d6729e554ec8534d6d856a10b33667191ab33a28c9';
  const INDEX = 'sha256:5a4b492d10e6bf17af27b6a69486693fd7efcf89c262ebc395f763efb16a579a';
  const ARM64 = 'sha256:b9a7e9b281a650b5c1b977cd60923f64d624a7b75c69260b416f8d270fa363b1';

  void test('img-a and img-b resolve v1 to their recorded digests, with verified config and layer', async () => {
    const source = openOciLayout(join(OCI_LAYOUTS_DIR, 'img-a'));
    const descriptor = await source.resolve(ref(`oci:${join(OCI_LAYOUTS_DIR, 'img-a')}:v1`));
    assert.equal(descriptor.digest, A);
    const manifest = await source.fetchManifest(A);
    const json = manifest.json as {
      config: { digest: string; size: number };
      layers: Array<{ digest: string; size: number }>;
    };
    const config = await source.fetchBlob(
      { mediaType: MEDIA_TYPES.ociConfig, ...json.config },
      { maxBytes: 4096 },
    );
    assert.equal(sha256(config), json.config.digest);
    const b = await openOciLayout(join(OCI_LAYOUTS_DIR, 'img-b')).resolve(
      ref(`oci:${join(OCI_LAYOUTS_DIR, 'img-b')}:v1`),
    );
    assert.equal(b.digest, 'sha256:7ffece328df5fbc2268debb641e0d33e67f52dd42dab343ec6b69bd7f681174f');
  });

  void test('img-index: the index and both platform manifests', async () => {
    const dir = join(OCI_LAYOUTS_DIR, 'img-index');
    const source = openOciLayout(dir);
    const top = await source.resolve(ref(`oci:${dir}:v1`));
    assert.deepEqual(plain(top), {
      mediaType: MEDIA_TYPES.ociIndex,
      digest: INDEX,
      size: 491,
      annotations: { 'org.opencontainers.image.ref.name': 'v1' },
    });
    const index = (await source.fetchManifest(INDEX)).json as { manifests: Array<{ digest: string }> };
    assert.deepEqual(
      index.manifests.map((m) => m.digest),
      [A, ARM64],
    );
    assert.equal((await source.resolve(ref(`oci:${dir}@${ARM64}`))).digest, ARM64);
    assert.deepEqual(await source.referrers(INDEX), []);
  });

  void test('img-built (Debian buildah): same digest as skopeo reads from the same layout', async () => {
    const dir = join(OCI_LAYOUTS_DIR, 'img-built');
    const ours = await openOciLayout(dir).resolve(ref(`oci:${dir}:v1`));
    const { stdout } = await run('skopeo', ['inspect', '--raw', `oci:${dir}:v1`], { encoding: 'buffer' });
    assert.equal(ours.digest, sha256(stdout));
    assert.equal(ours.digest, 'sha256:75515c76204624767b6d3c7c9054706b79190e431283cb6b4a8efa7f4c147db1');
  });

  void test('a writable copy of a fixture with one flipped byte is refused', async () => {
    const work = await mkdtemp(join(tmpdir(), 'portcullis-layout-fixture-'));
    try {
      await cp(join(OCI_LAYOUTS_DIR, 'img-a'), work, { recursive: true });
      const path = join(work, 'blobs', 'sha256', A.slice(7));
      await chmod(path, 0o644);
      const bytes = await readFile(path);
      const at = bytes.length - 2;
      bytes.writeUInt8(bytes.readUInt8(at) ^ 1, at);
      await writeFile(path, bytes);
      await rejectsWith(
        openOciLayout(work).resolve(ref(`oci:${work}:v1`)),
        'DIGEST_MISMATCH',
        /content hashes to/,
      );
    } finally {
      await rm(work, { recursive: true, force: true });
    }
  });
});
