import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  canonical,
  checkDigest,
  DigestConflictError,
  familiar,
  familiarName,
  parseReference,
  ReferenceParseError,
  repositoryName,
  withDigest,
} from '../../src/reference/index.ts';

const SHA256 = 'sha256:' + '0123456789abcdef'.repeat(4);
const OTHER = 'sha256:' + 'f'.repeat(64);

const forms: { input: string; canonical: string; familiar: string; repository: string }[] = [
  {
    input: 'nginx',
    canonical: 'docker.io/library/nginx:latest',
    familiar: 'nginx:latest',
    repository: 'docker.io/library/nginx',
  },
  {
    input: 'nginx:1.25',
    canonical: 'docker.io/library/nginx:1.25',
    familiar: 'nginx:1.25',
    repository: 'docker.io/library/nginx',
  },
  {
    input: 'user/app:1',
    canonical: 'docker.io/user/app:1',
    familiar: 'user/app:1',
    repository: 'docker.io/user/app',
  },
  {
    input: 'index.docker.io/library/a/b',
    canonical: 'docker.io/library/a/b:latest',
    familiar: 'library/a/b:latest',
    repository: 'docker.io/library/a/b',
  },
  {
    input: `nginx@${SHA256}`,
    canonical: `docker.io/library/nginx@${SHA256}`,
    familiar: `nginx@${SHA256}`,
    repository: 'docker.io/library/nginx',
  },
  {
    input: `GHCR.io/acme/app:v1@${SHA256}`,
    canonical: `ghcr.io/acme/app:v1@${SHA256}`,
    familiar: `ghcr.io/acme/app:v1@${SHA256}`,
    repository: 'ghcr.io/acme/app',
  },
  {
    input: 'localhost:5000/x',
    canonical: 'localhost:5000/x:latest',
    familiar: 'localhost:5000/x:latest',
    repository: 'localhost:5000/x',
  },
  {
    input: '[0::1]:5000/x:v',
    canonical: '[::1]:5000/x:v',
    familiar: '[::1]:5000/x:v',
    repository: '[::1]:5000/x',
  },
];

for (const f of forms) {
  void test(`formats ${f.input}`, () => {
    const ref = parseReference(f.input);
    assert.equal(canonical(ref), f.canonical);
    assert.equal(familiar(ref), f.familiar);
    assert.equal(repositoryName(ref), f.repository);
    // Both forms name the same image.
    assert.equal(canonical(parseReference(canonical(ref))), f.canonical);
    assert.equal(canonical(parseReference(familiar(ref))), f.canonical);
  });
}

void test('familiarName drops docker.io/ and a lone library/', () => {
  assert.equal(familiarName(parseReference('docker.io/library/nginx:1')), 'nginx');
  assert.equal(familiarName(parseReference('docker.io/acme/app')), 'acme/app');
  assert.equal(familiarName(parseReference('quay.io/library/x')), 'quay.io/library/x');
  // Dropping docker.io/ here would turn the first component into a host.
  assert.equal(familiarName(parseReference('docker.io/a.b/c')), 'docker.io/a.b/c');
  assert.equal(familiarName(parseReference('docker.io/localhost/c')), 'docker.io/localhost/c');
  assert.equal(familiarName(parseReference('docker.io/localhost')), 'localhost');
});

void test('withDigest pins a tagged reference and keeps the tag', () => {
  const pinned = withDigest(parseReference('nginx:1.25'), SHA256);
  assert.deepEqual(
    { ...pinned },
    {
      original: `docker.io/library/nginx:1.25@${SHA256}`,
      registry: 'docker.io',
      repository: 'library/nginx',
      tag: '1.25',
      digest: SHA256,
    },
  );
  assert.equal(canonical(pinned), `docker.io/library/nginx:1.25@${SHA256}`);
  assert.deepEqual(parseReference(pinned.original), pinned);
});

void test('withDigest on an untagged reference adds no tag', () => {
  const pinned = withDigest(parseReference('ghcr.io/acme/app'), SHA256);
  assert.equal(canonical(pinned), `ghcr.io/acme/app@${SHA256}`);
  assert.equal(pinned.tag, undefined);
});

void test('withDigest with the digest already pinned is a no-op in value', () => {
  const ref = parseReference(`ghcr.io/acme/app:v1@${SHA256}`);
  assert.equal(canonical(withDigest(ref, SHA256)), canonical(ref));
});

void test('withDigest refuses to re-pin to another digest', () => {
  const ref = parseReference(`ghcr.io/acme/app:v1@${SHA256}`);
  assert.throws(
    () => withDigest(ref, OTHER),
    (error: unknown) => {
      assert.ok(error instanceof DigestConflictError);
      assert.equal(error.code, 'REFERENCE_DIGEST_CONFLICT');
      assert.equal(
        error.message,
        `ghcr.io/acme/app:v1@${SHA256} is pinned to ${SHA256}, refusing to re-pin it to ${OTHER}`,
      );
      return true;
    },
  );
});

void test('withDigest rejects an invalid digest, positioned in the reference it would make', () => {
  const ref = parseReference('ghcr.io/acme/app:v1');
  assert.throws(
    () => withDigest(ref, 'sha256:abc'),
    (error: unknown) => {
      assert.ok(error instanceof ReferenceParseError);
      assert.equal(error.input, 'ghcr.io/acme/app:v1@sha256:abc');
      assert.equal(error.position, 27);
      assert.equal(error.detail, 'digest sha256 must have 64 hex characters, found 3');
      return true;
    },
  );
  assert.throws(() => withDigest(ref, ''), { detail: "'@' must be followed by a digest", position: 19 });
  assert.throws(() => withDigest(ref, 'md5:' + 'a'.repeat(32)), {
    detail: "unsupported digest algorithm 'md5' (supported: sha256, sha512)",
  });
});

void test('checkDigest validates a digest written on its own', () => {
  assert.equal(checkDigest(SHA256), undefined);
  assert.equal(checkDigest('sha512:' + 'a'.repeat(128)), undefined);
  assert.deepEqual(checkDigest(''), { position: 0, detail: 'empty digest' });
  assert.deepEqual(checkDigest('sha256:' + 'A'.repeat(64)), {
    position: 7,
    detail: 'digest hex must be lowercase',
  });
  assert.deepEqual(checkDigest('sha1:' + 'a'.repeat(40)), {
    position: 0,
    detail: "unsupported digest algorithm 'sha1' (supported: sha256, sha512)",
  });
});
