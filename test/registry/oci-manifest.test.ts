import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { computeDigest, isDigestGrammar, parseDigest } from '../../src/oci/digest.ts';
import { ManifestError, parseManifest, parseManifestJson } from '../../src/oci/manifest.ts';
import { DOCKER_MANIFEST, DOCKER_MANIFEST_LIST, OCI_INDEX, OCI_MANIFEST } from '../../src/oci/media-types.ts';

const D1 = `sha256:${'a'.repeat(64)}`;
const D2 = `sha256:${'b'.repeat(64)}`;
const desc = (digest = D1, extra: Record<string, unknown> = {}) => ({
  mediaType: 'application/x',
  digest,
  size: 10,
  ...extra,
});
const image = (extra: Record<string, unknown> = {}) => ({
  schemaVersion: 2,
  mediaType: OCI_MANIFEST,
  config: desc(D1),
  layers: [desc(D2)],
  ...extra,
});
const bytes = (value: unknown) => Buffer.from(JSON.stringify(value));

function rejects(fn: () => unknown, code: string, pattern: RegExp): void {
  assert.throws(fn, (error: unknown) => {
    assert.ok(error instanceof ManifestError, String(error));
    assert.equal(error.code, code);
    assert.match(error.message, pattern);
    return true;
  });
}

void describe('digests', () => {
  void test('accepts sha256/sha512 lower-case hex of the right length only', () => {
    assert.deepEqual(parseDigest(D1), { algorithm: 'sha256', encoded: 'a'.repeat(64) });
    assert.equal(parseDigest(`sha512:${'c'.repeat(128)}`).algorithm, 'sha512');
    assert.throws(() => parseDigest(`sha256:${'A'.repeat(64)}`), /lower-case hex/);
    assert.throws(() => parseDigest(`sha256:${'a'.repeat(63)}`), /64 lower-case hex/);
    assert.throws(() => parseDigest(`md5:${'a'.repeat(32)}`), /unsupported algorithm "md5"/);
    assert.throws(() => parseDigest('sha256'), /expected algorithm:hex/);
  });
  void test('grammar is linear on hostile input', () => {
    assert.equal(isDigestGrammar(`${'a-'.repeat(5000)}:x`), false);
    assert.equal(isDigestGrammar('multihash+base58:QmRZxt2b1FVZPNqd8hsiykDL3TdBDeTSPX9Kv46HmX4Gx8'), true);
  });
  void test('computeDigest hashes bytes', () => {
    assert.equal(
      computeDigest(Buffer.from('{}')),
      'sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a',
    );
  });
});

