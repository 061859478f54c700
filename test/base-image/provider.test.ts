/**
 * The content provider's bounds and the rule's edge cases, over an OCI layout written by the harness:
 * candidate bases are capped per image, a base with no layers proves nothing, configs that are not
 * what they should be are refused.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { known, type ImageFacts } from '../../src/engine/facts.ts';
import { loadPolicySet } from '../../src/policy/load.ts';
import type { BaseImageRule } from '../../src/policy/model.ts';
import {
  fetchImageContent,
  MAX_BASE_CANDIDATES,
  type ImageContent,
} from '../../src/providers/image-content.ts';
import { parseReference } from '../../src/reference/index.ts';
import type { ContentSource } from '../../src/registry/content.ts';
import { openOciLayout } from '../../src/registry/layout.ts';
import { DEFAULT_LIMITS } from '../../src/registry/limits.ts';
import { evaluateRule } from '../../src/rules/index.ts';
import {
  buildImage,
  manifestFromJson,
  MEDIA_TYPES,
  sha256,
  writeLayout,
  type BuiltManifest,
} from '../harness/images.ts';
import { NOW } from '../attributes/support.ts';

let dir: string;
let layout: ContentSource;
let app: BuiltManifest;
let scratchApp: BuiltManifest;
let badConfig: BuiltManifest;
const resolved: string[] = [];

/** Bases are "in a registry": served from the layout by tag, counting what is resolved. */
const baseSource = (): ContentSource => ({
  ...layout,
  location: 'bases',
  resolve: async (ref, options) => {
    resolved.push(ref.original);
    const found = await layout.resolveTag(ref.tag ?? 'latest', options);
    if (!found) throw new Error(`${ref.original}: not found`);
    return found;
  },
  fetchManifest: (d, o) => layout.fetchManifest(d, o),
  fetchBlob: (d, o) => layout.fetchBlob(d, o),
});

const layer = (name: string) => ({ files: { [name]: name } });

before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'portcullis-base-'));
  const entries = [];
  for (let i = 1; i <= MAX_BASE_CANDIDATES + 2; i++) {
    entries.push({ manifest: buildImage({ layers: [layer(`base-${i}`)] }), tag: `b${i}` });
  }
  const scratch = buildImage({ layers: [] });
  app = buildImage({ layers: [layer(`base-${MAX_BASE_CANDIDATES + 2}`), layer('app')] });
  scratchApp = buildImage({ layers: [layer('app')] });
  const config = Buffer.from(JSON.stringify({ os: 'linux', architecture: 'amd64', config: { User: 7 } }));
  badConfig = manifestFromJson(
    {
      schemaVersion: 2,
      mediaType: MEDIA_TYPES.ociManifest,
      config: { mediaType: MEDIA_TYPES.ociConfig, digest: sha256(config), size: config.length },
      layers: [],
    },
    MEDIA_TYPES.ociManifest,
    [{ digest: sha256(config), bytes: config }],
  );
  await writeLayout(dir, [
    ...entries,
    { manifest: scratch, tag: 'scratch' },
    { manifest: app, tag: 'app' },
    { manifest: scratchApp, tag: 'scratch-app' },
    { manifest: badConfig, tag: 'bad-config' },
  ]);
  layout = openOciLayout(dir);
});

after(async () => {
  if (dir) await rm(dir, { recursive: true, force: true });
});

function baseRule(allowed: string[]): BaseImageRule {
  const text = `apiVersion: portcullis.dev/v1alpha1\nkind: ImagePolicy\nmetadata: {name: p}\nspec:\n  images: [{glob: '**'}]\n  rules:\n    - baseImage:\n        allowed:\n${allowed.map((a) => `          - ${a}\n`).join('')}`;
  const loaded = loadPolicySet([{ path: 'p.yaml', text }]);
  assert.ok(loaded.ok, JSON.stringify(loaded));
  const rule = loaded.policySet.policies[0]?.rules[0];
  assert.equal(rule?.kind, 'baseImage');
  return rule;
}

async function content(image: BuiltManifest, rule: BaseImageRule): Promise<ImageContent> {
  const fact = await fetchImageContent(
    layout,
    image.digest,
    { bases: rule.allowed },
    {
      signal: AbortSignal.timeout(10_000),
      limits: DEFAULT_LIMITS,
      now: NOW,
      openBase: baseSource,
    },
  );
  assert.ok(fact.available, JSON.stringify(fact));
  return fact.value;
}

const factsOf = (c: ImageContent): ImageFacts => ({
  image: 'registry.example/app:1',
  reference: parseReference('registry.example/app:1'),
  digest: known(c.digest),
  content: known(c),
});

void test(`at most ${MAX_BASE_CANDIDATES} bases are resolved per image; the rest are named in the denial`, async () => {
  const tags = Array.from({ length: MAX_BASE_CANDIDATES + 2 }, (_, i) => `registry.example/base:b${i + 1}`);
  const rule = baseRule(tags);
  resolved.length = 0;
  const c = await content(app, rule);
  assert.equal(resolved.length, MAX_BASE_CANDIDATES);
  assert.deepEqual(c.basesNotTried, tags.slice(MAX_BASE_CANDIDATES));
  const outcome = evaluateRule(rule, factsOf(c));
  assert.equal(outcome.verdict, 'fail');
  assert.match(
    outcome.reason,
    /; not tried \(limit 8\): registry\.example\/base:b9, registry\.example\/base:b10$/,
  );
  // The base the image was really built on (b10) is found when it is among the first eight.
  const found = evaluateRule(
    baseRule(['registry.example/base:b10']),
    factsOf(await content(app, baseRule(['registry.example/base:b10']))),
  );
  assert.equal(found.verdict, 'pass', found.reason);
});

void test('a base with no layers (scratch) proves nothing', async () => {
  const rule = baseRule(['registry.example/base:scratch']);
  const outcome = evaluateRule(rule, factsOf(await content(scratchApp, rule)));
  assert.equal(outcome.verdict, 'fail');
  assert.match(
    outcome.reason,
    /registry\.example\/base:scratch \(sha256:[0-9a-f]{64}\) has no layers, which proves nothing$/,
  );
});

void test('a config with a field of the wrong type makes the content unavailable, with the place', async () => {
  const fact = await fetchImageContent(
    layout,
    badConfig.digest,
    { bases: [] },
    {
      signal: AbortSignal.timeout(10_000),
      limits: DEFAULT_LIMITS,
      now: NOW,
      openBase: baseSource,
    },
  );
  assert.ok(!fact.available);
  assert.equal(
    fact.reason,
    `image content of ${badConfig.digest} could not be read: config of ${badConfig.digest}: config.User is not a string`,
  );
});

void test('content fetched for another digest is never used', () => {
  const rule = baseRule(['registry.example/base:b1']);
  const c: ImageContent = { digest: app.digest, platforms: [], now: NOW };
  const outcome = evaluateRule(rule, { ...factsOf(c), digest: known(scratchApp.digest) });
  assert.deepEqual(outcome, {
    verdict: 'fail',
    reason: `image content was fetched for ${app.digest}, not for the image digest ${scratchApp.digest}`,
  });
});
