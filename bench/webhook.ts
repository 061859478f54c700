/**
 * Webhook benchmark: AdmissionReviews per second and latency against `portcullis serve` on loopback
 * (HTTPS), with autocannon, for
 *   (a) cached verdicts: one signed image, asked again and again;
 *   (b) cold verification: N distinct signed images (legacy cosign .sig by a key), each asked once, so each
 *       request resolves a tag, fetches the signature and verifies it against the local registry;
 * each beside a bare HTTPS server answering the same request with a fixed allow (JSON parsed, uid echoed),
 * measured in the same run, so the overhead is a ratio. Environment: BENCH_WEBHOOK_IMAGES (default 50),
 * BENCH_WEBHOOK_SECONDS (default 5), BENCH_WEBHOOK_CONNECTIONS (default 10).
 */
import { createServer } from 'node:https';
import { readFileSync } from 'node:fs';
import { PassThrough } from 'node:stream';
import autocannon from 'autocannon';
import type { Result } from 'autocannon';
import { runServe } from '../src/cli/commands/serve.ts';
import type { WebhookServer } from '../src/webhook/server.ts';
import { startRegistry } from '../test/harness/registry.ts';
import { pushSignedImages } from './signed-images.ts';
import { makeCa } from '../test/webhook/tls.ts';
import { admissionReview, pod } from '../test/webhook/support.ts';

const env = (name: string, fallback: number) => Number(process.env[name] ?? fallback);
const IMAGES = env('BENCH_WEBHOOK_IMAGES', 50);
const SECONDS = env('BENCH_WEBHOOK_SECONDS', 5);
const CONNECTIONS = env('BENCH_WEBHOOK_CONNECTIONS', 10);

interface Row {
  readonly label: string;
  readonly result: Result;
}

export async function runWebhookBench(log: (line: string) => void = () => {}): Promise<string> {
  const registry = await startRegistry();
  const stop = new AbortController();
  let served: Promise<number> | undefined;
  const bare = { close: () => {} };
  try {
    // Signed images in the local registry.
    log(`pushing and signing ${IMAGES} images ...`);
    const signed = await pushSignedImages(registry.host, IMAGES, { seed: 'webhook-bench' });
    const images = signed.repositories.map((r) => `${registry.host}/${r}:v1`);
    const policies = signed.policyDir;

    const ca = makeCa();
    const tls = ca.issue('bench');
    const sink = new PassThrough();
    sink.resume();
    const server = await new Promise<WebhookServer>((resolve, reject) => {
      served = runServe(
        {
          policy: [policies],
          tlsCert: tls.certFile,
          tlsKey: tls.keyFile,
          port: '0',
          host: '127.0.0.1',
          pin: true,
          deadline: '9',
          logLevel: 'error',
          timeout: '30',
          insecureRegistry: [registry.host],
        },
        { stdout: sink, stderr: sink, readStdin: async () => '' },
        { signal: stop.signal, onListening: (s) => resolve(s) },
      );
      served.then((code) => reject(new Error(`serve exited with ${code}`)), reject);
    });

    // The baseline: the same TLS, the same request, a fixed allow.
    const bareServer = createServer(
      { cert: readFileSync(tls.certFile), key: readFileSync(tls.keyFile) },
      (req, res) => {
        const chunks: Buffer[] = [];
        req.on('data', (c: Buffer) => chunks.push(c));
        req.on('end', () => {
          const review = JSON.parse(Buffer.concat(chunks).toString('utf8')) as { request: { uid: string } };
          res.writeHead(200, { 'content-type': 'application/json' });
          res.end(
            JSON.stringify({
              apiVersion: 'admission.k8s.io/v1',
              kind: 'AdmissionReview',
              response: { uid: review.request.uid, allowed: true },
            }),
          );
        });
      },
    );
    await new Promise<void>((r) => bareServer.listen(0, '127.0.0.1', r));
    bare.close = () => bareServer.close();
    const bareUrl = `https://127.0.0.1:${(bareServer.address() as { port: number }).port}`;

    const bodies = images.map((image, i) => JSON.stringify(admissionReview(pod(`p-${i}`, image))));
    const common = {
      connections: CONNECTIONS,
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      tlsOptions: { ca: ca.caPem },
    };
    const rows: Row[] = [];
    const run = async (label: string, options: Parameters<typeof autocannon>[0]) => {
      const result = await autocannon(options);
      if (result.errors || result.non2xx || result.timeouts)
        log(`  ${label}: ${result.errors} errors, ${result.non2xx} non-2xx, ${result.timeouts} timeouts`);
      rows.push({ label, result });
      log(
        `  ${label}: ${result.requests.average.toFixed(0)} req/s, p50 ${result.latency.p50} ms, p99 ${result.latency.p99} ms`,
      );
    };

    // Check one answer before measuring: allowed, with the pin.
    const warm = await autocannon({
      ...common,
      url: `${server.url}/validate`,
      amount: 1,
      connections: 1,
      body: bodies[0]!,
    });
    if (warm.non2xx) throw new Error('the webhook did not answer 200');

    let next = 0;
    const cycle = (list: readonly string[]) => [
      { setupRequest: (req: Record<string, unknown>) => ({ ...req, body: list[next++ % list.length] }) },
    ];
    next = 0;
    await run(`(b) cold: ${IMAGES} distinct signed images, portcullis`, {
      ...common,
      url: `${server.url}/validate`,
      amount: IMAGES,
      requests: cycle(bodies),
    });
    next = 0;
    await run(`(b) cold: same requests, bare HTTPS allow`, {
      ...common,
      url: `${bareUrl}/validate`,
      amount: IMAGES,
      requests: cycle(bodies),
    });
    await run('(a) cached verdict: one image, portcullis', {
      ...common,
      url: `${server.url}/validate`,
      duration: SECONDS,
      body: bodies[0]!,
    });
    await run('(a) same request, bare HTTPS allow', {
      ...common,
      url: `${bareUrl}/validate`,
      duration: SECONDS,
      body: bodies[0]!,
    });

    const [coldOurs, coldBare, hotOurs, hotBare] = rows.map((r) => r.result);
    const line = (r: Row) =>
      `${r.label.padEnd(52)} ${r.result.requests.total.toString().padStart(7)} ${r.result.requests.average.toFixed(0).padStart(7)} ${String(r.result.latency.p50).padStart(7)} ${String(r.result.latency.p99).padStart(7)}`;
    return [
      `webhook: POST /validate (Pod, 1 image, key-signed legacy .sig) over HTTPS on loopback, ${CONNECTIONS} connections`,
      `${'case'.padEnd(52)} ${'reqs'.padStart(7)} ${'req/s'.padStart(7)} ${'p50 ms'.padStart(7)} ${'p99 ms'.padStart(7)}`,
      `${'-'.repeat(52)} ${'-'.repeat(7)} ${'-'.repeat(7)} ${'-'.repeat(7)} ${'-'.repeat(7)}`,
      ...rows.map(line),
      `ratio portcullis/bare: cached ${(hotOurs!.requests.average / hotBare!.requests.average).toFixed(2)}x throughput, p99 ${(hotOurs!.latency.p99 / Math.max(1, hotBare!.latency.p99)).toFixed(2)}x; ` +
        `cold p50 ${(coldOurs!.latency.p50 / Math.max(1, coldBare!.latency.p50)).toFixed(1)}x, ${(coldOurs!.duration / Math.max(0.001, coldBare!.duration)).toFixed(1)}x wall time for ${IMAGES} images`,
    ].join('\n');
  } finally {
    bare.close();
    stop.abort();
    await served?.catch(() => 0);
    await registry.stop();
  }
}
