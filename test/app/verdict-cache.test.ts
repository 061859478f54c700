/**
 * The caches a long-running decider uses, against the real local registry: what is reused, for how long,
 * and what is never remembered.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { createDecider } from '../../src/app/decide.ts';
import { TagCache, VerdictCache } from '../../src/app/verdict-cache.ts';
import type { Decision } from '../../src/engine/decision.ts';
import { loadPolicySet } from '../../src/policy/load.ts';
import { createRegistryClient } from '../../src/registry/client.ts';
import { startRegistry } from '../harness/registry.ts';
import { startFaultProxy } from '../harness/fault-proxy.ts';
import { buildImage, pushBuilt } from '../harness/images.ts';

let registry: Awaited<ReturnType<typeof startRegistry>>;
let proxy: Awaited<ReturnType<typeof startFaultProxy>>;
const v1 = buildImage({ seed: 'cache-v1' });
const v2 = buildImage({ seed: 'cache-v2' });

before(async () => {
  registry = await startRegistry();
  proxy = await startFaultProxy(registry.url);
  await pushBuilt(registry.host, 'acme/app', v1, 'stable');
});
after(async () => {
  await proxy?.stop();
  await registry?.stop();
});

function policies(deny: string[] = []) {
  const denyRule = deny.length
    ? `\n    - {name: banned, digests: {deny: [${deny.map((d) => `"${d}"`).join(', ')}]}}`
    : '';
  const r = loadPolicySet([
    {
      path: 'p.yaml',
      text: `apiVersion: portcullis.dev/v1alpha1\nkind: ImagePolicy\nmetadata: {name: p}\nspec:\n  images: [{glob: "**"}]\n  rules:\n    - {name: no-latest, tags: {forbid: [latest]}}${denyRule}\n`,
    },
  ]);
  assert.ok(r.ok);
  return r.policySet;
}

function clock(start = 1_000_000) {
  let t = start;
  return { now: () => t, advance: (ms: number) => (t += ms) };
}

test('a repeated decision is served from the caches: no registry request at all', async () => {
  const time = clock();
  const cache = { verdicts: new VerdictCache({ now: time.now }), tags: new TagCache({ now: time.now }) };
  const client = createRegistryClient({ insecureRegistries: [proxy.host] });
  const decider = createDecider(policies(), { offline: false, registry: client, timeoutMs: 10_000, cache });
  const image = `${proxy.host}/acme/app:stable`;
  proxy.clearRequests();
  const first = await decider.decide(image);
  assert.equal(first.digest, v1.digest);
  const before = proxy.requests.length;
  assert.ok(before >= 1);
  const second = await decider.decide(image);
  assert.deepEqual(second, first);
  assert.equal(proxy.requests.length, before, 'tag and verdict both reused');
  assert.equal(cache.verdicts.stats.hits, 1);
  await client.close();
});

test('a moved tag is seen once the short tag cache expires, and the new digest gets its own verdict', async () => {
  const time = clock();
  const cache = {
    verdicts: new VerdictCache({ now: time.now }),
    tags: new TagCache({ now: time.now, ttlMs: 5_000 }),
  };
  const client = createRegistryClient({ insecureRegistries: [proxy.host] });
  const decider = createDecider(policies([v2.digest]), {
    offline: false,
    registry: client,
    timeoutMs: 10_000,
    cache,
  });
  await pushBuilt(registry.host, 'acme/app', v1, 'moving');
  const image = `${proxy.host}/acme/app:moving`;
  assert.equal((await decider.decide(image)).allowed, true);
  await pushBuilt(registry.host, 'acme/app', v2, 'moving');
  const stale = await decider.decide(image);
  assert.equal(stale.digest, v1.digest, 'within the tag TTL the digest verified earlier is reused');
  time.advance(5_001);
  const moved = await decider.decide(image);
  assert.equal(moved.digest, v2.digest);
  assert.equal(moved.allowed, false, 'the verdict for v1 is never reused for v2');
  await client.close();
});

test('the policy set version is part of the key: new policies, new verdicts', async () => {
  const cache = { verdicts: new VerdictCache() };
  const client = createRegistryClient({ insecureRegistries: [proxy.host] });
  const image = `${proxy.host}/acme/app:stable`;
  const lax = createDecider(policies(), { offline: false, registry: client, timeoutMs: 10_000, cache });
  const strict = createDecider(policies([v1.digest]), {
    offline: false,
    registry: client,
    timeoutMs: 10_000,
    cache,
  });
  assert.equal((await lax.decide(image)).allowed, true);
  assert.equal((await strict.decide(image)).allowed, false);
  await client.close();
});

test('a decision made without its digest (registry failure) is never cached', async () => {
  const cache = { verdicts: new VerdictCache(), tags: new TagCache() };
  const client = createRegistryClient({ insecureRegistries: [proxy.host], timeouts: { attempts: 1 } });
  const decider = createDecider(policies([v2.digest]), {
    offline: false,
    registry: client,
    timeoutMs: 10_000,
    cache,
  });
  const image = `${proxy.host}/acme/app:stable`;
  proxy.setFaults([{ method: 'HEAD', path: /\/manifests\/stable$/, fault: 'status', status: 500 }]);
  try {
    const failed = await decider.decide(image);
    assert.equal(failed.allowed, false);
    assert.equal(failed.digest, undefined);
  } finally {
    proxy.setFaults([]);
  }
  assert.equal(cache.verdicts.size, 0);
  assert.equal(
    (await decider.decide(image)).allowed,
    true,
    'the registry is asked again and the image admitted',
  );
  await client.close();
});

test('denials are kept shorter than allows', async () => {
  const time = clock();
  const cache = new VerdictCache({ now: time.now, allowTtlMs: 60_000, denyTtlMs: 1_000 });
  let computed = 0;
  const decision = (allowed: boolean): Decision =>
    ({
      image: 'x',
      digest: 'sha256:' + '1'.repeat(64),
      allowed,
      outcome: allowed ? 'allow' : 'deny',
      mode: 'enforce',
      policies: [],
      reasons: [],
      warnings: [],
    }) as Decision;
  const compute = (allowed: boolean) => async () => {
    computed++;
    return decision(allowed);
  };
  await cache.run('deny', compute(false));
  await cache.run('allow', compute(true));
  time.advance(1_001);
  await cache.run('deny', compute(false));
  await cache.run('allow', compute(true));
  assert.equal(computed, 3, 'the denial was recomputed after 1 s, the allow was not');
});

test('identical decisions in flight are computed once', async () => {
  const cache = new VerdictCache();
  let computed = 0;
  let release!: () => void;
  const gate = new Promise<void>((r) => (release = r));
  const compute = async () => {
    computed++;
    await gate;
    return {
      image: 'x',
      digest: 'sha256:' + '2'.repeat(64),
      allowed: true,
      outcome: 'allow',
      mode: 'enforce',
      policies: [],
      reasons: [],
      warnings: [],
    } as Decision;
  };
  const all = Promise.all([cache.run('k', compute), cache.run('k', compute), cache.run('k', compute)]);
  release();
  const results = await all;
  assert.equal(computed, 1);
  assert.equal(cache.stats.coalesced, 2);
  assert.ok(results.every((d) => d === results[0]));
});

test("a workload's verdict serves its pods unless a policy selects on the admission context", async () => {
  const image = `${proxy.host}/acme/app:stable`;
  const client = createRegistryClient({ insecureRegistries: [proxy.host] });
  const deployment = { context: { kind: 'Deployment', namespace: 'shop', labels: { app: 'web' } } };
  const podOf = {
    context: { kind: 'Pod', namespace: 'shop', labels: { app: 'web', 'pod-template-hash': 'x' } },
  };

  const plain = { verdicts: new VerdictCache() };
  const decider = createDecider(policies(), {
    offline: false,
    registry: client,
    timeoutMs: 10_000,
    cache: plain,
  });
  await decider.decide(image, deployment);
  await decider.decide(image, podOf);
  assert.equal(
    plain.verdicts.stats.hits,
    1,
    'no policy reads the context: the Pod reuses the Deployment verdict',
  );

  const selective = loadPolicySet([
    {
      path: 'm.yaml',
      text: `apiVersion: portcullis.dev/v1alpha1\nkind: ImagePolicy\nmetadata: {name: pods-only}\nspec:\n  images: [{glob: "**"}]\n  match: {kinds: [Pod]}\n  rules:\n    - {name: no-latest, tags: {forbid: [latest]}}\n`,
    },
  ]);
  assert.ok(selective.ok);
  const keyed = { verdicts: new VerdictCache() };
  const matching = createDecider(selective.policySet, {
    offline: false,
    registry: client,
    timeoutMs: 10_000,
    cache: keyed,
  });
  await matching.decide(image, deployment);
  await matching.decide(image, podOf);
  assert.equal(keyed.verdicts.stats.hits, 0, 'a policy selects on kind: each context gets its own verdict');
  await client.close();
});
