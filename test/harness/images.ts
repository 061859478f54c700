/**
 * Build OCI images with no network: real tar+gzip layers, a config naming their diff_ids, manifests,
 * indexes and referrer artifacts, all content-addressed. Write them as OCI image layouts, or push them
 * to a test registry with plain HTTP (test setup only; this is not the product's registry client).
 */
import { createHash } from 'node:crypto';
import { execFile } from 'node:child_process';
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import type { Descriptor, Platform } from '../../src/registry/content.ts';
import { Agent, fetch as undiciFetch } from 'undici';
import { HarnessError, basicAuthorization, requireExecutable } from './registry.ts';
import type { RegistryAuth } from './registry.ts';

export const MEDIA_TYPES = {
  ociManifest: 'application/vnd.oci.image.manifest.v1+json',
  ociIndex: 'application/vnd.oci.image.index.v1+json',
  ociConfig: 'application/vnd.oci.image.config.v1+json',
  ociLayerGzip: 'application/vnd.oci.image.layer.v1.tar+gzip',
  ociEmpty: 'application/vnd.oci.empty.v1+json',
  dockerManifest: 'application/vnd.docker.distribution.manifest.v2+json',
  dockerManifestList: 'application/vnd.docker.distribution.manifest.list.v2+json',
  dockerConfig: 'application/vnd.docker.container.image.v1+json',
  dockerLayerGzip: 'application/vnd.docker.image.rootfs.diff.tar.gzip',
} as const;

export const REF_NAME_ANNOTATION = 'org.opencontainers.image.ref.name';

export function sha256(bytes: Uint8Array | string): string {
  return 'sha256:' + createHash('sha256').update(bytes).digest('hex');
}

export interface Blob {
  readonly digest: string;
  readonly bytes: Uint8Array;
}

/** A manifest (image, index or artifact) with its exact bytes and everything it needs to be complete. */
export interface BuiltManifest {
  readonly mediaType: string;
  readonly bytes: Uint8Array;
  readonly digest: string;
  readonly json: Record<string, unknown>;
  /** Descriptor pointing at this manifest (add `platform`/`annotations` when embedding it). */
  readonly descriptor: Descriptor;
  /** Config and layer blobs this manifest references directly. */
  readonly blobs: readonly Blob[];
  /** Manifests this one references (index children), to be stored/pushed before it. */
  readonly children: readonly BuiltManifest[];
}

export type LayerInput =
  Uint8Array | string | { readonly files: Readonly<Record<string, string | Uint8Array>> };

export interface ImageSpec {
  /** Each layer: raw bytes used as-is (already "compressed"), a string, or files packed into tar+gzip. Default: one small generated layer. */
  readonly layers?: readonly LayerInput[];
  /** Merged into the generated config JSON (architecture, os, config, rootfs...). */
  readonly config?: Record<string, unknown>;
  readonly annotations?: Readonly<Record<string, string>>;
  /** Docker schema 2 media types instead of OCI. */
  readonly docker?: boolean;
  /** OCI 1.1 `subject`: makes this manifest a referrer of that descriptor. */
  readonly subject?: Descriptor;
  readonly artifactType?: string;
  /** Extra top-level manifest fields (for malformed-manifest tests). */
  readonly extra?: Record<string, unknown>;
  /** Seed mixed into the generated layer so distinct images get distinct digests. */
  readonly seed?: string;
}

// ---------------------------------------------------------------- tar

function tarHeader(name: string, size: number): Uint8Array {
  const header = Buffer.alloc(512, 0);
  const put = (text: string, offset: number, length: number): void => {
    header.write(text.slice(0, length), offset, 'ascii');
  };
  const octal = (value: number, length: number): string => value.toString(8).padStart(length - 1, '0') + '\0';
  put(name, 0, 100);
  put(octal(0o644, 8), 100, 8);
  put(octal(0, 8), 108, 8);
  put(octal(0, 8), 116, 8);
  put(octal(size, 12), 124, 12);
  put(octal(0, 12), 136, 12); // mtime 0: reproducible digests
  put('        ', 148, 8); // checksum placeholder: spaces while summing
  put('0', 156, 1);
  put('ustar\0', 257, 6);
  put('00', 263, 2);
  let sum = 0;
  for (const byte of header) sum += byte;
  put(sum.toString(8).padStart(6, '0') + '\0 ', 148, 8);
  return header;
}

