import { after, before, beforeEach, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { request as httpRequest } from 'node:http';
import { startRegistry } from './registry.ts';
import type { RunningRegistry } from './registry.ts';
import { startFaultProxy, startHeaderRecorder } from './fault-proxy.ts';
import type { FaultProxy, HeaderRecorder } from './fault-proxy.ts';
import { MEDIA_TYPES, buildImage, pushBuilt, sha256 } from './images.ts';

const ACCEPT = { accept: MEDIA_TYPES.ociManifest };

/** Raw GET that reports how the exchange ended, without fetch's own handling of broken bodies. */
function rawGet(
  url: string,
  abortAfterMs: number,
): Promise<{ status?: number; headers?: Record<string, unknown>; received: number; ending: string }> {
  return new Promise((resolve) => {
    let received = 0;
    let status: number | undefined;
    let headers: Record<string, unknown> | undefined;
    const req = httpRequest(url, { headers: ACCEPT, agent: false }, (res) => {
      status = res.statusCode;
      headers = res.headers;
      res.on('data', (chunk: Buffer) => {
        received += chunk.length;
      });
      res.on('end', () => finish('end'));
      res.on('aborted', () => finish('aborted'));
      res.on('error', () => finish('error'));
    });
    // A fault that never answers must not hang the test: give up after a bound.
    const timer = setTimeout(() => {
      finish('gave-up');
      req.destroy();
    }, abortAfterMs);
    req.on('error', () => finish('error'));
    req.end();
    let done = false;
    function finish(ending: string): void {
      if (done) return;
      done = true;
      clearTimeout(timer);
      resolve({
        ...(status !== undefined ? { status } : {}),
        ...(headers !== undefined ? { headers } : {}),
        received,
        ending,
      });
    }
  });
}

void describe('fault proxy in front of the registry', () => {
  let registry: RunningRegistry;
  let proxy: FaultProxy;
  let recorder: HeaderRecorder;
  const image = buildImage({ seed: 'fault-proxy' });
  let manifestUrl: string;

  before(async () => {
    registry = await startRegistry();
    await pushBuilt(registry.host, 'faults/app', image, 'v1');
    proxy = await startFaultProxy(registry.url);
    recorder = await startHeaderRecorder({ respond: () => ({ status: 200, body: 'elsewhere' }) });
    manifestUrl = `${proxy.url}/v2/faults/app/manifests/v1`;
  });
  after(async () => {
    await proxy?.stop();
    await recorder?.stop();
    await registry?.stop();
  });
  beforeEach(() => {
    proxy.setFaults([]);
    proxy.clearRequests();
  });

  void test('without rules it forwards unchanged and records every request', async () => {
    const head = await fetch(manifestUrl, { method: 'HEAD', headers: ACCEPT });
    assert.equal(head.headers.get('docker-content-digest'), image.digest);
    const get = await fetch(manifestUrl, { headers: ACCEPT });
    assert.equal(sha256(Buffer.from(await get.arrayBuffer())), image.digest);
    assert.deepEqual(
      proxy.requests.map((r) => `${r.method} ${r.path}`),
      ['HEAD /v2/faults/app/manifests/v1', 'GET /v2/faults/app/manifests/v1'],
    );
    assert.equal(proxy.requests[0]?.headers['accept'], MEDIA_TYPES.ociManifest);
    assert.equal(proxy.requests[0]?.fault, undefined);
  });

  void test('pushes through the proxy work (upload Locations point back at the proxy)', async () => {
    const other = buildImage({ seed: 'via-proxy' });
    await pushBuilt(proxy.host, 'faults/pushed', other, 'v1');
    const response = await fetch(`${registry.url}/v2/faults/pushed/manifests/v1`, { headers: ACCEPT });
    assert.equal(sha256(Buffer.from(await response.arrayBuffer())), other.digest);
    assert.ok(proxy.requests.some((r) => r.method === 'PUT' && r.path.includes('/blobs/uploads/')));
  });

  void test('status: the first N matches fail, later ones pass', async () => {
    proxy.setFaults([
      { method: 'GET', path: /^\/v2\/faults\/app\/manifests\//, count: 2, fault: 'status', status: 500 },
    ]);
    assert.equal((await fetch(manifestUrl, { headers: ACCEPT })).status, 500);
    assert.equal((await fetch(manifestUrl, { headers: ACCEPT })).status, 500);
    const third = await fetch(manifestUrl, { headers: ACCEPT });
    assert.equal(third.status, 200);
    await third.body?.cancel();
    assert.deepEqual(
      proxy.requests.map((r) => r.fault),
      ['status', 'status', undefined],
    );
  });

  void test('status 429 carries Retry-After; the method must match', async () => {
    proxy.setFaults([{ method: 'HEAD', path: /manifests/, fault: 'status', status: 429, retryAfter: 3 }]);
    const head = await fetch(manifestUrl, { method: 'HEAD', headers: ACCEPT });
    assert.equal(head.status, 429);
    assert.equal(head.headers.get('retry-after'), '3');
    const get = await fetch(manifestUrl, { headers: ACCEPT });
    assert.equal(get.status, 200);
    await get.body?.cancel();
  });

  void test('skip: the tag changes digest on the second request only', async () => {
    const impostor = buildImage({ seed: 'impostor' });
    proxy.setFaults([
      { path: /manifests\/v1$/, skip: 1, count: 1, fault: 'replaceBody', body: impostor.bytes },
    ]);
    const digests: string[] = [];
    for (let i = 0; i < 3; i++) {
      const response = await fetch(manifestUrl, { headers: ACCEPT });
      digests.push(sha256(Buffer.from(await response.arrayBuffer())));
    }
    assert.deepEqual(digests, [image.digest, impostor.digest, image.digest]);
  });

  void test('replaceBody keeps the original headers, so Docker-Content-Digest lies', async () => {
    proxy.setFaults([
      { path: /manifests/, fault: 'replaceBody', body: (original) => Buffer.from(original).reverse() },
    ]);
    const response = await fetch(manifestUrl, { headers: ACCEPT });
    const bytes = Buffer.from(await response.arrayBuffer());
    assert.equal(response.headers.get('docker-content-digest'), image.digest);
    assert.equal(bytes.length, image.bytes.length);
    assert.notEqual(sha256(bytes), image.digest);
  });

  void test('header: overrides and deletes response headers', async () => {
    const liar = `sha256:${'0'.repeat(64)}`;
    proxy.setFaults([
      {
        path: /manifests/,
        fault: 'header',
        headers: { 'Docker-Content-Digest': liar, 'content-type': null },
      },
    ]);
    const response = await fetch(manifestUrl, { headers: ACCEPT });
    assert.equal(response.headers.get('docker-content-digest'), liar);
    assert.equal(response.headers.get('content-type'), null);
    assert.equal(sha256(Buffer.from(await response.arrayBuffer())), image.digest);
  });

  void test('truncate: announces the full length, sends part, closes', async () => {
    proxy.setFaults([{ path: /manifests/, fault: 'truncate', bytes: 10 }]);
    const result = await rawGet(manifestUrl, 5000);
    assert.equal(result.status, 200);
    assert.equal(result.headers?.['content-length'], String(image.bytes.length));
    assert.equal(result.received, 10);
    assert.notEqual(result.ending, 'end');
    assert.notEqual(result.ending, 'gave-up');
  });

  void test('stall before-response: the request is accepted and never answered', async () => {
    proxy.setFaults([{ path: /manifests/, fault: 'stall' }]);
    const result = await rawGet(manifestUrl, 300);
    assert.deepEqual(result, { received: 0, ending: 'gave-up' });
  });

  void test('stall mid-body: headers and part of the body, then silence', async () => {
    proxy.setFaults([{ path: /manifests/, fault: 'stall', when: 'mid-body', afterBytes: 7 }]);
    const result = await rawGet(manifestUrl, 300);
    assert.equal(result.status, 200);
    assert.equal(result.received, 7);
    assert.equal(result.ending, 'gave-up');
  });

  void test('oversize: a huge body is streamed (and the stream stops when the client leaves)', async () => {
    const huge = 1024 * 1024 * 1024;
    proxy.setFaults([{ path: /manifests/, fault: 'oversize', bytes: huge }]);
    const response = await fetch(manifestUrl, { headers: ACCEPT });
    assert.equal(response.headers.get('content-length'), String(huge));
    const reader = response.body?.getReader();
    assert.ok(reader);
    let received = 0;
    while (received < 5 * 1024 * 1024) {
      const { value, done } = await reader.read();
      if (done) break;
      received += value.length;
    }
    await reader.cancel();
    assert.ok(received >= 5 * 1024 * 1024);
  });

  void test('oversize without Content-Length is chunked and ends after the given size', async () => {
    proxy.setFaults([{ path: /manifests/, fault: 'oversize', bytes: 200_000, contentLength: false }]);
    const result = await rawGet(manifestUrl, 5000);
    assert.equal(result.headers?.['content-length'], undefined);
    assert.equal(result.headers?.['transfer-encoding'], 'chunked');
    assert.equal(result.received, 200_000);
    assert.equal(result.ending, 'end');
  });

  void test('redirect: to itself (a loop) and to another host', async () => {
    proxy.setFaults([
      { path: /manifests\/loop$/, fault: 'redirect', location: '/v2/faults/app/manifests/loop' },
    ]);
    const loop = await fetch(`${proxy.url}/v2/faults/app/manifests/loop`, { redirect: 'manual' });
    assert.equal(loop.status, 307);
    assert.equal(loop.headers.get('location'), '/v2/faults/app/manifests/loop');
    await assert.rejects(fetch(`${proxy.url}/v2/faults/app/manifests/loop`), /fetch failed/);

    proxy.setFaults([{ path: /blobs/, fault: 'redirect', location: `${recorder.url}/storage/blob?sig=1` }]);
    const followed = await fetch(`${proxy.url}/v2/faults/app/blobs/${image.blobs[0]?.digest ?? ''}`, {
      headers: { 'x-probe': 'followed' },
    });
    assert.equal(await followed.text(), 'elsewhere');
    const seen = recorder.requests.find((r) => r.headers['x-probe'] === 'followed');
    assert.equal(seen?.path, '/storage/blob?sig=1');
  });

  void test('the header recorder is another host (127.0.0.2) and records headers as received', async () => {
    assert.match(recorder.host, /^127\.0\.0\.2:\d+$/);
    await (await fetch(`${recorder.url}/direct`, { headers: { authorization: 'Bearer token-x' } })).text();
    const seen = recorder.requests.find((r) => r.path === '/direct');
    assert.equal(seen?.headers['authorization'], 'Bearer token-x');
  });

  void test('custom: a handler can forward, then rewrite', async () => {
    proxy.setFaults([
      {
        path: /manifests/,
        fault: 'custom',
        handle: async (_req, _res, context) => {
          const upstream = await context.forward();
          context.send({
            ...upstream,
            status: 203,
            headers: { ...upstream.headers, 'x-match': String(context.match) },
          });
        },
      },
    ]);
    const response = await fetch(manifestUrl, { headers: ACCEPT });
    assert.equal(response.status, 203);
    assert.equal(response.headers.get('x-match'), '1');
    assert.equal(sha256(Buffer.from(await response.arrayBuffer())), image.digest);
  });

  void test('stop() returns even with stalled connections open', async () => {
    const local = await startFaultProxy(registry.url);
    local.setFaults([{ path: /./, fault: 'stall' }]);
    const pending = rawGet(`${local.url}/v2/`, 10_000);
    while (local.requests.length === 0) await new Promise((resolve) => setTimeout(resolve, 10));
    await local.stop();
    const result = await pending;
    assert.notEqual(result.ending, 'gave-up');
  });

  void test('a client leaving in the middle of a forwarded body does not disturb the proxy', async () => {
    const big = buildImage({ seed: 'big', layers: [Buffer.alloc(8 * 1024 * 1024, 7)] });
    await pushBuilt(registry.host, 'faults/big', big);
    const layer = big.blobs[1];
    assert.ok(layer);
    for (let i = 0; i < 3; i++) {
      const controller = new AbortController();
      const response = await fetch(`${proxy.url}/v2/faults/big/blobs/${layer.digest}`, {
        signal: controller.signal,
      });
      const reader = response.body?.getReader();
      await reader?.read();
      controller.abort();
    }
    const after = await fetch(manifestUrl, { headers: ACCEPT });
    assert.equal(sha256(Buffer.from(await after.arrayBuffer())), image.digest);
  });

  void test('an upstream that is down gives a 502 from the proxy', async () => {
    const dead = await startFaultProxy('http://127.0.0.1:1');
    try {
      const response = await fetch(`${dead.url}/v2/`);
      assert.equal(response.status, 502);
      assert.match(await response.text(), /^fault proxy: /);
    } finally {
      await dead.stop();
    }
  });
});
