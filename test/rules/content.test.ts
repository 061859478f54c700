/**
 * The content rules (attributes, baseImage) judge the verified manifest and config only as evidence about
 * the digest being decided: content whose tie to that digest is not known fails the rule, with the reason.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { known, unavailable, type ImageFacts } from '../../src/engine/facts.ts';
import { fail } from '../../src/engine/outcome.ts';
import type { ImageContent, PlatformContent } from '../../src/providers/image-content.ts';
import { evaluateRule } from '../../src/rules/index.ts';
import { DIGEST_A, DIGEST_B, factsFor, rule } from './helpers.ts';

const NOW = new Date('2026-11-27T00:00:00Z');

const platform: PlatformContent = {
  platform: 'linux/amd64',
  digest: DIGEST_B,
  manifest: {},
  config: {},
  attributes: {
    user: '65532',
    labels: {},
    annotations: {},
    os: 'linux',
    architecture: 'amd64',
    layers: [],
    diffIds: [],
    layerCount: 0,
    size: 1000,
    history: [],
  },
  bases: [],
};
const content: ImageContent = { digest: DIGEST_A, platforms: [platform], now: NOW };

const nonRoot = rule('attributes', { nonRoot: true });
const base = rule('baseImage', { allowed: ['cgr.dev/chainguard/static:latest'] });

function withContent(digest: ImageFacts['digest'], c: ImageContent = content): ImageFacts {
  const facts = factsFor('ghcr.io/acme/api:1.0', digest);
  return { ...facts, content: known(c) };
}

void test('content rules: content of the decided digest is judged', () => {
  assert.equal(evaluateRule(nonRoot, withContent(known(DIGEST_A))).verdict, 'pass');
});

void test('content rules: content with the decision digest unknown fails, with the reason', () => {
  const down = unavailable<string>('registry ghcr.io answered 503');
  for (const r of [nonRoot, base]) {
    assert.deepEqual(
      evaluateRule(r, withContent(down)),
      fail(
        `image content was fetched for ${DIGEST_A}, but the image digest is unknown: registry ghcr.io answered 503`,
      ),
      r.kind,
    );
    assert.deepEqual(
      evaluateRule(r, withContent(undefined)),
      fail(
        `image content was fetched for ${DIGEST_A}, but the image digest is unknown: none was written or resolved`,
      ),
      r.kind,
    );
  }
});

void test('content rules: content not fetched, unavailable, for another digest, or empty fails', () => {
  const bare = factsFor('ghcr.io/acme/api:1.0', known(DIGEST_A));
  assert.deepEqual(
    evaluateRule(nonRoot, bare),
    fail('the image content (manifest and config) was not fetched for this image'),
  );
  assert.deepEqual(
    evaluateRule(base, bare),
    fail('the image content (manifest, config, base layers) was not fetched for this image'),
  );
  for (const r of [nonRoot, base]) {
    const reason = 'image content of sha256:aaaa could not be read: registry ghcr.io answered 503';
    assert.deepEqual(evaluateRule(r, { ...bare, content: unavailable(reason) }), fail(reason), r.kind);
    assert.deepEqual(
      evaluateRule(r, withContent(known(DIGEST_B))),
      fail(`image content was fetched for ${DIGEST_A}, not for the image digest ${DIGEST_B}`),
      r.kind,
    );
    assert.deepEqual(
      evaluateRule(r, withContent(known(DIGEST_A), { ...content, platforms: [] })),
      fail(`image ${DIGEST_A} has no platform images to judge`),
      r.kind,
    );
  }
});