/** A minimal ustar archive of regular files, deterministic (sorted names, zero mtimes). */
export function tar(files: Readonly<Record<string, string | Uint8Array>>): Uint8Array {
  const parts: Uint8Array[] = [];
  for (const name of Object.keys(files).sort()) {
    const value = files[name] ?? '';
    const data = typeof value === 'string' ? Buffer.from(value) : value;
    if (Buffer.byteLength(name) > 100)
      throw new HarnessError('HARNESS_INPUT', `tar entry name too long: ${name}`);
    parts.push(tarHeader(name, data.length), data, Buffer.alloc((512 - (data.length % 512)) % 512));
  }
  parts.push(Buffer.alloc(1024));
  return Buffer.concat(parts);
}

// ---------------------------------------------------------------- building

function toBytes(value: Uint8Array | string): Uint8Array {
  return typeof value === 'string' ? Buffer.from(value) : value;
}

function layerFrom(input: LayerInput): { compressed: Uint8Array; diffId: string } {
  if (typeof input === 'string' || input instanceof Uint8Array) {
    const bytes = toBytes(input);
    return { compressed: bytes, diffId: sha256(bytes) };
  }
  const raw = tar(input.files);
  return { compressed: gzipSync(raw, { level: 9 }), diffId: sha256(raw) };
}

function jsonBytes(value: unknown): Uint8Array {
  return Buffer.from(JSON.stringify(value));
}

export function manifestFromJson(
  json: Record<string, unknown>,
  mediaType: string,
  blobs: readonly Blob[] = [],
  children: readonly BuiltManifest[] = [],
): BuiltManifest {
  const bytes = jsonBytes(json);
  const digest = sha256(bytes);
  const artifactType = typeof json['artifactType'] === 'string' ? json['artifactType'] : undefined;
  return {
    mediaType,
    bytes,
    digest,
    json,
    descriptor: {
      mediaType,
      digest,
      size: bytes.length,
      ...(artifactType !== undefined ? { artifactType } : {}),
    },
    blobs,
    children,
  };
}

export function buildImage(spec: ImageSpec = {}): BuiltManifest {
  const docker = spec.docker === true;
  const layerInputs = spec.layers ?? [
    { files: { 'hello.txt': `hello from ${spec.seed ?? 'portcullis'}\n` } },
  ];
  const layers = layerInputs.map(layerFrom);
  const config = {
    architecture: 'amd64',
    os: 'linux',
    created: '2026-01-01T00:00:00Z',
    config: {},
    ...spec.config,
    rootfs: { type: 'layers', diff_ids: layers.map((l) => l.diffId) },
  };
  const configBytes = jsonBytes(config);
  const configBlob: Blob = { digest: sha256(configBytes), bytes: configBytes };
  const layerBlobs: Blob[] = layers.map((l) => ({ digest: sha256(l.compressed), bytes: l.compressed }));
  const mediaType = docker ? MEDIA_TYPES.dockerManifest : MEDIA_TYPES.ociManifest;
  const json: Record<string, unknown> = {
    schemaVersion: 2,
    mediaType,
    ...(spec.artifactType !== undefined ? { artifactType: spec.artifactType } : {}),
    config: {
      mediaType: docker ? MEDIA_TYPES.dockerConfig : MEDIA_TYPES.ociConfig,
      digest: configBlob.digest,
      size: configBytes.length,
    },
    layers: layerBlobs.map((b) => ({
      mediaType: docker ? MEDIA_TYPES.dockerLayerGzip : MEDIA_TYPES.ociLayerGzip,
      digest: b.digest,
      size: b.bytes.length,
    })),
    ...(spec.subject !== undefined ? { subject: plainDescriptor(spec.subject) } : {}),
    ...(spec.annotations !== undefined ? { annotations: spec.annotations } : {}),
    ...spec.extra,
  };
  return manifestFromJson(json, mediaType, [configBlob, ...layerBlobs]);
}

