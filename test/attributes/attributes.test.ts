/**
 * Image attributes end to end: images with chosen configs pushed to Debian's docker-registry (and one
 * OCI layout), policies loaded by the real loader, decisions by the real decider at a fixed time.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadPolicySet } from '../../src/policy/load.ts';
import { startFaultProxy } from '../harness/fault-proxy.ts';
import { replayRegistryDump } from '../harness/fixtures.ts';
import {
  buildImage,
  buildIndex,
  manifestFromJson,
  MEDIA_TYPES,
  pushBuilt,
  sha256,
  writeLayout,
  type BuiltManifest,
} from '../harness/images.ts';
import { startRegistry } from '../harness/registry.ts';
import { allowed, decideWith, denied, policyWith, reasonOf } from './support.ts';

const LABELS = {
  'org.opencontainers.image.source': 'https://github.com/acme/app',
  'org.opencontainers.image.version': '1.2.3',
};
const GOOD_CONFIG = { config: { User: 'app', Labels: LABELS }, created: '2026-10-01T00:00:00Z' };
const ROOT_CONFIG = { config: { Labels: { x: 'y' } }, created: '2026-01-01T00:00:00Z' };

// The documented examples (docs/cel.md), verbatim.
const NON_ROOT =
  "has(config.config.User) && config.config.User != '' && config.config.User != 'root' && config.config.User != '0'";
const REQUIRED_LABELS =
  "['org.opencontainers.image.source', 'org.opencontainers.image.version'].all(k, k in config.config.Labels)";
const PLATFORMS = "config.os + '/' + config.architecture in ['linux/amd64', 'linux/arm64']";
const RECENT = "isWithin(config.created, '2160h')";
const UNDER_200MB = 'manifest.config.size + sum(manifest.layers.map(l, l.size)) < 200 * 1024 * 1024';

const condition = (expr: string, message?: string): string =>
  `    - attributes:\n        condition: >-\n          ${expr}\n${message ? `        message: ${JSON.stringify(message)}\n` : ''}`;

let registry: Awaited<ReturnType<typeof startRegistry>>;
let proxy: Awaited<ReturnType<typeof startFaultProxy>>;
let host: string;
let layoutDir: string;
let good: BuiltManifest;
let multi: BuiltManifest;

/** A manifest claiming a 300 MB layer (never fetched: sizes come from the manifest). */
function bigImage(): BuiltManifest {
  const config = Buffer.from(
    JSON.stringify({
      ...GOOD_CONFIG,
      architecture: 'amd64',
      os: 'linux',
      rootfs: { type: 'layers', diff_ids: [sha256('big')] },
    }),
  );
  return manifestFromJson(
    {
      schemaVersion: 2,
      mediaType: MEDIA_TYPES.ociManifest,
      config: { mediaType: MEDIA_TYPES.ociConfig, digest: sha256(config), size: config.length },
      layers: [{ mediaType: MEDIA_TYPES.ociLayerGzip, digest: sha256('big layer'), size: 300_000_000 }],
    },
    MEDIA_TYPES.ociManifest,
    [{ digest: sha256(config), bytes: config }],
  );
}

