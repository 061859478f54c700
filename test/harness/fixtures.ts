/**
 * Third-party fixtures from ../shared/fixtures (beside the repository, never copied into it), and the
 * replay of the skopeo-signed registry dump into a test registry.
 *
 * The dump (`registry-dump/test/<repo>/manifest@<tag>.json`, `blobs/sha256-<hex>`) holds the manifests
 * and the signature blobs, but not the image configs/layers nor the platform manifests of the indexes:
 * those come from the matching OCI layouts in `skopeo-signed/oci-layouts` (same digests, see
 * shared/fixtures/PROVENANCE.md). Every byte is checked against its digest before it is pushed.
 */
import { readFileSync, readdirSync, existsSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { HarnessError } from './registry.ts';
import type { RegistryAuth } from './registry.ts';
import { pushImage, sha256 } from './images.ts';

/** `<repo root>/../shared/fixtures/`: resolved from this file so any clone location works. */
export const FIXTURES_DIR = fileURLToPath(new URL('../../../shared/fixtures/', import.meta.url));
export const SKOPEO_SIGNED_DIR = join(FIXTURES_DIR, 'skopeo-signed');
export const REGISTRY_DUMP_DIR = join(SKOPEO_SIGNED_DIR, 'registry-dump');
export const OCI_LAYOUTS_DIR = join(SKOPEO_SIGNED_DIR, 'oci-layouts');

export function fixturePath(...parts: string[]): string {
  const path = join(FIXTURES_DIR, ...parts);
  if (!existsSync(path)) {
    throw new HarnessError(
      'HARNESS_FIXTURE_MISSING',
      `fixture ${path} not found: tests read ../shared/fixtures beside the repository checkout`,
    );
  }
  return path;
}

/** repo (e.g. `test/app`) => tag (e.g. `v1`, `sha256-<hex>.sig`) => manifest digest. */
export type ReplayedDump = Record<string, Record<string, string>>;

export interface ReplayOptions {
  readonly auth?: RegistryAuth;
  /** Replay only these repositories (e.g. `['test/app']`). Default: all. */
  readonly repos?: readonly string[];
}

const MANIFEST_FILE = /^manifest@(.+)\.json$/;
const DUMP_BLOB_FILE = /^sha256-([0-9a-f]{64})$/;

interface Pool {
  /** digest => bytes, for blobs and manifests alike (everything is content-addressed). */
  readonly content: Map<string, Uint8Array>;
}

function addChecked(pool: Pool, digest: string, bytes: Uint8Array, source: string): void {
  const actual = sha256(bytes);
  if (actual !== digest) {
    throw new HarnessError(
      'HARNESS_FIXTURE_CORRUPT',
      `${source}: content hashes to ${actual}, not ${digest}`,
    );
  }
  pool.content.set(digest, bytes);
}

function layoutPool(pool: Pool): void {
  if (!existsSync(OCI_LAYOUTS_DIR)) return;
  for (const layout of readdirSync(OCI_LAYOUTS_DIR)) {
    const blobDir = join(OCI_LAYOUTS_DIR, layout, 'blobs', 'sha256');
    if (!existsSync(blobDir)) continue;
    for (const hex of readdirSync(blobDir)) {
      if (!/^[0-9a-f]{64}$/.test(hex)) continue;
      addChecked(pool, `sha256:${hex}`, readFileSync(join(blobDir, hex)), join(blobDir, hex));
    }
  }
}

/** The repositories in the dump, e.g. `test/app`. */
export function dumpRepositories(): string[] {
  const root = join(fixturePath('skopeo-signed', 'registry-dump'));
  const repos: string[] = [];
  for (const namespace of readdirSync(root)) {
    for (const name of readdirSync(join(root, namespace))) repos.push(`${namespace}/${name}`);
  }
  return repos.sort();
}

interface ParsedManifest {
  readonly mediaType: string;
  readonly bytes: Uint8Array;
  readonly digest: string;
  readonly blobs: string[];
  readonly children: string[];
}

function parseManifest(bytes: Uint8Array, source: string): ParsedManifest {
  let json: {
    mediaType?: unknown;
    config?: { digest?: unknown };
    layers?: Array<{ digest?: unknown }>;
    manifests?: Array<{ digest?: unknown }>;
  };
  try {
    json = JSON.parse(Buffer.from(bytes).toString('utf8')) as typeof json;
  } catch (error) {
    throw new HarnessError('HARNESS_FIXTURE_CORRUPT', `${source}: not JSON: ${(error as Error).message}`);
  }
  if (typeof json.mediaType !== 'string') {
    throw new HarnessError('HARNESS_FIXTURE_CORRUPT', `${source}: manifest has no mediaType`);
  }
  const digests = (list: Array<{ digest?: unknown }> | undefined): string[] =>
    (list ?? []).map((d) => d.digest).filter((d): d is string => typeof d === 'string');
  const blobs = [
    ...(typeof json.config?.digest === 'string' ? [json.config.digest] : []),
    ...digests(json.layers),
  ];
  return {
    mediaType: json.mediaType,
    bytes,
    digest: sha256(bytes),
    blobs,
    children: digests(json.manifests),
  };
}

/**
 * Push the skopeo-signed registry dump into the registry at `registryHost` (`127.0.0.1:PORT`): blobs,
 * then every manifest by digest and by its tag (image tags and cosign `sha256-<hex>.sig` tags).
 */
export async function replayRegistryDump(
  registryHost: string,
  options: ReplayOptions = {},
): Promise<ReplayedDump> {
  const pool: Pool = { content: new Map() };
  layoutPool(pool);
  const repos = options.repos ?? dumpRepositories();
  const result: ReplayedDump = {};
  const pushOptions = options.auth !== undefined ? { auth: options.auth } : {};
  for (const repo of repos) {
    const repoDir = fixturePath('skopeo-signed', 'registry-dump', ...repo.split('/'));
    const blobDir = join(repoDir, 'blobs');
    if (existsSync(blobDir)) {
      for (const file of readdirSync(blobDir)) {
        const match = DUMP_BLOB_FILE.exec(file);
        if (match === null) continue;
        addChecked(pool, `sha256:${match[1]}`, readFileSync(join(blobDir, file)), join(blobDir, file));
      }
    }
    const tagged: Array<{ tag: string; manifest: ParsedManifest }> = [];
    for (const file of readdirSync(repoDir).sort()) {
      const match = MANIFEST_FILE.exec(file);
      if (match === null) continue;
      const manifest = parseManifest(readFileSync(join(repoDir, file)), join(repoDir, file));
      pool.content.set(manifest.digest, manifest.bytes);
      tagged.push({ tag: match[1] as string, manifest });
    }

    const pushed = new Set<string>();
    const pushByDigest = async (manifest: ParsedManifest, source: string): Promise<void> => {
      if (pushed.has(manifest.digest)) return;
      for (const child of manifest.children) {
        const bytes = pool.content.get(child);
        if (bytes === undefined) {
          throw new HarnessError(
            'HARNESS_FIXTURE_MISSING',
            `${source}: child manifest ${child} is in no fixture`,
          );
        }
        await pushByDigest(parseManifest(bytes, `${source} -> ${child}`), `${source} -> ${child}`);
      }
      const blobs = manifest.blobs.map((digest) => {
        const bytes = pool.content.get(digest);
        if (bytes === undefined) {
          throw new HarnessError('HARNESS_FIXTURE_MISSING', `${source}: blob ${digest} is in no fixture`);
        }
        return { digest, bytes };
      });
      await pushImage(registryHost, repo, manifest.digest, { manifest, blobs }, pushOptions);
      pushed.add(manifest.digest);
    };

    const tags: Record<string, string> = {};
    // Images before their signatures: a registry may check nothing, but the order mirrors a real push.
    tagged.sort((a, b) => Number(a.tag.endsWith('.sig')) - Number(b.tag.endsWith('.sig')));
    for (const { tag, manifest } of tagged) {
      await pushByDigest(manifest, `${repo}:${tag}`);
      await pushImage(registryHost, repo, tag, { manifest }, pushOptions);
      tags[tag] = manifest.digest;
    }
    result[repo] = tags;
  }
  return result;
}
