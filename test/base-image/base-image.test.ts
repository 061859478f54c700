/**
 * Base images by layer lineage, end to end: bases and images built from the same layer bytes pushed to
 * Debian's docker-registry; the buildah-made fixture layout (img-built, FROM test/unsigned:v1) against
 * its base replayed from the skopeo-signed dump.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { OCI_LAYOUTS_DIR, replayRegistryDump } from '../harness/fixtures.ts';
import { startFaultProxy } from '../harness/fault-proxy.ts';
import { buildImage, buildIndex, pushBuilt, type BuiltManifest, type LayerInput } from '../harness/images.ts';
import { startRegistry } from '../harness/registry.ts';
import { allowed, decideWith, denied, policyWith, reasonOf } from '../attributes/support.ts';

const BASE_NAME = 'org.opencontainers.image.base.name';
const BASE_DIGEST = 'org.opencontainers.image.base.digest';

const layer = (name: string): LayerInput => ({ files: { [`${name}.txt`]: `${name}\n` } });
const BASE_LAYERS = [layer('base-1'), layer('base-2')];
const ARM_LAYERS = [layer('arm-base-1')];

let registry: Awaited<ReturnType<typeof startRegistry>>;
let proxy: Awaited<ReturnType<typeof startFaultProxy>>;
let host: string;
let base: BuiltManifest;
let oldBase: BuiltManifest;
let other: BuiltManifest;
let baseIndex: BuiltManifest;

const rules = (...allowedBases: string[]): string =>
  `    - baseImage:\n        allowed:\n${allowedBases.map((a) => `          - '${a}'\n`).join('')}`;

before(async () => {
  registry = await startRegistry();
  host = registry.host;
  proxy = await startFaultProxy(registry.url);
  base = buildImage({ layers: BASE_LAYERS, config: { config: { User: 'nonroot' } } });
  oldBase = buildImage({ layers: [layer('old-base-1')] });
  other = buildImage({ layers: [layer('other-1')] });
  // The same base under a concrete tag and under a glob-matched name.
  await pushBuilt(host, 'distroless/static', base, 'nonroot');
  await pushBuilt(host, 'chainguard/static', base, 'latest');
  await pushBuilt(host, 'other/base', other, '1');
  // chainguard/moved: its tag now points at `base`, but `oldBase` is still stored by digest.
  await pushBuilt(host, 'chainguard/moved', oldBase);
  await pushBuilt(host, 'chainguard/moved', base, 'latest');
  const armBase = buildImage({ layers: ARM_LAYERS, config: { architecture: 'arm64' } });
  baseIndex = buildIndex([
    { manifest: base, platform: { os: 'linux', architecture: 'amd64' } },
    { manifest: armBase, platform: { os: 'linux', architecture: 'arm64' } },
  ]);
  await pushBuilt(host, 'chainguard/multi', baseIndex, 'latest');

  const onBase = (extra: LayerInput[], annotations?: Record<string, string>) =>
    buildImage({ layers: [...BASE_LAYERS, ...extra], ...(annotations ? { annotations } : {}) });
  await pushBuilt(host, 'app/plain', onBase([layer('app')]), 'v1');
  await pushBuilt(
    host,
    'app/annotated',
    onBase([layer('app')], { [BASE_NAME]: `${host}/chainguard/static:latest`, [BASE_DIGEST]: base.digest }),
    'v1',
  );
  // The attack: an unsigned image whose annotation claims the approved base, built on something else.
  await pushBuilt(
    host,
    'app/liar',
    buildImage({
      layers: [layer('other-1'), layer('app')],
      annotations: { [BASE_NAME]: `${host}/chainguard/static:latest`, [BASE_DIGEST]: base.digest },
    }),
    'v1',
  );
  await pushBuilt(
    host,
    'app/on-other',
    buildImage({
      layers: [layer('other-1'), layer('app')],
      annotations: { [BASE_NAME]: `${host}/other/base:1` },
    }),
    'v1',
  );
  // Built on the old digest of a tag that has moved on since.
  await pushBuilt(
    host,
    'app/on-old',
    buildImage({
      layers: [layer('old-base-1'), layer('app')],
      annotations: { [BASE_NAME]: `${host}/chainguard/moved:latest`, [BASE_DIGEST]: oldBase.digest },
    }),
    'v1',
  );
  const amd = onBase([layer('app-amd64')]);
  const arm = buildImage({ layers: [...ARM_LAYERS, layer('app-arm64')], config: { architecture: 'arm64' } });
  const armNotOnBase = buildImage({
    layers: [layer('rogue'), layer('app-arm64')],
    config: { architecture: 'arm64' },
  });
  await pushBuilt(
    host,
    'app/multi',
    buildIndex([
      { manifest: amd, platform: { os: 'linux', architecture: 'amd64' } },
      { manifest: arm, platform: { os: 'linux', architecture: 'arm64' } },
    ]),
    'v1',
  );
  await pushBuilt(
    host,
    'app/multi-bad',
    buildIndex([
      { manifest: amd, platform: { os: 'linux', architecture: 'amd64' } },
      { manifest: armNotOnBase, platform: { os: 'linux', architecture: 'arm64' } },
    ]),
    'v1',
  );
  // The base itself, with no layers of its own added (e.g. only config changed): its layers are all the base's.
  await pushBuilt(
    host,
    'app/same',
    buildImage({ layers: BASE_LAYERS, config: { config: { User: 'app' } } }),
    'v1',
  );
  await replayRegistryDump(host, { repos: ['test/unsigned'] });
});

after(async () => {
  await proxy?.stop();
  await registry?.stop();
});

const decide = (allowedBases: string[], image: string, options = {}) =>
  decideWith(policyWith(rules(...allowedBases)), image, [host, proxy.host], options);

const HEX = '[0-9a-f]{64}';

describe('approved base found by layer lineage', () => {
  void test('a concrete allowed reference, resolved from the registry: allowed, naming the base and digest', async () => {
    const d = await decide([`${host}/distroless/static:nonroot`], `${host}/app/plain:v1`);
    allowed(d);
    assert.equal(
      reasonOf(d),
      `linux/amd64: approved base ${host}/distroless/static:nonroot at ${base.digest} (allowed by "${host}/distroless/static:nonroot"): its 2 layers are the first of the image's 3, compared by layer digest`,
    );
  });

  void test('a glob: the annotation says which base to resolve, and lineage proves it', async () => {
    const d = await decide([`${host}/chainguard/**`], `${host}/app/annotated:v1`);
    allowed(
      d,
      new RegExp(
        `^linux/amd64: approved base ${host}/chainguard/static:latest@${base.digest} at ${base.digest} \\(allowed by "${host}/chainguard/\\*\\*"\\)`,
      ),
    );
  });

  void test('an image that adds no layers to its base', async () => {
    allowed(
      await decide([`${host}/distroless/static:nonroot`], `${host}/app/same:v1`),
      /its 2 layers are the first of the image's 2/,
    );
  });

  void test('a tag that moved on since the build: the annotated digest is resolved in the allowed repository', async () => {
    allowed(
      await decide([`${host}/chainguard/moved:latest`], `${host}/app/on-old:v1`),
      new RegExp(`at ${oldBase.digest}`),
    );
  });

  void test('multi-arch: the base index is resolved for each platform of the image', async () => {
    const d = await decide([`${host}/chainguard/multi:latest`], `${host}/app/multi:v1`);
    allowed(
      d,
      new RegExp(
        `^linux/amd64: approved base .* at ${base.digest} \\(index ${baseIndex.digest}\\).* \\| linux/arm64: approved base`,
      ),
    );
  });

  void test('the buildah-made fixture img-built against its base test/unsigned:v1 (recompressed: by diff_id)', async () => {
    const d = await decide([`${host}/test/unsigned:v1`], `oci:${join(OCI_LAYOUTS_DIR, 'img-built')}:v1`, {
      as: `${host}/test/built:v1`,
    });
    allowed(
      d,
      new RegExp(
        `^linux/amd64: approved base ${host}/test/unsigned:v1 at sha256:7ffece328df5fbc2268debb641e0d33e67f52dd42dab343ec6b69bd7f681174f .*its 1 layers are the first of the image's 2, compared by diff_id$`,
      ),
    );
  });
});

describe('denied', () => {
  void test("the attack: the annotation claims the approved base, the layers don't match (unsigned image)", async () => {
    const d = await decide([`${host}/chainguard/**`], `${host}/app/liar:v1`);
    denied(
      d,
      new RegExp(
        `^linux/amd64 \\(sha256:${HEX}\\): no approved base \\[${host}/chainguard/\\*\\*\\] found by layer lineage: ${host}/chainguard/static:latest@${base.digest} \\(${base.digest}\\): its 2 layers are not the first layers of the image; the base annotation is a claim, not evidence$`,
      ),
    );
  });

  void test('the base is not in the allowed list', async () => {
    denied(
      await decide([`${host}/chainguard/**`, `${host}/distroless/static:nonroot`], `${host}/app/on-other:v1`),
      new RegExp(
        `: the image's base annotation names ${host}/other/base:1, which is not in the allowed list; ${host}/distroless/static:nonroot \\(${base.digest}\\): its 2 layers are not the first layers of the image$`,
      ),
    );
  });

  void test('a glob and no annotation: nothing to resolve, so no base is found', async () => {
    denied(
      await decide([`${host}/chainguard/**`], `${host}/app/plain:v1`),
      /: no approved base \[.*\] found by layer lineage$/,
    );
  });

  void test('multi-arch: one platform not on an approved base denies, naming it', async () => {
    const d = await decide([`${host}/chainguard/multi:latest`], `${host}/app/multi-bad:v1`);
    denied(d, new RegExp(`^linux/arm64 \\(sha256:${HEX}\\): no approved base`));
    assert.doesNotMatch(reasonOf(d), /linux\/amd64/);
  });

  void test('an allowed base that does not exist: denied with the registry reason', async () => {
    denied(
      await decide([`${host}/distroless/missing:nonroot`], `${host}/app/plain:v1`),
      /could not be resolved: .*(not found|NOT_FOUND|unknown)/i,
    );
  });

  void test('a registry failure while resolving the base', async () => {
    proxy.setFaults([
      { method: 'GET', path: /\/distroless\/static\/manifests\//, fault: 'status', status: 503 },
    ]);
    try {
      denied(
        await decide([`${proxy.host}/distroless/static:nonroot`], `${host}/app/plain:v1`, {
          timeouts: { attempts: 1 },
        }),
        /could not be resolved: .*503/,
      );
    } finally {
      proxy.setFaults([]);
    }
  });

  void test('img-built: its annotation names 127.0.0.1:5055, which is not this registry; unresolvable, denied', async () => {
    denied(
      await decide(['127.0.0.1:5055/test/**'], `oci:${join(OCI_LAYOUTS_DIR, 'img-built')}:v1`, {
        as: `${host}/test/built:v1`,
        timeouts: { attempts: 1 },
      }),
      /127\.0\.0\.1:5055\/test\/unsigned:v1@sha256:7ffece32.* could not be resolved: /,
    );
  });

  void test('offline: bases cannot be resolved', async () => {
    denied(
      await decide([`${host}/distroless/static:nonroot`], `oci:${join(OCI_LAYOUTS_DIR, 'img-built')}:v1`, {
        as: `${host}/test/built:v1`,
        offline: true,
      }),
      /could not be resolved: base images are in a registry, and --offline prevents fetching them/,
    );
  });
});

void test('lint: a bad pattern is reported at its entry', async () => {
  const { loadPolicySet } = await import('../../src/policy/load.ts');
  const r = loadPolicySet([
    {
      path: 'p.yaml',
      text: "apiVersion: portcullis.dev/v1alpha1\nkind: ImagePolicy\nmetadata: {name: p}\nspec:\n  images: [{glob: '**'}]\n  rules:\n    - baseImage: {allowed: ['cgr.dev/chainguard/[a-z]']}\n",
    },
  ]);
  assert.ok(!r.ok);
  assert.match(
    r.diagnostics.map((d) => `${d.path}: ${d.message}`).join('\n'),
    /baseImage\.allowed\[0\]: invalid base image pattern "cgr\.dev\/chainguard\/\[a-z\]"/,
  );
});