before(async () => {
  registry = await startRegistry();
  host = registry.host;
  proxy = await startFaultProxy(registry.url);
  good = buildImage({ seed: 'good', config: GOOD_CONFIG });
  await pushBuilt(host, 'acme/good', good, 'v1');
  await pushBuilt(host, 'acme/root', buildImage({ seed: 'root', config: ROOT_CONFIG }), 'v1');
  const history = Array.from({ length: 200 }, (_, i) => ({ created_by: `step ${i}` }));
  await pushBuilt(
    host,
    'acme/history',
    buildImage({
      seed: 'history',
      config: { ...GOOD_CONFIG, history, config: { User: 'app', Labels: { big: 'y'.repeat(500_000) } } },
    }),
    'v1',
  );
  await pushBuilt(
    host,
    'acme/s390x',
    buildImage({ seed: 's390x', config: { ...GOOD_CONFIG, architecture: 's390x' } }),
    'v1',
  );
  multi = buildIndex([
    {
      manifest: buildImage({ seed: 'm-amd64', config: GOOD_CONFIG }),
      platform: { os: 'linux', architecture: 'amd64' },
    },
    {
      manifest: buildImage({
        seed: 'm-arm64',
        config: {
          ...GOOD_CONFIG,
          architecture: 'arm64',
          variant: 'v8',
          config: { User: 'root', Labels: LABELS },
        },
      }),
      platform: { os: 'linux', architecture: 'arm64', variant: 'v8' },
    },
  ]);
  await pushBuilt(host, 'acme/multi', multi, 'v1');
  const both = buildIndex([
    {
      manifest: buildImage({ seed: 'b-amd64', config: GOOD_CONFIG }),
      platform: { os: 'linux', architecture: 'amd64' },
    },
    {
      manifest: buildImage({ seed: 'b-arm64', config: { ...GOOD_CONFIG, architecture: 'arm64' } }),
      platform: { os: 'linux', architecture: 'arm64' },
    },
  ]);
  await pushBuilt(host, 'acme/both', both, 'v1');
  await replayRegistryDump(host, { repos: ['test/multiarch-skopeo'] });
  layoutDir = await mkdtemp(join(tmpdir(), 'portcullis-attributes-'));
  await writeLayout(layoutDir, [
    { manifest: bigImage(), tag: 'big' },
    { manifest: buildImage({ seed: 'small', config: GOOD_CONFIG }), tag: 'small' },
  ]);
});

after(async () => {
  await proxy?.stop();
  await registry?.stop();
  if (layoutDir) await rm(layoutDir, { recursive: true, force: true });
});

const decide = (rules: string, image: string, options = {}) =>
  decideWith(policyWith(rules), image, [host, proxy.host], options);

describe('CEL examples', () => {
  void test('non-root user', async () => {
    allowed(
      await decide(condition(NON_ROOT), `${host}/acme/good:v1`),
      /^linux\/amd64: every image attribute constraint holds$/,
    );
    const d = await decide(condition(NON_ROOT, 'images must not run as root'), `${host}/acme/root:v1`);
    denied(
      d,
      /^linux\/amd64 \(sha256:[0-9a-f]{64}\): images must not run as root \(condition `has\(config\.config\.User\) && .*` is false\)$/,
    );
  });

  void test('required labels', async () => {
    allowed(await decide(condition(REQUIRED_LABELS), `${host}/acme/good:v1`));
    denied(
      await decide(condition(REQUIRED_LABELS), `${host}/acme/root:v1`),
      /condition `\['org\.opencontainers\.image\.source'.*` is false$/,
    );
  });

  void test('linux/amd64 and linux/arm64 only', async () => {
    allowed(
      await decide(condition(PLATFORMS), `${host}/acme/both:v1`),
      /^all 2 platforms \(linux\/amd64, linux\/arm64\): every image attribute constraint holds$/,
    );
    denied(
      await decide(condition(PLATFORMS), `${host}/acme/s390x:v1`),
      /^linux\/s390x \(sha256:[0-9a-f]{64}\): condition `config\.os \+ '\/' \+ config\.architecture in .*` is false$/,
    );
  });

  void test('created within 90 days', async () => {
    allowed(await decide(condition(RECENT), `${host}/acme/good:v1`));
    denied(
      await decide(condition(RECENT), `${host}/acme/root:v1`),
      /condition `isWithin\(config\.created, '2160h'\)` is false$/,
    );
    // The same image judged later is too old: `now` is the decision time.
    denied(
      await decide(condition(RECENT), `${host}/acme/good:v1`, { at: new Date('2027-03-01T00:00:00Z') }),
      /is false$/,
    );
  });

  void test('under 200 MB (sizes as the manifest gives them; the layout image claims a 300 MB layer)', async () => {
    allowed(await decide(condition(UNDER_200MB), `oci:${layoutDir}:small`, { as: `${host}/acme/small:v1` }));
    denied(
      await decide(condition(UNDER_200MB), `oci:${layoutDir}:big`, { as: `${host}/acme/big:v1` }),
      /condition `manifest\.config\.size \+ sum.*` is false$/,
    );
    // The `image` variable carries the total too.
    denied(
      await decide(condition('image.size < 200000000'), `oci:${layoutDir}:big`, {
        as: `${host}/acme/big:v1`,
      }),
      /is false$/,
    );
  });

  void test('the image variable: reference, digest, platform, user, labels', async () => {
    const expr = `image.digest == '${good.digest}' && image.platform == 'linux/amd64' && image.user == 'app' && image.labels['org.opencontainers.image.version'] == '1.2.3' && image.layerCount == 1 && image.reference == '${host}/acme/good:v1'`;
    allowed(await decide(condition(expr), `${host}/acme/good:v1`));
  });
});

