/**
 * Registry benchmark: resolve a tag and fetch the manifest of N distinct images concurrently, against
 * Debian's docker-registry on loopback, through the counting (fault-free) proxy; then the same images with
 * `skopeo inspect` in the same run, as the baseline.
 *
 * Environment: BENCH_IMAGES (default 50), BENCH_SKOPEO_CONCURRENCY (default 8 processes at a time, the
 * client's own default per-registry concurrency), BENCH_ROUNDS (default 3; the best round is reported,
 * each round with a fresh client so nothing is served from its manifest cache).
 *
 * Not comparable one to one: skopeo is a process per image (fork/exec, Go start-up) and `inspect` also
 * pings /v2/ (twice), fetches the config blob and lists tags; that is the cost a shell-out based verifier
 * pays, which is the point. Debian's docker-registry itself serves only a few hundred manifest requests per
 * second on loopback, so at these sizes our figure is bounded by the registry, not by the client.
 */
import { execFile } from 'node:child_process';
import { performance } from 'node:perf_hooks';
import { createRegistryClient } from '../src/registry/client.ts';
import type { ImageReference } from '../src/reference/types.ts';
import { startRegistry, requireExecutable } from '../test/harness/registry.ts';
import { startFaultProxy } from '../test/harness/fault-proxy.ts';
import type { RecordedRequest } from '../test/harness/fault-proxy.ts';
import { buildImage, pushBuilt } from '../test/harness/images.ts';

export interface ToolResult {
  readonly tool: string;
  readonly images: number;
  readonly wallMs: number;
  readonly imagesPerSecond: number;
  readonly requestsPerImage: number;
  /** e.g. `HEAD manifest` => count, over the reported round. */
  readonly breakdown: Readonly<Record<string, number>>;
}

export interface RegistryBenchResult {
  readonly images: number;
  readonly rounds: number;
  readonly ours: ToolResult;
  readonly skopeo: ToolResult;
}

function envInt(name: string, fallback: number): number {
  const raw = process.env[name];
  if (raw === undefined || raw === '') return fallback;
  const value = Number(raw);
  if (!Number.isSafeInteger(value) || value < 1 || value > 100_000) {
    throw new Error(`${name} must be an integer between 1 and 100000 (got ${JSON.stringify(raw)})`);
  }
  return value;
}

function kind(request: RecordedRequest): string {
  const path = request.path.split('?', 1)[0] ?? '';
  if (path === '/v2/' || path === '/v2') return `${request.method} /v2/`;
  if (/\/manifests\/[^/]+$/.test(path)) {
    return `${request.method} manifest by ${/\/manifests\/sha(256|512):/.test(path) ? 'digest' : 'tag'}`;
  }
  if (/\/blobs\/[^/]+$/.test(path)) return `${request.method} blob`;
  if (path.endsWith('/tags/list')) return `${request.method} tags list`;
  return `${request.method} other`;
}

function breakdown(requests: readonly RecordedRequest[]): Record<string, number> {
  const counts: Record<string, number> = {};
  for (const request of requests) counts[kind(request)] = (counts[kind(request)] ?? 0) + 1;
  return counts;
}

async function pool<T>(items: readonly T[], width: number, work: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < items.length) {
      const item = items[next++] as T;
      await work(item);
    }
  };
  await Promise.all(Array.from({ length: Math.min(width, items.length) }, worker));
}

function skopeoInspect(skopeo: string, target: string): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile(
      skopeo,
      ['inspect', '--tls-verify=false', `docker://${target}`],
      { timeout: 60_000, maxBuffer: 4 * 1024 * 1024 },
      (error, stdout, stderr) =>
        error === null
          ? resolve(stdout)
          : reject(new Error(`skopeo inspect ${target}: ${stderr || error.message}`)),
    );
  });
}