export interface ArtifactSpec {
  readonly artifactType: string;
  /** Blobs carried as layers, each with its media type. */
  readonly blobs: ReadonlyArray<{
    readonly mediaType: string;
    readonly bytes: Uint8Array | string;
    readonly annotations?: Record<string, string>;
  }>;
  readonly subject?: Descriptor;
  readonly annotations?: Readonly<Record<string, string>>;
}

/** An OCI 1.1 artifact manifest (empty config, `artifactType`), e.g. a signature or SBOM referrer. */
export function buildArtifact(spec: ArtifactSpec): BuiltManifest {
  const empty = Buffer.from('{}');
  const emptyBlob: Blob = { digest: sha256(empty), bytes: empty };
  const layers = spec.blobs.map((b) => ({ ...b, bytes: toBytes(b.bytes) }));
  const json: Record<string, unknown> = {
    schemaVersion: 2,
    mediaType: MEDIA_TYPES.ociManifest,
    artifactType: spec.artifactType,
    config: { mediaType: MEDIA_TYPES.ociEmpty, digest: emptyBlob.digest, size: empty.length },
    layers: layers.map((l) => ({
      mediaType: l.mediaType,
      digest: sha256(l.bytes),
      size: l.bytes.length,
      ...(l.annotations !== undefined ? { annotations: l.annotations } : {}),
    })),
    ...(spec.subject !== undefined ? { subject: plainDescriptor(spec.subject) } : {}),
    ...(spec.annotations !== undefined ? { annotations: spec.annotations } : {}),
  };
  return manifestFromJson(json, MEDIA_TYPES.ociManifest, [
    emptyBlob,
    ...layers.map((l) => ({ digest: sha256(l.bytes), bytes: l.bytes })),
  ]);
}

export interface IndexEntry {
  readonly manifest: BuiltManifest;
  readonly platform?: Platform;
  readonly annotations?: Readonly<Record<string, string>>;
}

export interface IndexSpec {
  readonly docker?: boolean;
  readonly annotations?: Readonly<Record<string, string>>;
  readonly subject?: Descriptor;
  readonly artifactType?: string;
}

/** A multi-platform index (or Docker manifest list) over already-built manifests. */
export function buildIndex(entries: readonly IndexEntry[], spec: IndexSpec = {}): BuiltManifest {
  const mediaType = spec.docker === true ? MEDIA_TYPES.dockerManifestList : MEDIA_TYPES.ociIndex;
  const json: Record<string, unknown> = {
    schemaVersion: 2,
    mediaType,
    ...(spec.artifactType !== undefined ? { artifactType: spec.artifactType } : {}),
    manifests: entries.map((e) => ({
      ...plainDescriptor(e.manifest.descriptor),
      ...(e.platform !== undefined ? { platform: e.platform } : {}),
      ...(e.annotations !== undefined ? { annotations: e.annotations } : {}),
    })),
    ...(spec.subject !== undefined ? { subject: plainDescriptor(spec.subject) } : {}),
    ...(spec.annotations !== undefined ? { annotations: spec.annotations } : {}),
  };
  return manifestFromJson(
    json,
    mediaType,
    [],
    entries.map((e) => e.manifest),
  );
}

/**
 * An index listing arbitrary descriptors whose content is not included (e.g. a referrers tag-schema index
 * with thousands of entries, or one pointing at missing manifests).
 */
export function buildDescriptorIndex(
  descriptors: readonly Descriptor[],
  spec: IndexSpec = {},
): BuiltManifest {
  const mediaType = spec.docker === true ? MEDIA_TYPES.dockerManifestList : MEDIA_TYPES.ociIndex;
  return manifestFromJson(
    {
      schemaVersion: 2,
      mediaType,
      manifests: descriptors.map((d) => ({
        ...plainDescriptor(d),
        ...(d.annotations !== undefined ? { annotations: d.annotations } : {}),
      })),
      ...(spec.annotations !== undefined ? { annotations: spec.annotations } : {}),
    },
    mediaType,
  );
}

