import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { Semaphore } from '../../src/registry/concurrency.ts';
import { SingleFlight } from '../../src/registry/singleflight.ts';
import { ManifestCache } from '../../src/registry/manifest-cache.ts';
import { cosignAttachmentTag, referrersTag } from '../../src/registry/cosign.ts';
import { DEFAULT_LIMITS, resolveLimits, resolveTimeLimits } from '../../src/registry/limits.ts';
import { createRegistryClient } from '../../src/registry/client.ts';
import { RegistryConfigError } from '../../src/registry/errors.ts';
import { platformMatches } from '../../src/registry/index-policy.ts';
import type { VerifiedManifest } from '../../src/registry/content.ts';

const D = `sha256:${'ab'.repeat(32)}`;

function deferred<T>() {
  let resolve!: (value: T) => void;
  let reject!: (error: Error) => void;
  const promise = new Promise<T>((res, rej) => {
    resolve = res;
    reject = rej;
  });
  return { promise, resolve, reject };
}

void describe('singleflight', () => {
  void test('identical in-flight operations run once and share the result', async () => {
    const flights = new SingleFlight();
    const gate = deferred<string>();
    let runs = 0;
    const op = () => {
      runs += 1;
      return gate.promise;
    };
    const all = Promise.all([
      flights.run('k', op),
      flights.run('k', op),
      flights.run('other', () => Promise.resolve('o')),
    ]);
    gate.resolve('v');
    assert.deepEqual(await all, ['v', 'v', 'o']);
    assert.equal(runs, 1);
    assert.equal(flights.size, 0);
  });

  void test("one caller's abort leaves the others waiting; the operation stops when nobody waits", async () => {
    const flights = new SingleFlight();
    const gate = deferred<string>();
    let opSignal: AbortSignal | undefined;
    const op = (signal: AbortSignal) => {
      opSignal = signal;
      return gate.promise;
    };
    const impatient = new AbortController();
    const first = flights.run('k', op, impatient.signal, () => new Error('first gave up'));
    const second = flights.run('k', op);
    impatient.abort();
    await assert.rejects(first, /first gave up/);
    assert.equal(opSignal?.aborted, false);
    gate.resolve('done');
    assert.equal(await second, 'done');

    const lone = new AbortController();
    const never = deferred<string>();
    const pending = flights.run(
      'z',
      (signal) => {
        opSignal = signal;
        return never.promise;
      },
      lone.signal,
    );
    lone.abort(new Error('deadline'));
    await assert.rejects(pending, /deadline/);
    assert.equal(opSignal?.aborted, true);
  });
});

void describe('semaphore', () => {
  void test('never more than the limit at once; queued waits are abortable', async () => {
    const semaphore = new Semaphore(2);
    let active = 0;
    let peak = 0;
    const gates = Array.from({ length: 5 }, () => deferred<void>());
    const tasks = gates.map((gate) =>
      semaphore.use(async () => {
        active += 1;
        peak = Math.max(peak, active);
        await gate.promise;
        active -= 1;
      }),
    );
    const aborted = new AbortController();
    const cancelled = semaphore.use(() => Promise.resolve('never'), aborted.signal);
    aborted.abort(new Error('gave up'));
    await assert.rejects(cancelled, /gave up/);
    for (const gate of gates) {
      await new Promise((resolve) => setImmediate(resolve));
      gate.resolve();
    }
    await Promise.all(tasks);
    assert.equal(peak, 2);
    assert.throws(() => new Semaphore(0), /must be >= 1/);
  });
});

void describe('manifest cache', () => {
  const entry = (size: number): VerifiedManifest => ({
    descriptor: { mediaType: 'm', digest: D, size },
    bytes: new Uint8Array(size),
    json: {},
  });
  void test('bounded by entries and bytes, least recently used first out', () => {
    const cache = new ManifestCache<VerifiedManifest>(2, 100);
    cache.set('a', entry(10));
    cache.set('b', entry(10));
    assert.ok(cache.get('a'));
    cache.set('c', entry(10));
    assert.equal(cache.get('b'), undefined);
    assert.ok(cache.get('a') && cache.get('c'));
    cache.set('big', entry(101));
    assert.equal(cache.get('big'), undefined);
    cache.set('d', entry(95));
    assert.equal(cache.get('a'), undefined);
    assert.equal(cache.get('c'), undefined);
    assert.ok(cache.get('d'));
  });
});

void describe('tags derived from digests', () => {
  void test('cosign attachment tags and the referrers tag schema', () => {
    assert.equal(cosignAttachmentTag(D, 'sig'), `sha256-${'ab'.repeat(32)}.sig`);
    assert.equal(cosignAttachmentTag(D, 'sbom', 'mirror-'), `mirror-sha256-${'ab'.repeat(32)}.sbom`);
    assert.throws(() => cosignAttachmentTag(`sha512:${'a'.repeat(128)}`, 'sig'), /is not a valid tag/);
    assert.throws(() => cosignAttachmentTag(D, 'sig', 'bad/prefix'), /is not a valid tag/);
    assert.throws(() => cosignAttachmentTag('sha256:short', 'sig'), /invalid digest/);
    assert.equal(referrersTag(`sha512:${'c'.repeat(128)}`), `sha512-${'c'.repeat(64)}`);
  });
});

void describe('limits and platforms', () => {
  void test('limits merge with safe defaults and reject nonsense', () => {
    const limits = resolveLimits({ referrers: 50, blob: { signaturePayload: 1024 } });
    assert.equal(limits.referrers, 50);
    assert.equal(limits.blob.signaturePayload, 1024);
    assert.equal(limits.blob.attestation, DEFAULT_LIMITS.blob.attestation);
    assert.equal(limits.manifestBytes, 4 * 1024 * 1024);
    assert.throws(
      () => resolveLimits({ redirects: Number.NaN }),
      /limits\.redirects must be a non-negative integer/,
    );
  });
  void test('time limits that would fail every request are refused when read, naming the setting', () => {
    assert.equal(resolveTimeLimits({ attempts: 1 }).attempts, 1);
    assert.throws(
      () => resolveTimeLimits({ concurrency: 0 }),
      /^TypeError: registry timeouts\.concurrency must be at least 1 \(got 0\)$/,
    );
    assert.throws(() => resolveTimeLimits({ attempts: 0 }), /timeouts\.attempts must be at least 1/);
    assert.throws(() => resolveTimeLimits({ requestMs: 0 }), /timeouts\.requestMs must be at least 1/);
    assert.throws(
      () => createRegistryClient({ timeouts: { concurrency: 0 } }),
      (error: unknown) =>
        error instanceof RegistryConfigError &&
        error.message === 'registry settings: registry timeouts.concurrency must be at least 1 (got 0)',
    );
  });
  void test('platform matching: exact os/arch, arm64 defaults to v8', () => {
    assert.ok(
      platformMatches(
        { os: 'linux', architecture: 'arm64' },
        { os: 'linux', architecture: 'arm64', variant: 'v8' },
      ),
    );
    assert.ok(
      !platformMatches(
        { os: 'linux', architecture: 'arm', variant: 'v6' },
        { os: 'linux', architecture: 'arm', variant: 'v7' },
      ),
    );
    assert.ok(
      !platformMatches({ os: 'linux', architecture: 'amd64' }, { os: 'windows', architecture: 'amd64' }),
    );
  });
});
