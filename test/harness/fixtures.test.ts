import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { startRegistry } from './registry.ts';
import type { RunningRegistry } from './registry.ts';
import { FIXTURES_DIR, dumpRepositories, fixturePath, replayRegistryDump } from './fixtures.ts';
import type { ReplayedDump } from './fixtures.ts';
import { MEDIA_TYPES, sha256 } from './images.ts';

const IMAGE_A = 'sha256:a26b9f2187e829cdbda806d6729e554ec8534d6d856a10b33667191ab33a28c9';
const IMAGE_B = 'sha256:7ffece328df5fbc2268debb641e0d33e67f52dd42dab343ec6b69bd7f681174f';
const INDEX = 'sha256:5a4b492d10e6bf17af27b6a69486693fd7efcf89c262ebc395f763efb16a579a';
const ARM64 = 'sha256:b9a7e9b281a650b5c1b977cd60923f64d624a7b75c69260b416f8d270fa363b1';
const sigTag = (digest: string): string => `${digest.replace(':', '-')}.sig`;

void describe('shared fixtures', () => {
  void test('resolve beside the repository root', () => {
    assert.match(FIXTURES_DIR, /shared\/fixtures\/$/);
    assert.ok(existsSync(join(FIXTURES_DIR, 'PROVENANCE.md')));
  });
  void test('a missing fixture is a clear error', () => {
    assert.throws(() => fixturePath('no-such-fixture'), /fixture .*no-such-fixture not found/);
  });
});

void describe('replaying the skopeo-signed registry dump', () => {
  let registry: RunningRegistry;
  let replayed: ReplayedDump;
  before(async () => {
    registry = await startRegistry();
    replayed = await replayRegistryDump(registry.host);
  });
  after(async () => {
    await registry?.stop();
  });

  void test('every repository of the dump is pushed', () => {
    assert.deepEqual(Object.keys(replayed).sort(), dumpRepositories());
    assert.ok(dumpRepositories().includes('test/app'));
  });

  void test('image tags and cosign signature tags resolve to the expected digests', () => {
    assert.equal(replayed['test/app']?.['v1'], IMAGE_A);
    assert.equal(replayed['test/app']?.['v2'], IMAGE_A);
    assert.equal(replayed['test/mirror']?.['v1'], IMAGE_A);
    assert.equal(replayed['test/multi']?.['v1'], IMAGE_B);
    assert.equal(replayed['test/unsigned']?.['v1'], IMAGE_B);
    assert.deepEqual(Object.keys(replayed['test/unsigned'] ?? {}), ['v1']);
    assert.ok(replayed['test/app']?.[sigTag(IMAGE_A)]);
    assert.ok(replayed['test/multi']?.[sigTag(IMAGE_B)]);
    assert.equal(replayed['test/multiarch-idxonly']?.['v1'], INDEX);
    assert.deepEqual(Object.keys(replayed['test/multiarch-idxonly'] ?? {}).sort(), [sigTag(INDEX), 'v1']);
    assert.deepEqual(
      Object.keys(replayed['test/multiarch-skopeo'] ?? {}).sort(),
      [sigTag(INDEX), sigTag(IMAGE_A), sigTag(ARM64), 'v1'].sort(),
    );
  });

  void test('the registry serves each tag with exactly the bytes of its digest', async () => {
    for (const [repo, tags] of Object.entries(replayed)) {
      const list = (await (await fetch(`${registry.url}/v2/${repo}/tags/list`)).json()) as { tags: string[] };
      assert.deepEqual(list.tags.sort(), Object.keys(tags).sort());
      for (const [tag, digest] of Object.entries(tags)) {
        const response = await fetch(`${registry.url}/v2/${repo}/manifests/${tag}`, {
          headers: { accept: `${MEDIA_TYPES.ociManifest}, ${MEDIA_TYPES.ociIndex}` },
        });
        assert.equal(response.status, 200, `${repo}:${tag}`);
        assert.equal(sha256(Buffer.from(await response.arrayBuffer())), digest, `${repo}:${tag}`);
      }
    }
  });

  void test('index children and signature payload blobs are present', async () => {
    const child = await fetch(`${registry.url}/v2/test/multiarch-skopeo/manifests/${ARM64}`, {
      headers: { accept: MEDIA_TYPES.ociManifest },
    });
    assert.equal(child.status, 200);
    await child.body?.cancel();
    const sig = await fetch(`${registry.url}/v2/test/app/manifests/${sigTag(IMAGE_A)}`, {
      headers: { accept: MEDIA_TYPES.ociManifest },
    });
    const json = (await sig.json()) as { layers: Array<{ digest: string; mediaType: string }> };
    assert.equal(json.layers[0]?.mediaType, 'application/vnd.dev.cosign.simplesigning.v1+json');
    const payload = await fetch(`${registry.url}/v2/test/app/blobs/${json.layers[0]?.digest ?? ''}`);
    const text = await payload.text();
    assert.match(text, /"docker-manifest-digest":"sha256:a26b9f21/);
  });

  void test('replaying a subset is possible', async () => {
    const other = await startRegistry();
    try {
      const subset = await replayRegistryDump(other.host, { repos: ['test/unsigned'] });
      assert.deepEqual(subset, { 'test/unsigned': { v1: IMAGE_B } });
    } finally {
      await other.stop();
    }
  });
});