/** Two platforms (linux/amd64, linux/arm64) of distinct images under one index. */
export function buildMultiPlatform(seed = 'multi'): BuiltManifest {
  return buildIndex([
    { manifest: buildImage({ seed: `${seed}-amd64` }), platform: { architecture: 'amd64', os: 'linux' } },
    {
      manifest: buildImage({ seed: `${seed}-arm64`, config: { architecture: 'arm64' } }),
      platform: { architecture: 'arm64', os: 'linux', variant: 'v8' },
    },
  ]);
}

function plainDescriptor(d: Descriptor): Record<string, unknown> {
  return {
    mediaType: d.mediaType,
    digest: d.digest,
    size: d.size,
    ...(d.artifactType !== undefined ? { artifactType: d.artifactType } : {}),
  };
}

/** Every manifest (children first) and blob reachable from `root`, deduplicated. */
export function closure(root: BuiltManifest): { manifests: BuiltManifest[]; blobs: Blob[] } {
  const manifests = new Map<string, BuiltManifest>();
  const blobs = new Map<string, Blob>();
  const visit = (m: BuiltManifest): void => {
    if (manifests.has(m.digest)) return;
    for (const child of m.children) visit(child);
    for (const blob of m.blobs) blobs.set(blob.digest, blob);
    manifests.set(m.digest, m);
  };
  visit(root);
  return { manifests: [...manifests.values()], blobs: [...blobs.values()] };
}

// ---------------------------------------------------------------- OCI layout

export interface LayoutEntry {
  readonly manifest: BuiltManifest;
  /** Written as the `org.opencontainers.image.ref.name` annotation. */
  readonly tag?: string;
  readonly annotations?: Readonly<Record<string, string>>;
  readonly platform?: Platform;
}

export interface WrittenLayout {
  readonly dir: string;
  /** The index.json bytes written. */
  readonly index: Record<string, unknown>;
  readonly entries: readonly LayoutEntry[];
}

async function writeBlob(dir: string, digest: string, bytes: Uint8Array): Promise<void> {
  const [algorithm, hex] = digest.split(':') as [string, string];
  await mkdir(join(dir, 'blobs', algorithm), { recursive: true });
  await writeFile(join(dir, 'blobs', algorithm, hex), bytes);
}

/**
 * Write an OCI image layout holding `entries` (each listed in index.json, tagged when `tag` is set) and
 * everything they reference.
 */
export async function writeLayout(dir: string, entries: readonly LayoutEntry[]): Promise<WrittenLayout> {
  await mkdir(join(dir, 'blobs', 'sha256'), { recursive: true });
  await writeFile(join(dir, 'oci-layout'), JSON.stringify({ imageLayoutVersion: '1.0.0' }));
  for (const entry of entries) {
    const { manifests, blobs } = closure(entry.manifest);
    for (const blob of blobs) await writeBlob(dir, blob.digest, blob.bytes);
    for (const m of manifests) await writeBlob(dir, m.digest, m.bytes);
  }
  const index = {
    schemaVersion: 2,
    mediaType: MEDIA_TYPES.ociIndex,
    manifests: entries.map((e) => {
      const annotations = {
        ...e.annotations,
        ...(e.tag !== undefined ? { [REF_NAME_ANNOTATION]: e.tag } : {}),
      };
      return {
        ...plainDescriptor(e.manifest.descriptor),
        ...(Object.keys(annotations).length > 0 ? { annotations } : {}),
        ...(e.platform !== undefined ? { platform: e.platform } : {}),
      };
    }),
  };
  await writeFile(join(dir, 'index.json'), JSON.stringify(index));
  return { dir, index, entries };
}

export interface OciLayoutSpec extends ImageSpec {
  /** Tag recorded in index.json. Default `latest`. */
  readonly tag?: string;
}

/** Build one image from `spec` and write it as an OCI layout in `dir`. */
export async function writeOciLayout(
  dir: string,
  spec: OciLayoutSpec = {},
): Promise<WrittenLayout & { image: BuiltManifest }> {
  const image = buildImage(spec);
  const written = await writeLayout(dir, [{ manifest: image, tag: spec.tag ?? 'latest' }]);
  return { ...written, image };
}

// ---------------------------------------------------------------- pushing (test setup only)