describe('shorthands', () => {
  void test('nonRoot', async () => {
    allowed(await decide('    - attributes: {nonRoot: true}\n', `${host}/acme/good:v1`));
    denied(
      await decide('    - attributes: {nonRoot: true}\n', `${host}/acme/root:v1`),
      /: it runs as root \(no user is set\)$/,
    );
  });

  void test('platforms, with and without a variant', async () => {
    allowed(
      await decide('    - attributes: {platforms: [linux/amd64, linux/arm64]}\n', `${host}/acme/both:v1`),
    );
    allowed(
      await decide('    - attributes: {platforms: [linux/amd64, linux/arm64/v8]}\n', `${host}/acme/both:v1`),
    );
    denied(
      await decide('    - attributes: {platforms: [linux/amd64, linux/arm64]}\n', `${host}/acme/s390x:v1`),
      /^linux\/s390x \(sha256:[0-9a-f]{64}\): platform linux\/s390x is not in the allowed list \[linux\/amd64, linux\/arm64\]$/,
    );
  });

  void test('maxSize, maxAge, requiredLabels', async () => {
    allowed(
      await decide(
        '    - attributes: {maxSize: 200MB, maxAge: 90d, requiredLabels: [org.opencontainers.image.source]}\n',
        `${host}/acme/good:v1`,
      ),
    );
    denied(
      await decide('    - attributes: {maxSize: 200MB}\n', `oci:${layoutDir}:big`, {
        as: `${host}/acme/big:v1`,
      }),
      /: it is 300\.0 MB \(\d+ bytes\), over the limit of 200\.0 MB \(200000000 bytes\)$/,
    );
    denied(
      await decide('    - attributes: {maxAge: 90d}\n', `${host}/acme/root:v1`),
      /: it was created 2026-01-01T00:00:00Z, more than 90 days \(7776000 s\) ago$/,
    );
    denied(
      await decide(
        '    - attributes: {requiredLabels: [org.opencontainers.image.source, x]}\n',
        `${host}/acme/root:v1`,
      ),
      /: required labels missing or empty: org\.opencontainers\.image\.source$/,
    );
  });
});

void test('multi-arch: every platform must pass; the failing one is named', async () => {
  const d = await decide(condition(NON_ROOT), `${host}/acme/multi:v1`);
  denied(d, /^linux\/arm64\/v8 \(sha256:[0-9a-f]{64}\): condition `.*` is false$/);
  assert.doesNotMatch(reasonOf(d), /linux\/amd64/);
  allowed(await decide(condition(REQUIRED_LABELS), `${host}/acme/multi:v1`), /^all 2 platforms/);
});

describe('errors deny with the reason', () => {
  void test('a runtime error names the expression and the error', async () => {
    denied(
      await decide(condition("config.config.Nope == 'x'"), `${host}/acme/good:v1`),
      /^linux\/amd64 \(sha256:[0-9a-f]{64}\): condition `config\.config\.Nope == 'x'`: .*Nope/,
    );
  });

  void test('an expression over the cost budget denies, naming it', async () => {
    // Each contains() is charged 50,000 units for the 500,000-character label: 200 of them exceed 1,000,000.
    const expr = '!config.history.exists(h, config.config.Labels.big.contains(h.created_by))';
    denied(
      await decide(condition(expr), `${host}/acme/history:v1`),
      /^linux\/amd64 \(sha256:[0-9a-f]{64}\): condition `!config\.history\.exists\(h, .*`: .*budget/,
    );
  });

  void test('a config blob over the limit', async () => {
    denied(
      await decide('    - attributes: {nonRoot: true}\n', `${host}/acme/good:v1`, {
        limits: { blob: { config: 64 } },
      }),
      /^image content of sha256:[0-9a-f]{64} could not be read: config sha256:[0-9a-f]{64} of sha256:[0-9a-f]{64} is \d+ bytes; the limit is 64$/,
    );
  });

  void test('a registry failure while fetching the config', async () => {
    proxy.setFaults([{ method: 'GET', path: /\/blobs\/sha256:/, fault: 'status', status: 500 }]);
    try {
      denied(
        await decide('    - attributes: {nonRoot: true}\n', `${proxy.host}/acme/good:v1`, {
          timeouts: { attempts: 1 },
        }),
        /^image content of sha256:[0-9a-f]{64} could not be read: .*500/,
      );
    } finally {
      proxy.setFaults([]);
    }
  });

  void test('offline, a tag cannot be resolved: denied, never passed', async () => {
    denied(
      await decide('    - attributes: {nonRoot: true}\n', `${host}/acme/good:v1`, { offline: true }),
      /^the image content cannot be read without the image digest: /,
    );
  });
});

