import { test } from 'node:test';
import assert from 'node:assert/strict';
import { resolve } from 'node:path';
import {
  formatLayoutReference,
  isLayoutReference,
  layoutImageReference,
  parseLayoutReference,
} from '../../src/registry/layout-reference.ts';

const DIGEST = `sha256:${'ab'.repeat(32)}`;

void test('oci:DIR, oci:DIR:TAG and oci:DIR@DIGEST', () => {
  assert.deepEqual(parseLayoutReference('oci:/images/app'), {
    original: 'oci:/images/app',
    dir: '/images/app',
    absoluteDir: '/images/app',
  });
  assert.deepEqual(parseLayoutReference('oci:/images/app:v1.2_rc-1'), {
    original: 'oci:/images/app:v1.2_rc-1',
    dir: '/images/app',
    absoluteDir: '/images/app',
    tag: 'v1.2_rc-1',
  });
  const byDigest = parseLayoutReference(`oci:/images/app@${DIGEST}`);
  assert.equal(byDigest.dir, '/images/app');
  assert.equal(byDigest.digest, DIGEST);
  assert.equal(byDigest.tag, undefined);
});

void test('a colon inside the path: the last colon splits only when a tag follows', () => {
  assert.deepEqual(
    [parseLayoutReference('oci:/mnt/c:/images/app:v1')].map((r) => [r.dir, r.tag]),
    [['/mnt/c:/images/app', 'v1']],
  );
  // What follows the last colon contains "/": not a tag, all of it is the path.
  assert.equal(parseLayoutReference('oci:/mnt/c:/images/app').dir, '/mnt/c:/images/app');
  assert.equal(parseLayoutReference('oci:/mnt/c:/images/app').tag, undefined);
  // A directory named "a:b": tag-like suffix reads as a tag; a trailing slash or an explicit tag disambiguates.
  assert.deepEqual(
    [parseLayoutReference('oci:/x/a:b')].map((r) => [r.dir, r.tag]),
    [['/x/a', 'b']],
  );
  assert.deepEqual(
    [parseLayoutReference('oci:/x/a:b/')].map((r) => [r.dir, r.tag]),
    [['/x/a:b/', undefined]],
  );
  assert.deepEqual(
    [parseLayoutReference('oci:/x/a:b:latest')].map((r) => [r.dir, r.tag]),
    [['/x/a:b', 'latest']],
  );
  assert.equal(parseLayoutReference(`oci:/x/a:b@${DIGEST}`).dir, '/x/a:b');
});

void test('relative directories are kept as written and resolved for use', () => {
  const ref = parseLayoutReference('oci:build/layout:v1');
  assert.equal(ref.dir, 'build/layout');
  assert.equal(ref.absoluteDir, resolve('build/layout'));
  assert.equal(formatLayoutReference(ref), `oci:${resolve('build/layout')}:v1`);
  assert.deepEqual(layoutImageReference(ref), {
    original: 'oci:build/layout:v1',
    registry: 'oci',
    repository: resolve('build/layout'),
    tag: 'v1',
  });
});

void test('bad references are refused with the reason', () => {
  const cases: Array<[string, RegExp]> = [
    ['docker://x/y:v1', /must start with "oci:"/],
    ['oci:', /directory is empty/],
    ['oci::v1', /directory is empty/],
    [`oci:@${DIGEST}`, /directory is empty/],
    ['oci:/x@sha256:1234', /is not a sha256\/sha512 digest/],
    [`oci:/x@md5:${'a'.repeat(32)}`, /is not a sha256\/sha512 digest/],
    [`oci:/x@sha256:${'AB'.repeat(32)}`, /is not a sha256\/sha512 digest/],
    ['oci:/x\n:v1', /control characters/],
    [`oci:/${'a'.repeat(5000)}`, /longer than 4096/],
  ];
  for (const [input, reason] of cases) {
    assert.throws(
      () => parseLayoutReference(input),
      (error: Error & { code?: string }) => {
        assert.equal(error.code, 'BAD_REFERENCE', input);
        assert.match(error.message, reason, input);
        assert.match(error.message, /^invalid OCI layout reference /);
        return true;
      },
    );
  }
  assert.equal(isLayoutReference('oci:/x'), true);
  assert.equal(isLayoutReference('docker.io/library/nginx'), false);
});