export async function runRegistryBench(
  options: {
    images?: number;
    rounds?: number;
    skopeoConcurrency?: number;
    log?: (line: string) => void;
  } = {},
): Promise<RegistryBenchResult> {
  const images = options.images ?? envInt('BENCH_IMAGES', 50);
  const rounds = options.rounds ?? envInt('BENCH_ROUNDS', 3);
  const skopeoConcurrency = options.skopeoConcurrency ?? envInt('BENCH_SKOPEO_CONCURRENCY', 8);
  const log = options.log ?? ((): void => {});
  const skopeo = requireExecutable('skopeo', 'skopeo');

  const registry = await startRegistry();
  const proxy = await startFaultProxy(registry.url);
  try {
    log(`pushing ${images} distinct images to ${registry.host} ...`);
    const repos = Array.from({ length: images }, (_, i) => `bench/image-${String(i).padStart(4, '0')}`);
    const expected = new Map<string, string>();
    await pool(repos, 8, async (repo) => {
      expected.set(repo, await pushBuilt(registry.host, repo, buildImage({ seed: repo }), 'v1'));
    });

    const measure = async (tool: string, once: () => Promise<void>): Promise<ToolResult> => {
      let best: ToolResult | undefined;
      for (let round = 0; round < rounds; round++) {
        proxy.clearRequests();
        const start = performance.now();
        await once();
        const wallMs = performance.now() - start;
        const result: ToolResult = {
          tool,
          images,
          wallMs,
          imagesPerSecond: (images * 1000) / wallMs,
          requestsPerImage: proxy.requests.length / images,
          breakdown: breakdown(proxy.requests),
        };
        log(
          `  ${tool} round ${round + 1}: ${wallMs.toFixed(0)} ms, ${result.requestsPerImage.toFixed(2)} requests/image`,
        );
        if (best === undefined || result.wallMs < best.wallMs) best = result;
      }
      return best as ToolResult;
    };

    const ours = await measure('portcullis client', async () => {
      // A fresh client per round: its manifest cache and token cache start empty, as for a new process.
      const client = createRegistryClient({ insecureRegistries: [proxy.host] });
      try {
        await Promise.all(
          repos.map(async (repo) => {
            const ref: ImageReference = {
              original: `${proxy.host}/${repo}:v1`,
              registry: proxy.host,
              repository: repo,
              tag: 'v1',
            };
            const descriptor = await client.resolve(ref);
            const manifest = await client.repository(proxy.host, repo).fetchManifest(descriptor.digest);
            if (manifest.descriptor.digest !== expected.get(repo)) {
              throw new Error(
                `${repo}: resolved ${manifest.descriptor.digest}, pushed ${expected.get(repo) ?? '?'}`,
              );
            }
          }),
        );
      } finally {
        await client.close();
      }
    });

    const baseline = await measure('skopeo inspect', async () => {
      await pool(repos, skopeoConcurrency, async (repo) => {
        const output = JSON.parse(await skopeoInspect(skopeo, `${proxy.host}/${repo}:v1`)) as {
          Digest?: string;
        };
        if (output.Digest !== expected.get(repo)) {
          throw new Error(`skopeo ${repo}: ${output.Digest ?? '?'}, pushed ${expected.get(repo) ?? '?'}`);
        }
      });
    });
    return { images, rounds, ours, skopeo: baseline };
  } finally {
    await proxy.stop();
    await registry.stop();
  }
}

export function formatRegistryBench(result: RegistryBenchResult): string {
  const rows = [result.ours, result.skopeo];
  const header = ['tool', 'images', 'wall ms', 'images/s', 'requests/image', 'requests by kind'];
  const cells = rows.map((r) => [
    r.tool,
    String(r.images),
    r.wallMs.toFixed(0),
    r.imagesPerSecond.toFixed(1),
    r.requestsPerImage.toFixed(2),
    Object.entries(r.breakdown)
      .sort(([a], [b]) => a.localeCompare(b))
      .map(([k, v]) => `${k}: ${v}`)
      .join(', '),
  ]);
  const widths = header.map((h, i) => Math.max(h.length, ...cells.map((c) => (c[i] ?? '').length)));
  const line = (values: readonly string[]): string =>
    values
      .map((v, i) =>
        i === 0 || i === values.length - 1 ? v.padEnd(widths[i] ?? 0) : v.padStart(widths[i] ?? 0),
      )
      .join('  ')
      .trimEnd();
  const speedup = result.ours.imagesPerSecond / result.skopeo.imagesPerSecond;
  const requestRatio = result.skopeo.requestsPerImage / result.ours.requestsPerImage;
  return [
    `registry: resolve tag + fetch manifest, ${result.images} distinct images, local docker-registry via counting proxy, best of ${result.rounds} rounds`,
    line(header),
    line(widths.map((w) => '-'.repeat(w))),
    ...cells.map(line),
    `ratio portcullis/skopeo: ${speedup.toFixed(1)}x images/s; skopeo makes ${requestRatio.toFixed(1)}x the requests per image`,
  ].join('\n');
}