export interface PushOptions {
  /** Credentials: Basic to the registry, or to the token endpoint when the registry answers with Bearer. */
  readonly auth?: RegistryAuth;
  /** PEM CA to trust when the registry is `https://…` with a test CA (startRegistry({tls: true})). */
  readonly ca?: string;
  /** Default 30 s for the whole push. */
  readonly timeoutMs?: number;
}

export interface PushContent {
  readonly manifest: { readonly bytes: Uint8Array; readonly mediaType: string };
  readonly blobs?: ReadonlyArray<Uint8Array | Blob>;
}

interface Session {
  readonly base: string;
  readonly fetch: typeof fetch;
  authorization?: string;
}

function session(registry: string, options: PushOptions): Session {
  // `host:port` means plain HTTP; a full URL is taken as given (https for TLS registries).
  const base = /^https?:\/\//.test(registry) ? registry.replace(/\/+$/, '') : `http://${registry}`;
  if (options.ca === undefined) return { base, fetch };
  const dispatcher = new Agent({ connect: { ca: options.ca } });
  const withCa = (input: string | URL | Request, init?: RequestInit): Promise<Response> =>
    undiciFetch(
      input as string,
      { ...(init as object), dispatcher } as never,
    ) as unknown as Promise<Response>;
  return { base, fetch: withCa as typeof fetch };
}

async function call(
  url: string,
  init: RequestInit & { expect: readonly number[]; what: string },
  current: Session,
  signal: AbortSignal,
): Promise<Response> {
  const headers = new Headers(init.headers);
  if (current.authorization !== undefined) headers.set('authorization', current.authorization);
  const response = await current.fetch(url, { ...init, headers, signal, redirect: 'manual' });
  if (!init.expect.includes(response.status)) {
    const body = (await response.text()).slice(0, 2000);
    throw new HarnessError(
      'HARNESS_PUSH',
      `${init.what}: ${init.method ?? 'GET'} ${url} answered ${response.status}, expected ${init.expect.join('/')}: ${body}`,
    );
  }
  return response;
}

function challengeParams(text: string): Record<string, string> {
  const params: Record<string, string> = {};
  for (const match of text.matchAll(/([a-zA-Z]+)="([^"]*)"/g))
    params[(match[1] ?? '').toLowerCase()] = match[2] ?? '';
  return params;
}

/** Ping /v2/ and get whatever authorization the registry asks for (none, Basic, or a Bearer token). */
async function authorize(
  current: Session,
  repo: string,
  options: PushOptions,
  signal: AbortSignal,
): Promise<void> {
  const ping = await current.fetch(`${current.base}/v2/`, { signal });
  await ping.body?.cancel();
  if (ping.status === 200) return;
  const challenge = ping.headers.get('www-authenticate') ?? '';
  if (ping.status !== 401)
    throw new HarnessError('HARNESS_PUSH', `GET ${current.base}/v2/ answered ${ping.status}`);
  if (/^basic\b/i.test(challenge)) {
    if (options.auth === undefined)
      throw new HarnessError('HARNESS_PUSH', `${current.base} wants Basic auth: pass auth`);
    current.authorization = basicAuthorization(options.auth);
    return;
  }
  if (!/^bearer\b/i.test(challenge)) {
    throw new HarnessError('HARNESS_PUSH', `${current.base} sent an unknown challenge: ${challenge}`);
  }
  const { realm, service } = challengeParams(challenge);
  if (realm === undefined)
    throw new HarnessError('HARNESS_PUSH', `Bearer challenge without realm: ${challenge}`);
  const tokenUrl = new URL(realm);
  if (service !== undefined) tokenUrl.searchParams.set('service', service);
  tokenUrl.searchParams.set('scope', `repository:${repo}:pull,push`);
  const response = await fetch(tokenUrl, {
    signal,
    headers: options.auth !== undefined ? { authorization: basicAuthorization(options.auth) } : {},
  });
  if (response.status !== 200) {
    throw new HarnessError('HARNESS_PUSH', `token request ${tokenUrl.href} answered ${response.status}`);
  }
  const body = (await response.json()) as { token?: unknown; access_token?: unknown };
  const token = typeof body.token === 'string' ? body.token : body.access_token;
  if (typeof token !== 'string') throw new HarnessError('HARNESS_PUSH', `token response without a token`);
  current.authorization = `Bearer ${token}`;
}

