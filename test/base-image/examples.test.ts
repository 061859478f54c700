/**
 * The example policies in examples/policies-content, loaded by the real loader and evaluated by the
 * engine over content facts as the provider makes them (attributesOf over built images). Their bases
 * and images live on public registries, so the facts are built here rather than fetched.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { fileURLToPath } from 'node:url';
import { evaluate } from '../../src/engine/evaluate.ts';
import { known, unavailable, type ImageFacts } from '../../src/engine/facts.ts';
import { parseManifestJson, type ImageManifest } from '../../src/oci/manifest.ts';
import { loadPolicyPaths } from '../../src/policy/load.ts';
import type { PolicySet } from '../../src/policy/model.ts';
import {
  attributesOf,
  platformLabel,
  type BaseCandidate,
  type PlatformContent,
} from '../../src/providers/image-content.ts';
import { parseReference } from '../../src/reference/index.ts';
import { buildImage, buildIndex, type BuiltManifest, type LayerInput } from '../harness/images.ts';
import { NOW } from '../attributes/support.ts';

const EXAMPLES = fileURLToPath(new URL('../../examples/policies-content/', import.meta.url));
const layer = (name: string): LayerInput => ({ files: { [`${name}.txt`]: name } });
const LABELS = {
  'org.opencontainers.image.source': 'https://github.com/acme/api',
  'org.opencontainers.image.version': '2.0.0',
};
const GOOD = { config: { User: '65532', Labels: LABELS }, created: '2026-11-01T00:00:00Z' };

async function examples(): Promise<PolicySet> {
  const loaded = await loadPolicyPaths([EXAMPLES]);
  assert.ok(loaded.ok, JSON.stringify(loaded, null, 1));
  assert.deepEqual(loaded.warnings, []);
  return loaded.policySet;
}

function platformOf(image: BuiltManifest, bases?: BaseCandidate[]): PlatformContent {
  const manifest = parseManifestJson(image.json, image.mediaType) as ImageManifest;
  const configBlob = image.blobs.find((b) => b.digest === manifest.config.digest);
  assert.ok(configBlob);
  const config = JSON.parse(Buffer.from(configBlob.bytes).toString('utf8')) as Record<string, unknown>;
  const attributes = attributesOf(manifest, config, image.digest);
  return {
    platform: platformLabel(attributes),
    digest: image.digest,
    manifest: image.json,
    config,
    attributes,
    ...(bases ? { bases } : {}),
  };
}

function lineageOf(base: BuiltManifest, reference: string, via: 'allowed' | 'annotation'): BaseCandidate {
  const p = platformOf(base);
  return {
    reference: parseReference(reference),
    via,
    lineage: known({ digest: base.digest, layers: p.attributes.layers, diffIds: p.attributes.diffIds }),
  };
}

function facts(digest: string, platforms: PlatformContent[]): ImageFacts {
  return {
    image: 'ghcr.io/acme/api:2.0.0',
    reference: parseReference('ghcr.io/acme/api:2.0.0'),
    digest: known(digest),
    content: known({ digest, platforms, now: NOW }),
  };
}

const chainguard = buildImage({ layers: [layer('wolfi-base')] });
const distroless = buildImage({ layers: [layer('distroless-1'), layer('distroless-2')] });
const bases = (): BaseCandidate[] => [
  lineageOf(chainguard, `cgr.dev/chainguard/static:latest@${chainguard.digest}`, 'annotation'),
  lineageOf(distroless, 'gcr.io/distroless/static-debian12:nonroot', 'allowed'),
  {
    reference: parseReference('gcr.io/distroless/base-debian12:nonroot'),
    via: 'allowed',
    lineage: unavailable('registry gcr.io: connect ECONNREFUSED'),
  },
];

void test('examples: a non-root, labelled, recent amd64 image on a Chainguard base is allowed', async () => {
  const image = buildImage({ layers: [layer('wolfi-base'), layer('api')], config: GOOD });
  const d = evaluate(await examples(), facts(image.digest, [platformOf(image, bases())]));
  assert.equal(d.outcome, 'allow', JSON.stringify(d, null, 1));
  const base = d.policies.find((p) => p.name === 'approved-bases')?.rules[0]?.reason;
  assert.equal(
    base,
    `linux/amd64: approved base cgr.dev/chainguard/static:latest@${chainguard.digest} at ${chainguard.digest} (allowed by "cgr.dev/chainguard/**"): its 1 layers are the first of the image's 2, compared by layer digest`,
  );
});

void test('examples: on distroless (two platforms) allowed; an arm64 child running as root is denied, named', async () => {
  const amd = buildImage({
    layers: [layer('distroless-1'), layer('distroless-2'), layer('api')],
    config: GOOD,
  });
  const arm = buildImage({
    layers: [layer('distroless-1'), layer('distroless-2'), layer('api-arm')],
    config: { ...GOOD, architecture: 'arm64' },
  });
  const index = buildIndex([{ manifest: amd }, { manifest: arm }]);
  const set = await examples();
  const ok = evaluate(set, facts(index.digest, [platformOf(amd, bases()), platformOf(arm, bases())]));
  assert.equal(ok.outcome, 'allow', JSON.stringify(ok, null, 1));

  const rootArm = buildImage({
    layers: [layer('distroless-1'), layer('distroless-2'), layer('api-arm')],
    config: { ...GOOD, architecture: 'arm64', config: { Labels: LABELS } },
  });
  const d = evaluate(set, facts(index.digest, [platformOf(amd, bases()), platformOf(rootArm, bases())]));
  assert.equal(d.outcome, 'deny');
  assert.deepEqual(d.reasons, [
    `policy runtime-constraints, rule non-root-and-platforms: linux/arm64 (${rootArm.digest}): it runs as root (no user is set)`,
  ]);
});

void test('examples: a debian base, an s390x build, an old and unlabelled image: every failure is said', async () => {
  const image = buildImage({
    layers: [layer('debian'), layer('api')],
    config: { architecture: 's390x', created: '2025-01-01T00:00:00Z', config: { User: 'root' } },
  });
  const d = evaluate(await examples(), facts(image.digest, [platformOf(image, bases())]));
  assert.equal(d.outcome, 'deny');
  const at = `linux/s390x (${image.digest})`;
  assert.deepEqual(d.reasons, [
    `policy approved-bases, rule minimal-base: ${at}: no approved base [cgr.dev/chainguard/**, gcr.io/distroless/static-debian12:nonroot, gcr.io/distroless/base-debian12:nonroot] found by layer lineage: cgr.dev/chainguard/static:latest@${chainguard.digest} (${chainguard.digest}): its 1 layers are not the first layers of the image; gcr.io/distroless/static-debian12:nonroot (${distroless.digest}): its 2 layers are not the first layers of the image; gcr.io/distroless/base-debian12:nonroot could not be resolved: registry gcr.io: connect ECONNREFUSED`,
    `policy runtime-constraints, rule non-root-and-platforms: ${at}: platform linux/s390x is not in the allowed list [linux/amd64, linux/arm64]; it runs as root (user "root")`,
    `policy runtime-constraints, rule labelled: ${at}: required labels missing or empty: org.opencontainers.image.source, org.opencontainers.image.version`,
    `policy runtime-constraints, rule fresh-and-small: ${at}: images must be rebuilt within 90 days and stay under 200 MiB (condition \`isWithin(config.created, '2160h') && manifest.config.size + sum(manifest.layers.map(l, l.size)) < 200 * 1024 * 1024\` is false)`,
  ]);
});

void test('examples: content that could not be read denies every content rule with the reason', async () => {
  const d = evaluate(await examples(), {
    ...facts(`sha256:${'a'.repeat(64)}`, []),
    content: unavailable('image content of sha256:aaaa could not be read: registry ghcr.io answered 503'),
  });
  assert.equal(d.outcome, 'deny');
  assert.equal(d.reasons.length, 4);
  for (const r of d.reasons)
    assert.match(r, /: image content of sha256:aaaa could not be read: registry ghcr\.io answered 503$/);
});
