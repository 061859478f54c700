/**
 * A hostile or broken registry, played by the fault proxy in front of a real docker-registry: every fault
 * ends in a typed error (or a correct result after retries), never a hang or a wrong digest.
 */
import { after, before, beforeEach, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { startRegistry, type RunningRegistry } from '../harness/registry.ts';
import { startFaultProxy, type FaultProxy } from '../harness/fault-proxy.ts';
import { buildImage, pushBuilt, pushImage, type BuiltManifest } from '../harness/images.ts';
import { createRegistryClient, type RegistryClient } from '../../src/registry/client.ts';
import { RegistryError } from '../../src/registry/errors.ts';
import { computeDigest } from '../../src/oci/digest.ts';
import { OCI_INDEX, OCI_MANIFEST } from '../../src/oci/media-types.ts';
import { lines, ref } from './support.ts';

function isRegistryError(code: string, pattern: RegExp) {
  return (error: unknown): boolean => {
    assert.ok(error instanceof RegistryError, `expected RegistryError, got ${String(error)}`);
    assert.equal(error.code, code, error.message);
    assert.match(error.message, pattern);
    return true;
  };
}

const REPO = 'hostile/app';
const fakeDigest = (n: number) => `sha256:${n.toString(16).padStart(64, '0')}`;

function referrersIndex(count: number, offset = 0): string {
  return JSON.stringify({
    schemaVersion: 2,
    mediaType: OCI_INDEX,
    manifests: Array.from({ length: count }, (_, i) => ({
      mediaType: OCI_MANIFEST,
      digest: fakeDigest(offset + i + 1),
      size: 100,
      artifactType: i % 2 === 0 ? 'application/vnd.dev.sigstore.bundle.v0.3+json' : 'application/spdx+json',
    })),
  });
}

void describe('registry faults', () => {
  let registry: RunningRegistry;
  let proxy: FaultProxy;
  let client: RegistryClient;
  let a: BuiltManifest;
  let b: BuiltManifest;
  const manifestPath = (digest: string) => new RegExp(`^/v2/${REPO}/manifests/${digest}$`);

  before(async () => {
    registry = await startRegistry();
    proxy = await startFaultProxy(registry.url);
    a = buildImage({ seed: 'fault-a' });
    b = buildImage({ seed: 'fault-b' });
    await pushBuilt(registry.host, REPO, a, 'v1');
    await pushBuilt(registry.host, REPO, b, 'v2');
  });
  after(async () => {
    await client?.close();
    await proxy?.stop();
    await registry?.stop();
  });
  beforeEach(async () => {
    await client?.close();
    client = createRegistryClient({
      insecureRegistries: [proxy.host],
      timeouts: { requestMs: 400, attempts: 3, backoffBaseMs: 5, backoffMaxMs: 20 },
    });
    proxy.setFaults([]);
    proxy.clearRequests();
  });
  const repo = () => client.repository(proxy.host, REPO);

  void describe('content addressing', () => {
    void test('manifest bytes that do not hash to the digest asked for: DIGEST_MISMATCH', async () => {
      proxy.setFaults([{ method: 'GET', path: manifestPath(a.digest), fault: 'replaceBody', body: b.bytes }]);
      await assert.rejects(
        repo().fetchManifest(a.digest),
        isRegistryError(
          'DIGEST_MISMATCH',
          new RegExp(
            `registry ${proxy.host}/${REPO}@${a.digest}: manifest bytes hash to ${b.digest}, not the digest asked for`,
          ),
        ),
      );
    });

    void test('a digest reference whose bytes are swapped is refused, never reported as the other digest', async () => {
      proxy.setFaults([
        {
          method: 'GET',
          path: manifestPath(a.digest),
          fault: 'replaceBody',
          body: (o) => Buffer.concat([o, Buffer.from(' ')]),
        },
      ]);
      await assert.rejects(
        client.resolve(ref(proxy.host, REPO, a.digest)),
        isRegistryError('DIGEST_MISMATCH', /hash to/),
      );
    });

    void test('the HEAD claim is only a claim: bytes served for it that differ are refused', async () => {
      proxy.setFaults([{ method: 'GET', path: manifestPath(a.digest), fault: 'replaceBody', body: b.bytes }]);
      await assert.rejects(
        client.resolve(ref(proxy.host, REPO, 'v1')),
        isRegistryError('DIGEST_MISMATCH', /hash to/),
      );
      assert.deepEqual(lines(proxy.requests), [
        `HEAD /v2/${REPO}/manifests/v1`,
        `GET /v2/${REPO}/manifests/${a.digest}`,
      ]);
    });

    void test('no Docker-Content-Digest on HEAD: GET by tag, and the digest is the hash of the bytes, not the header', async () => {
      proxy.setFaults([
        {
          method: 'HEAD',
          path: manifestPath('v1'),
          fault: 'header',
          headers: { 'docker-content-digest': null },
        },
        // The GET by tag serves b's bytes while its header still claims a's digest.
        { method: 'GET', path: manifestPath('v1'), fault: 'replaceBody', body: b.bytes },
      ]);
      const descriptor = await client.resolve(ref(proxy.host, REPO, 'v1'));
      assert.equal(descriptor.digest, b.digest);
      assert.deepEqual(lines(proxy.requests), [
        `HEAD /v2/${REPO}/manifests/v1`,
        `GET /v2/${REPO}/manifests/v1`,
      ]);
      const manifest = await repo().fetchManifest(descriptor.digest);
      assert.equal(computeDigest(manifest.bytes), b.digest);
    });

    void test('a tag that moves between requests cannot produce a wrong digest', async () => {
      await pushBuilt(registry.host, REPO, a, 'moving');
      proxy.setFaults([
        {
          method: 'HEAD',
          path: manifestPath('moving'),
          count: 1,
          fault: 'custom',
          handle: async (_req, _res, context) => {
            const answer = await context.forward();
            // Right after the HEAD answered, the tag really moves to b in the registry.
            await pushImage(registry.host, REPO, 'moving', { manifest: b });
            context.send(answer);
          },
        },
      ]);
      const first = await client.resolve(ref(proxy.host, REPO, 'moving'));
      assert.equal(first.digest, a.digest);
      assert.equal(computeDigest((await repo().fetchManifest(first.digest)).bytes), a.digest);
      assert.ok(
        !proxy.requests.some((r) => r.method === 'GET' && r.path.endsWith('/manifests/moving')),
        'never read by tag after resolving',
      );
      const second = await client.resolve(ref(proxy.host, REPO, 'moving'));
      assert.equal(second.digest, b.digest);
    });

    void test('blob bytes: swapped is DIGEST_MISMATCH, longer than the descriptor is SIZE_MISMATCH', async () => {
      const config = a.json.config as { mediaType: string; digest: string; size: number };
      const blobPath = new RegExp(`^/v2/${REPO}/blobs/${config.digest}$`);
      proxy.setFaults([
        { method: 'GET', path: blobPath, fault: 'replaceBody', body: (o) => Buffer.from(o).reverse() },
      ]);
      await assert.rejects(
        repo().fetchBlob(config, { maxBytes: 1 << 20 }),
        isRegistryError('DIGEST_MISMATCH', /blob bytes hash to/),
      );
      proxy.setFaults([
        {
          method: 'GET',
          path: blobPath,
          fault: 'replaceBody',
          body: (o) => Buffer.concat([o, Buffer.from('extra')]),
        },
      ]);
      await assert.rejects(
        repo().fetchBlob(config, { maxBytes: 1 << 20 }),
        isRegistryError('SIZE_MISMATCH', /larger than its descriptor's size/),
      );
    });

    void test('a manifest listing a million layers (with matching digest) is refused by count', async () => {
      const bytes = Buffer.from(
        JSON.stringify({
          schemaVersion: 2,
          mediaType: OCI_MANIFEST,
          config: a.descriptor,
          layers: Array.from({ length: 1_000_000 }, () => 0),
        }),
      );
      const digest = computeDigest(bytes);
      proxy.setFaults([
        {
          method: 'GET',
          path: manifestPath(digest),
          fault: 'custom',
          handle: (_req, res) => void res.end(bytes),
        },
      ]);
      await assert.rejects(
        repo().fetchManifest(digest),
        isRegistryError('TOO_MANY', /1000000 layers, more than the limit of 256/),
      );
    });
  });

  void describe('retries, rate limits and time', () => {
    void test('503 twice, then success', async () => {
      proxy.setFaults([
        { method: 'GET', path: manifestPath(a.digest), fault: 'status', status: 503, count: 2 },
      ]);
      assert.equal((await repo().fetchManifest(a.digest)).descriptor.digest, a.digest);
      assert.equal(proxy.requests.length, 3);
    });

    void test('503 on every attempt: HTTP_ERROR after the configured attempts; 500 is not retried', async () => {
      proxy.setFaults([{ method: 'GET', path: manifestPath(a.digest), fault: 'status', status: 503 }]);
      await assert.rejects(
        repo().fetchManifest(a.digest),
        isRegistryError('HTTP_ERROR', /answered 503 after 3 attempts/),
      );
      assert.equal(proxy.requests.length, 3);
      proxy.clearRequests();
      proxy.setFaults([{ method: 'GET', path: manifestPath(a.digest), fault: 'status', status: 500 }]);
      await assert.rejects(
        repo().fetchManifest(a.digest),
        isRegistryError('HTTP_ERROR', /unexpected status 500: UNKNOWN injected 500/),
      );
      assert.equal(proxy.requests.length, 1);
    });

    void test('429 with Retry-After is honoured; a Retry-After beyond the cap fails at once', async () => {
      proxy.setFaults([
        { method: 'HEAD', path: manifestPath('v1'), fault: 'status', status: 429, retryAfter: 1, count: 1 },
      ]);
      assert.equal((await client.resolve(ref(proxy.host, REPO, 'v1'))).digest, a.digest);
      assert.deepEqual(lines(proxy.requests).slice(0, 2), [
        `HEAD /v2/${REPO}/manifests/v1`,
        `HEAD /v2/${REPO}/manifests/v1`,
      ]);
      proxy.clearRequests();
      proxy.setFaults([
        { method: 'HEAD', path: manifestPath('v2'), fault: 'status', status: 429, retryAfter: 3600 },
      ]);
      await assert.rejects(
        client.resolve(ref(proxy.host, REPO, 'v2')),
        isRegistryError('RATE_LIMITED', /Retry-After of 3600 s, more than the 30 s we wait/),
      );
      assert.equal(proxy.requests.length, 1);
    });

    void test('dropped connections are retried', async () => {
      proxy.setFaults([
        {
          method: 'GET',
          path: manifestPath(a.digest),
          fault: 'custom',
          count: 2,
          handle: (req) => void req.socket.destroy(),
        },
      ]);
      assert.equal((await repo().fetchManifest(a.digest)).descriptor.digest, a.digest);
      assert.equal(proxy.requests.length, 3);
    });

    void test('a stalled response times out per request, retried, then TIMEOUT', async () => {
      proxy.setFaults([{ method: 'GET', path: manifestPath(a.digest), fault: 'stall' }]);
      await assert.rejects(
        repo().fetchManifest(a.digest),
        isRegistryError('TIMEOUT', /no complete response within 400 ms \(GET /),
      );
      assert.equal(proxy.requests.length, 3);
    });

    void test('a body that stalls half way times out too', async () => {
      proxy.setFaults([
        { method: 'GET', path: manifestPath(a.digest), fault: 'stall', when: 'mid-body', afterBytes: 10 },
      ]);
      await assert.rejects(
        repo().fetchManifest(a.digest),
        isRegistryError('TIMEOUT', /no complete response within 400 ms/),
      );
    });

    void test('the caller deadline ends everything, waits included: DEADLINE_EXCEEDED', async () => {
      const patient = createRegistryClient({
        insecureRegistries: [proxy.host],
        timeouts: { requestMs: 60_000 },
      });
      proxy.setFaults([{ method: 'GET', path: manifestPath(a.digest), fault: 'stall' }]);
      try {
        await assert.rejects(
          patient.repository(proxy.host, REPO).fetchManifest(a.digest, { signal: AbortSignal.timeout(300) }),
          isRegistryError('DEADLINE_EXCEEDED', /overall deadline passed/),
        );
        proxy.setFaults([
          { method: 'HEAD', path: manifestPath('v1'), fault: 'status', status: 503, retryAfter: 20 },
        ]);
        await assert.rejects(
          patient.resolve(ref(proxy.host, REPO, 'v1'), { signal: AbortSignal.timeout(300) }),
          isRegistryError('DEADLINE_EXCEEDED', /overall deadline passed/),
        );
      } finally {
        await patient.close();
      }
    });

    void test('a truncated body is retried; truncated every time is NETWORK_ERROR', async () => {
      proxy.setFaults([
        { method: 'GET', path: manifestPath(a.digest), fault: 'truncate', bytes: 20, count: 1 },
      ]);
      assert.equal((await repo().fetchManifest(a.digest)).descriptor.digest, a.digest);
      proxy.setFaults([{ method: 'GET', path: manifestPath(b.digest), fault: 'truncate', bytes: 20 }]);
      await assert.rejects(
        repo().fetchManifest(b.digest),
        isRegistryError('NETWORK_ERROR', new RegExp(`registry ${proxy.host}/${REPO}@${b.digest}: `)),
      );
    });
  });

  void describe('size and count limits', () => {
    void test('an oversized manifest is refused from Content-Length, and while streaming without it', async () => {
      proxy.setFaults([{ method: 'GET', path: manifestPath(a.digest), fault: 'oversize', bytes: 1 << 30 }]);
      await assert.rejects(
        repo().fetchManifest(a.digest),
        isRegistryError(
          'TOO_LARGE',
          /manifest is 1073741824 bytes \(Content-Length\), more than the limit of 4194304/,
        ),
      );
      proxy.setFaults([
        {
          method: 'GET',
          path: manifestPath(b.digest),
          fault: 'oversize',
          bytes: 1 << 30,
          contentLength: false,
        },
      ]);
      await assert.rejects(
        repo().fetchManifest(b.digest),
        isRegistryError('TOO_LARGE', /more than the limit of 4194304 bytes \(stopped reading\)/),
      );
    });

    void test('thousands of referrers are refused (API answer, tag-schema index, and across pages)', async () => {
      proxy.setFaults([
        {
          method: 'GET',
          path: new RegExp(`^/v2/${REPO}/referrers/`),
          fault: 'custom',
          handle: (_req, res) => {
            res.writeHead(200, { 'content-type': OCI_INDEX });
            res.end(referrersIndex(5000));
          },
        },
      ]);
      await assert.rejects(
        repo().referrers(a.digest),
        isRegistryError('TOO_MANY', /referrers index lists 5000 manifests, more than the limit of 1000/),
      );

      proxy.setFaults([
        {
          method: 'GET',
          path: new RegExp(`^/v2/${REPO}/manifests/sha256-`),
          fault: 'custom',
          handle: (_req, res) => {
            res.writeHead(200, { 'content-type': OCI_INDEX });
            res.end(referrersIndex(3000));
          },
        },
      ]);
      await assert.rejects(repo().referrers(a.digest), isRegistryError('TOO_MANY', /lists 3000 manifests/));

      // A fresh client: the one above has learnt that this registry has no referrers API.
      await client.close();
      client = createRegistryClient({ insecureRegistries: [proxy.host] });
      let page = 0;
      proxy.setFaults([
        {
          method: 'GET',
          path: new RegExp(`^/v2/${REPO}/referrers/`),
          fault: 'custom',
          handle: (_req, res) => {
            page += 1;
            res.writeHead(200, {
              'content-type': OCI_INDEX,
              link: `</v2/${REPO}/referrers/${a.digest}?page=${page + 1}>; rel="next"`,
            });
            res.end(referrersIndex(400, page * 400));
          },
        },
      ]);
      await assert.rejects(
        repo().referrers(a.digest),
        isRegistryError('TOO_MANY', /more than 1000 referrers/),
      );
      assert.equal(page, 3);
    });

    void test('a registry without the referrers API is asked once; later lookups go straight to the tag schema', async () => {
      assert.deepEqual(await repo().referrers(a.digest), []);
      assert.deepEqual(await repo().referrers(b.digest), []);
      const paths = proxy.requests.map((r) => `${r.method} ${r.path.replace(/sha256[-:][0-9a-f]{64}/, 'D')}`);
      assert.deepEqual(paths, [
        `GET /v2/${REPO}/referrers/D`,
        `GET /v2/${REPO}/manifests/D`,
        `GET /v2/${REPO}/manifests/D`,
      ]);
    });

    void test('referrers API (OCI 1.1 double): artifactType filtered client-side even when the registry ignores it', async () => {
      proxy.setFaults([
        {
          method: 'GET',
          path: new RegExp(`^/v2/${REPO}/referrers/${a.digest}`),
          fault: 'custom',
          handle: (_req, res) => {
            res.writeHead(200, { 'content-type': OCI_INDEX });
            res.end(referrersIndex(6));
          },
        },
      ]);
      const found = await repo().referrers(a.digest, { artifactType: 'application/spdx+json' });
      assert.equal(found.length, 3);
      assert.ok(found.every((d) => d.artifactType === 'application/spdx+json'));
      assert.match(proxy.requests[0]?.path ?? '', /\?artifactType=application%2Fspdx%2Bjson$/);
      assert.equal(proxy.requests.length, 1, 'no tag-schema fallback when the API answers');
    });
  });

  void describe('redirects', () => {
    void test('a redirect loop is refused', async () => {
      proxy.setFaults([
        { path: manifestPath(a.digest), fault: 'redirect', location: `/v2/${REPO}/manifests/${a.digest}` },
      ]);
      await assert.rejects(
        repo().fetchManifest(a.digest),
        isRegistryError('TOO_MANY_REDIRECTS', /redirect loop at http:\/\//),
      );
    });

    void test('an endless redirect chain stops at the limit', async () => {
      proxy.setFaults([
        {
          path: new RegExp(`^/v2/${REPO}/manifests/`),
          fault: 'custom',
          handle: (req, res) => {
            const hop = Number(new URL(req.url ?? '/', 'http://x').searchParams.get('hop') ?? '0');
            res.writeHead(302, {
              location: `/v2/${REPO}/manifests/${a.digest}?hop=${hop + 1}`,
              'content-length': '0',
            });
            res.end();
          },
        },
      ]);
      await assert.rejects(
        repo().fetchManifest(a.digest),
        isRegistryError('TOO_MANY_REDIRECTS', /more than 5 redirects/),
      );
      assert.equal(proxy.requests.length, 6);
    });
  });
});