async function pushBlob(current: Session, repo: string, blob: Blob, signal: AbortSignal): Promise<void> {
  const head = await call(
    `${current.base}/v2/${repo}/blobs/${blob.digest}`,
    { method: 'HEAD', expect: [200, 404], what: 'blob check' },
    current,
    signal,
  );
  if (head.status === 200) return;
  const started = await call(
    `${current.base}/v2/${repo}/blobs/uploads/`,
    { method: 'POST', expect: [202], what: `start upload of ${blob.digest}` },
    current,
    signal,
  );
  await started.body?.cancel();
  const location = started.headers.get('location');
  if (location === null)
    throw new HarnessError('HARNESS_PUSH', `upload of ${blob.digest}: no Location header`);
  const target = new URL(location, current.base);
  target.searchParams.set('digest', blob.digest);
  const done = await call(
    target.toString(),
    {
      method: 'PUT',
      body: blob.bytes,
      headers: { 'content-type': 'application/octet-stream' },
      expect: [201],
      what: `upload of ${blob.digest}`,
    },
    current,
    signal,
  );
  await done.body?.cancel();
}

/**
 * Push blobs then a manifest (by tag, or by digest when `tagOrDigest` is one) with plain PUTs.
 * `registry` is `host:port` (plain HTTP) or a full `https://…` URL. Returns the manifest digest
 * computed from its bytes.
 */
export async function pushImage(
  registry: string,
  repo: string,
  tagOrDigest: string,
  content: PushContent,
  options: PushOptions = {},
): Promise<string> {
  const signal = AbortSignal.timeout(options.timeoutMs ?? 30_000);
  const current = session(registry, options);
  await authorize(current, repo, options, signal);
  for (const item of content.blobs ?? []) {
    const blob = item instanceof Uint8Array ? { digest: sha256(item), bytes: item } : item;
    await pushBlob(current, repo, blob, signal);
  }
  const response = await call(
    `${current.base}/v2/${repo}/manifests/${tagOrDigest}`,
    {
      method: 'PUT',
      body: content.manifest.bytes,
      headers: { 'content-type': content.manifest.mediaType },
      expect: [201],
      what: `manifest push ${repo}:${tagOrDigest}`,
    },
    current,
    signal,
  );
  await response.body?.cancel();
  return sha256(content.manifest.bytes);
}

/** Push a built manifest and everything it references (index children by digest first). */
export async function pushBuilt(
  registry: string,
  repo: string,
  root: BuiltManifest,
  tag?: string,
  options: PushOptions = {},
): Promise<string> {
  const { manifests } = closure(root);
  for (const m of manifests) {
    const isRoot = m.digest === root.digest;
    await pushImage(
      registry,
      repo,
      isRoot && tag !== undefined ? tag : m.digest,
      { manifest: m, blobs: m.blobs },
      options,
    );
  }
  return root.digest;
}

/**
 * Push an OCI layout with Debian skopeo (a third-party client), e.g. to check our reads of what other
 * tools write. `all` copies every instance of an index.
 */
export async function skopeoCopy(
  layoutDir: string,
  tag: string,
  dest: string,
  options: { all?: boolean; auth?: RegistryAuth; timeoutMs?: number } = {},
): Promise<void> {
  const skopeo = requireExecutable('skopeo', 'skopeo');
  const args = [
    '--insecure-policy',
    'copy',
    '--dest-tls-verify=false',
    ...(options.all === true ? ['--all'] : []),
    ...(options.auth !== undefined
      ? ['--dest-creds', `${options.auth.username}:${options.auth.password}`]
      : []),
    `oci:${layoutDir}:${tag}`,
    `docker://${dest}`,
  ];
  await new Promise<void>((resolve, reject) => {
    execFile(
      skopeo,
      args,
      { timeout: options.timeoutMs ?? 60_000, maxBuffer: 1024 * 1024 },
      (error, _stdout, stderr) => {
        if (error !== null) {
          reject(
            new HarnessError('HARNESS_SKOPEO', `skopeo copy to ${dest} failed: ${error.message}\n${stderr}`),
          );
        } else {
          resolve();
        }
      },
    );
  });
}