void test('content is fetched only when an attributes or baseImage rule applies', async () => {
  proxy.clearRequests();
  allowed(await decide('    - tags: {forbid: [latest]}\n', `${proxy.host}/acme/good:v1`));
  assert.deepEqual(
    proxy.requests.filter((r) => r.path.includes('/blobs/')),
    [],
  );
  allowed(await decide('    - attributes: {nonRoot: true}\n', `${proxy.host}/acme/good:v1`));
  assert.equal(proxy.requests.filter((r) => r.path.includes('/blobs/')).length, 1);
});

describe('lint', () => {
  const load = (attributes: string) =>
    loadPolicySet([
      {
        path: 'p.yaml',
        text: `apiVersion: portcullis.dev/v1alpha1\nkind: ImagePolicy\nmetadata: {name: p}\nspec:\n  images: [{glob: '**'}]\n  rules:\n    - attributes: ${attributes}\n`,
      },
    ]);

  void test('a CEL compile error is reported with its position inside the expression', () => {
    const r = load(`{condition: "config.os == 'linux' && nope.x"}`);
    assert.ok(!r.ok);
    const d = r.diagnostics.find((x) => x.path.endsWith('attributes.condition'));
    assert.ok(d, JSON.stringify(r.diagnostics));
    assert.match(d.message, /nope.*\(line 1, column 25 of the expression\)$/);
  });

  void test('bad shorthands and an empty rule', () => {
    const first = (attributes: string): string => {
      const r = load(attributes);
      assert.ok(!r.ok);
      return r.diagnostics.map((d) => `${d.path}: ${d.message}`).join('\n');
    };
    assert.match(first('{maxSize: 12 parsecs}'), /attributes\.maxSize: invalid size "12 parsecs"/);
    assert.match(first('{maxAge: 3w}'), /attributes\.maxAge: invalid age "3w"/);
    assert.match(first('{platforms: [amd64]}'), /attributes\.platforms\[0\]: invalid value "amd64"/);
    assert.match(
      first('{message: hello}'),
      /message is shown when the condition is false; give a condition too/,
    );
    assert.match(first('{nonRoot: false}'), /the attributes rule has no constraints/);
  });
});

void test('the real multi-arch fixture (skopeo-signed img-index): each platform judged with its own config', async () => {
  const image = `${host}/test/multiarch-skopeo:v1`;
  const amd = 'sha256:a26b9f2187e829cdbda806d6729e554ec8534d6d856a10b33667191ab33a28c9';
  const arm = 'sha256:b9a7e9b281a650b5c1b977cd60923f64d624a7b75c69260b416f8d270fa363b1';
  allowed(
    await decide('    - attributes: {platforms: [linux/amd64, linux/arm64]}\n', image),
    /^all 2 platforms \(linux\/amd64, linux\/arm64\): every image attribute constraint holds$/,
  );
  const d = await decide('    - attributes: {nonRoot: true}\n', image);
  denied(d, /./);
  assert.equal(
    reasonOf(d),
    `linux/amd64 (${amd}): it runs as root (no user is set) | linux/arm64 (${arm}): it runs as root (no user is set)`,
  );
  // Reproducible builds say 1970: a freshness rule denies them.
  denied(await decide(condition(RECENT), image), /^linux\/amd64 .* is false \| linux\/arm64 .* is false$/);
});