void describe('parseManifest', () => {
  void test('image manifest with subject, annotations and artifactType', () => {
    const parsed = parseManifest(
      bytes(image({ subject: desc(D2), annotations: { a: 'b' }, artifactType: 'application/y' })),
    );
    assert.equal(parsed.kind, 'image');
    assert.equal(parsed.mediaType, OCI_MANIFEST);
    assert.equal(parsed.subject?.digest, D2);
    assert.equal(parsed.annotations?.a, 'b');
    assert.equal(parsed.artifactType, 'application/y');
  });

  void test('index with platforms; Docker types; media type from hint or shape when absent', () => {
    const index = {
      schemaVersion: 2,
      manifests: [desc(D1, { platform: { os: 'linux', architecture: 'arm64', variant: 'v8' } })],
    };
    const parsed = parseManifest(bytes(index));
    assert.equal(parsed.kind, 'index');
    assert.equal(parsed.mediaType, OCI_INDEX);
    assert.equal(parsed.kind === 'index' && parsed.manifests[0]?.platform?.variant, 'v8');
    assert.equal(
      parseManifest(bytes(index), `${DOCKER_MANIFEST_LIST}; charset=utf-8`).mediaType,
      DOCKER_MANIFEST_LIST,
    );
    assert.equal(parseManifest(bytes(image({ mediaType: DOCKER_MANIFEST }))).mediaType, DOCKER_MANIFEST);
    const { mediaType: _ignored, ...noType } = image();
    assert.equal(parseManifest(bytes(noType)).kind, 'image');
  });

  void test('refuses documents that are both image and index (CVE-2021-41190)', () => {
    rejects(
      () => parseManifest(bytes(image({ manifests: [] })), undefined, { digest: D1 }),
      'BAD_MANIFEST',
      new RegExp(`manifest ${D1}: .*ambiguous`),
    );
    rejects(
      () => parseManifestJson({ schemaVersion: 2, mediaType: OCI_INDEX, manifests: [], config: desc() }),
      'BAD_MANIFEST',
      /ambiguous/,
    );
    rejects(
      () => parseManifestJson({ schemaVersion: 2, mediaType: OCI_INDEX, layers: [] }),
      'BAD_MANIFEST',
      /has layers\/config/,
    );
  });

  void test('names what is wrong: schemaVersion, digests, sizes, media types, JSON, UTF-8', () => {
    rejects(() => parseManifestJson(image({ schemaVersion: 1 })), 'BAD_MANIFEST', /schemaVersion must be 2/);
    rejects(
      () => parseManifestJson(image({ layers: [desc('sha256:xyz')] })),
      'BAD_MANIFEST',
      /layers\[0\]\.digest "sha256:xyz" is not a valid digest/,
    );
    rejects(
      () => parseManifestJson(image({ layers: [desc(D1, { size: -1 })] })),
      'BAD_MANIFEST',
      /layers\[0\]\.size must be a non-negative integer/,
    );
    rejects(
      () => parseManifestJson(image({ layers: [desc(D1, { size: 2 ** 60 })] })),
      'BAD_MANIFEST',
      /size must be a non-negative integer/,
    );
    rejects(() => parseManifestJson(image({ layers: [desc(D1, { size: 1.5 })] })), 'BAD_MANIFEST', /size/);
    rejects(
      () => parseManifestJson(image({ config: { digest: D1, size: 1 } })),
      'BAD_MANIFEST',
      /config\.mediaType/,
    );
    rejects(
      () =>
        parseManifestJson(image({ mediaType: 'application/vnd.docker.distribution.manifest.v1+prettyjws' })),
      'BAD_MANIFEST',
      /schema 1/,
    );
    rejects(
      () => parseManifestJson(image({ mediaType: 'text/plain' })),
      'BAD_MANIFEST',
      /unsupported mediaType "text\/plain"/,
    );
    rejects(() => parseManifest(Buffer.from('{"schemaVersion":2,')), 'BAD_MANIFEST', /not valid JSON/);
    rejects(() => parseManifest(Buffer.from([0x7b, 0xff, 0x7d])), 'BAD_MANIFEST', /not valid UTF-8/);
    rejects(() => parseManifestJson([]), 'BAD_MANIFEST', /not a JSON object/);
    rejects(
      () => parseManifestJson(image({ annotations: { a: 1 } })),
      'BAD_MANIFEST',
      /annotations\["a"\] must be a string/,
    );
    rejects(
      () => parseManifestJson(image({ layers: [desc(D1, { platform: { os: 'linux' } })] })),
      'BAD_MANIFEST',
      /platform\.architecture/,
    );
  });

  void test('caps counts before walking them (GHSA-95pr-fxf5-86gv)', () => {
    const many = Array.from({ length: 1_000_000 }, () => 0);
    rejects(
      () => parseManifestJson(image({ layers: many })),
      'TOO_MANY',
      /1000000 layers, more than the limit of 256/,
    );
    rejects(
      () => parseManifestJson({ schemaVersion: 2, mediaType: OCI_INDEX, manifests: many }),
      'TOO_MANY',
      /1000000 manifests, more than the limit of 1024/,
    );
    rejects(
      () => parseManifestJson(image({ layers: [desc(), desc()] }), undefined, { limits: { maxLayers: 1 } }),
      'TOO_MANY',
      /limit of 1/,
    );
    const annotations = Object.fromEntries(Array.from({ length: 300 }, (_, i) => [`k${i}`, 'v']));
    rejects(() => parseManifestJson(image({ annotations })), 'TOO_MANY', /300 entries/);
    rejects(
      () => parseManifestJson(image({ annotations: { a: 'x'.repeat(2 * 1024 * 1024) } })),
      'TOO_MANY',
      /annotations exceed/,
    );
  });
});
