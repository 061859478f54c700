/**
 * An OCI image layout on disk as a ContentSource, so images can be verified before they are pushed and in
 * air-gapped setups with the same verifiers as for a registry.
 *
 * A layout is as untrusted as a registry (it may come from a download or a CI artifact): every manifest
 * and blob is re-hashed against the digest asked for, index.json and manifests are shape-checked with the
 * registry client's validator, the same size and count limits apply, only regular files are read (no
 * symlinks, FIFOs or devices, which could point outside the layout or never end), and reads stop at the
 * limit instead of trusting a file's reported size.
 *
 * Tags are the `org.opencontainers.image.ref.name` annotations of index.json, compared exactly. Referrers
 * are the manifests listed in index.json whose `subject` is the digest (how oras and `cosign save` store
 * them), plus the referrers tag schema (`sha256-<hex>` index).
 */
import { constants } from 'node:fs';
import { open } from 'node:fs/promises';
import type { FileHandle } from 'node:fs/promises';
import { join, resolve as resolvePath } from 'node:path';
import type {
  BlobOptions,
  ContentSource,
  Descriptor,
  OperationOptions,
  ReferrersOptions,
  VerifiedManifest,
} from './content.ts';
import type { ImageReference } from '../reference/types.ts';
import { DigestError, computeDigest, parseDigest } from '../oci/digest.ts';
import { ManifestError, decodeManifestJson, parseManifestJson } from '../oci/manifest.ts';
import type { IndexManifest, ParsedManifest } from '../oci/manifest.ts';
import { INDEX_MANIFEST_TYPES, OCI_INDEX } from '../oci/media-types.ts';
import { resolveLimits } from './limits.ts';
import type { PartialLimits, RegistryLimits } from './limits.ts';
import { LAYOUT_SCHEME } from './layout-reference.ts';

export const REF_NAME_ANNOTATION = 'org.opencontainers.image.ref.name';

export type LayoutErrorCode =
  | 'BAD_REFERENCE'
  | 'BAD_LAYOUT'
  | 'NOT_FOUND'
  | 'AMBIGUOUS'
  | 'DIGEST_MISMATCH'
  | 'SIZE_MISMATCH'
  | 'TOO_LARGE'
  | 'TOO_MANY'
  | 'BAD_MANIFEST'
  | 'BAD_DIGEST'
  | 'DEADLINE_EXCEEDED';

export class LayoutError extends Error {
  readonly code: LayoutErrorCode;
  /** `oci:/abs/dir`. */
  readonly layout: string;
  constructor(code: LayoutErrorCode, layout: string, detail: string, cause?: unknown) {
    super(`OCI layout ${layout}: ${detail}`, cause === undefined ? undefined : { cause });
    this.name = 'LayoutError';
    this.code = code;
    this.layout = layout;
  }
}

export interface OciLayoutOptions {
  /** Same limits as the registry client (src/registry/limits.ts), same defaults. */
  readonly limits?: PartialLimits;
  /**
   * Bytes of manifests read in total when scanning index.json for referrers (each one is also capped by
   * `limits.manifestBytes`). Default 64 MiB.
   */
  readonly referrerScanBytes?: number;
}

/** How many tags an error message lists before eliding the rest. */
const TAGS_IN_MESSAGES = 20;
const READ_CHUNK = 1024 * 1024;

export interface OciLayoutSource extends ContentSource {
  /** Absolute directory of the layout. */
  readonly dir: string;
}

/** Open the layout at `dir`. Nothing is read until the first operation. */
export function openOciLayout(dir: string, options: OciLayoutOptions = {}): OciLayoutSource {
  return new LayoutSource(
    resolvePath(dir),
    resolveLimits(options.limits),
    options.referrerScanBytes ?? 64 * 1024 * 1024,
  );
}

class LayoutSource implements OciLayoutSource {
  readonly dir: string;
  readonly location: string;
  readonly #limits: RegistryLimits;
  readonly #referrerScanBytes: number;

  constructor(dir: string, limits: RegistryLimits, referrerScanBytes: number) {
    this.dir = dir;
    this.location = `${LAYOUT_SCHEME}${dir}`;
    this.#limits = limits;
    this.#referrerScanBytes = referrerScanBytes;
  }

  #fail(code: LayoutErrorCode, detail: string, cause?: unknown): never {
    throw new LayoutError(code, this.location, detail, cause);
  }

  #checkSignal(signal: AbortSignal | undefined, what: string): void {
    if (signal?.aborted === true)
      this.#fail('DEADLINE_EXCEEDED', `${what}: aborted (deadline reached)`, signal.reason);
  }

  /**
   * Read a regular file inside the layout, refusing more than `max` bytes whatever the file claims, and
   * without following a symlink or blocking on a FIFO.
   */
  async #readFile(
    relative: string,
    max: number,
    what: string,
    signal: AbortSignal | undefined,
  ): Promise<Uint8Array> {
    this.#checkSignal(signal, what);
    const path = join(this.dir, relative);
    let handle: FileHandle;
    try {
      handle = await open(path, constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK);
    } catch (error) {
      const code = (error as NodeJS.ErrnoException).code;
      if (code === 'ENOENT') this.#fail('NOT_FOUND', `${what} not found (${relative})`);
      if (code === 'ELOOP')
        this.#fail('BAD_LAYOUT', `${what} (${relative}) is a symlink, which a layout must not use`);
      this.#fail('BAD_LAYOUT', `cannot open ${what} (${relative}): ${(error as Error).message}`, error);
    }
    try {
      const stat = await handle.stat();
      if (!stat.isFile()) this.#fail('BAD_LAYOUT', `${what} (${relative}) is not a regular file`);
      if (stat.size > max)
        this.#fail('TOO_LARGE', `${what} is ${stat.size} bytes, more than the limit of ${max}`);
      const chunks: Buffer[] = [];
      let total = 0;
      for (;;) {
        this.#checkSignal(signal, what);
        const buffer = Buffer.alloc(Math.min(READ_CHUNK, max + 1 - total));
        const { bytesRead } = await handle.read(buffer, 0, buffer.length, null);
        if (bytesRead === 0) break;
        total += bytesRead;
        // The file grew (or lied about its size) past the limit while we read it.
        if (total > max) this.#fail('TOO_LARGE', `${what} is more than the limit of ${max} bytes`);
        chunks.push(buffer.subarray(0, bytesRead));
      }
      return Buffer.concat(chunks, total);
    } finally {
      await handle.close();
    }
  }

  #blobPath(digest: string, what: string): string {
    try {
      const { algorithm, encoded } = parseDigest(digest);
      return join('blobs', algorithm, encoded);
    } catch (error) {
      if (error instanceof DigestError) this.#fail('BAD_DIGEST', `${what}: ${error.message}`);
      throw error;
    }
  }

  /** Read content-addressed bytes and prove they hash to `digest`. */
  async #readVerified(
    digest: string,
    max: number,
    what: string,
    signal: AbortSignal | undefined,
  ): Promise<Uint8Array> {
    const bytes = await this.#readFile(this.#blobPath(digest, what), max, what, signal);
    const { algorithm } = parseDigest(digest);
    const actual = computeDigest(bytes, algorithm);
    if (actual !== digest)
      this.#fail('DIGEST_MISMATCH', `${what}: content hashes to ${actual}, not ${digest}`);
    return bytes;
  }

  #parse(json: unknown, digest: string | undefined, what: string): ParsedManifest {
    try {
      return parseManifestJson(json, undefined, {
        ...(digest !== undefined ? { digest } : {}),
        limits: this.#limits.manifest,
      });
    } catch (error) {
      if (error instanceof ManifestError) this.#fail(error.code, `${what}: ${error.detail}`, error);
      throw error;
    }
  }

  async #index(signal: AbortSignal | undefined): Promise<IndexManifest> {
    try {
      const layout = await this.#readFile(
        'oci-layout',
        this.#limits.smallResponseBytes,
        'oci-layout file',
        signal,
      );
      const version = (decodeManifestJson(layout) as { imageLayoutVersion?: unknown } | null)
        ?.imageLayoutVersion;
      if (typeof version !== 'string' || !/^1\.\d+\.\d+$/.test(version)) {
        this.#fail(
          'BAD_LAYOUT',
          `oci-layout declares imageLayoutVersion ${JSON.stringify(version)}, expected 1.x.y`,
        );
      }
    } catch (error) {
      if (error instanceof LayoutError && error.code === 'NOT_FOUND') {
        this.#fail('BAD_LAYOUT', 'is not an OCI image layout (no oci-layout file)');
      }
      if (error instanceof ManifestError) this.#fail('BAD_LAYOUT', `oci-layout file is not JSON`);
      throw error;
    }
    const bytes = await this.#readFile('index.json', this.#limits.manifestBytes, 'index.json', signal);
    let json: unknown;
    try {
      json = decodeManifestJson(bytes);
    } catch (error) {
      this.#fail('BAD_LAYOUT', `index.json: ${(error as ManifestError).detail}`);
    }
    // index.json may omit its mediaType; it is an OCI index by definition.
    const parsed = this.#parse(
      typeof json === 'object' && json !== null && !('mediaType' in json)
        ? { ...json, mediaType: OCI_INDEX }
        : json,
      undefined,
      'index.json',
    );
    if (parsed.kind !== 'index') this.#fail('BAD_LAYOUT', 'index.json is not an image index');
    return parsed;
  }

  async fetchManifest(digest: string, options: OperationOptions = {}): Promise<VerifiedManifest> {
    const what = `manifest ${digest}`;
    const bytes = await this.#readVerified(digest, this.#limits.manifestBytes, what, options.signal);
    let json: unknown;
    try {
      json = decodeManifestJson(bytes, digest);
    } catch (error) {
      this.#fail('BAD_MANIFEST', `${what}: ${(error as ManifestError).detail}`);
    }
    const parsed = this.#parse(json, digest, what);
    return { descriptor: { mediaType: parsed.mediaType, digest, size: bytes.length }, bytes, json };
  }

  /** Check that a listed descriptor matches the manifest it points at (size and media type). */
  async #verifyListed(
    listed: Descriptor,
    what: string,
    signal: AbortSignal | undefined,
  ): Promise<Descriptor> {
    if (listed.size > this.#limits.manifestBytes) {
      this.#fail(
        'TOO_LARGE',
        `${what}: manifest is ${listed.size} bytes, more than the limit of ${this.#limits.manifestBytes}`,
      );
    }
    const manifest = await this.fetchManifest(listed.digest, signal !== undefined ? { signal } : {});
    if (manifest.bytes.length !== listed.size) {
      this.#fail(
        'SIZE_MISMATCH',
        `${what}: index.json says ${listed.size} bytes, the manifest has ${manifest.bytes.length}`,
      );
    }
    if (listed.mediaType !== manifest.descriptor.mediaType) {
      this.#fail(
        'BAD_MANIFEST',
        `${what}: index.json says ${listed.mediaType}, the manifest is ${manifest.descriptor.mediaType}`,
      );
    }
    return { ...listed, mediaType: manifest.descriptor.mediaType, size: manifest.bytes.length };
  }

  #tagged(index: IndexManifest, tag: string): Descriptor[] {
    return index.manifests.filter((d) => d.annotations?.[REF_NAME_ANNOTATION] === tag);
  }

  #tagList(index: IndexManifest): string[] {
    const tags = new Set<string>();
    for (const d of index.manifests) {
      const name = d.annotations?.[REF_NAME_ANNOTATION];
      if (name !== undefined) tags.add(name);
    }
    return [...tags].sort();
  }

  #describeTags(index: IndexManifest): string {
    const tags = this.#tagList(index);
    if (tags.length === 0) return 'the layout has no tags';
    const shown = tags.slice(0, TAGS_IN_MESSAGES).join(', ');
    return `tags present: ${shown}${tags.length > TAGS_IN_MESSAGES ? `, … (${tags.length} in all)` : ''}`;
  }

  async resolve(ref: ImageReference, options: OperationOptions = {}): Promise<Descriptor> {
    const { signal } = options;
    // A registry reference (or another layout's) resolved here would name the wrong image: refuse it.
    if (ref.registry !== 'oci' || ref.repository !== this.dir) {
      this.#fail(
        'BAD_REFERENCE',
        `cannot resolve ${JSON.stringify(ref.original.slice(0, 300))} here: it does not name this layout (use layoutImageReference)`,
      );
    }
    if (ref.digest !== undefined) {
      // A digest identifies the content; the tag, if any, is not consulted (as with a registry).
      return (await this.fetchManifest(ref.digest, options)).descriptor;
    }
    const index = await this.#index(signal);
    if (ref.tag === undefined) {
      if (index.manifests.length !== 1) {
        this.#fail(
          'AMBIGUOUS',
          `no tag or digest given and the layout holds ${index.manifests.length} manifests; name one (${this.#describeTags(index)})`,
        );
      }
      return await this.#verifyListed(index.manifests[0] as Descriptor, 'the only manifest', signal);
    }
    const found = await this.#resolveTag(index, ref.tag, signal);
    if (found === undefined)
      this.#fail('NOT_FOUND', `tag ${JSON.stringify(ref.tag)} not found; ${this.#describeTags(index)}`);
    return found;
  }

  async #resolveTag(
    index: IndexManifest,
    tag: string,
    signal: AbortSignal | undefined,
  ): Promise<Descriptor | undefined> {
    const matches = this.#tagged(index, tag);
    if (matches.length === 0) return undefined;
    const digests = new Set(matches.map((d) => d.digest));
    if (digests.size > 1) {
      this.#fail(
        'AMBIGUOUS',
        `tag ${JSON.stringify(tag)} names ${digests.size} different manifests: ${[...digests].join(', ')}`,
      );
    }
    return await this.#verifyListed(matches[0] as Descriptor, `tag ${JSON.stringify(tag)}`, signal);
  }

  async resolveTag(tag: string, options: OperationOptions = {}): Promise<Descriptor | undefined> {
    const index = await this.#index(options.signal);
    return await this.#resolveTag(index, tag, options.signal);
  }

  async listTags(options: OperationOptions = {}): Promise<readonly string[]> {
    const tags = this.#tagList(await this.#index(options.signal));
    if (tags.length > this.#limits.tags) {
      this.#fail('TOO_MANY', `has ${tags.length} tags, more than the limit of ${this.#limits.tags}`);
    }
    return tags;
  }

  async fetchBlob(descriptor: Descriptor, options: BlobOptions): Promise<Uint8Array> {
    const what = `blob ${descriptor.digest}`;
    if (!Number.isSafeInteger(options.maxBytes) || options.maxBytes < 0) {
      throw new TypeError(
        `fetchBlob maxBytes must be a non-negative integer (got ${String(options.maxBytes)})`,
      );
    }
    if (descriptor.size > options.maxBytes) {
      this.#fail(
        'TOO_LARGE',
        `${what}: descriptor says ${descriptor.size} bytes, more than the limit of ${options.maxBytes}`,
      );
    }
    const bytes = await this.#readVerified(descriptor.digest, options.maxBytes, what, options.signal);
    if (bytes.length !== descriptor.size) {
      this.#fail(
        'SIZE_MISMATCH',
        `${what}: descriptor says ${descriptor.size} bytes, the blob has ${bytes.length}`,
      );
    }
    return bytes;
  }

  async referrers(digest: string, options: ReferrersOptions = {}): Promise<readonly Descriptor[]> {
    const { signal } = options;
    const { encoded, algorithm } = (() => {
      try {
        return parseDigest(digest);
      } catch (error) {
        return this.#fail('BAD_DIGEST', `referrers of ${digest}: ${(error as Error).message}`);
      }
    })();
    const index = await this.#index(signal);
    const found = new Map<string, Descriptor>();
    const add = (d: Descriptor): void => {
      if (found.has(d.digest)) return;
      found.set(d.digest, d);
      if (found.size > this.#limits.referrers) {
        this.#fail('TOO_MANY', `${digest} has more than ${this.#limits.referrers} referrers`);
      }
    };

    // 1. Manifests listed in index.json whose subject is `digest`. Each is read and verified: a subject is
    //    only believed from the manifest's own bytes.
    let scanned = 0;
    for (const listed of index.manifests) {
      if (listed.digest === digest) continue;
      scanned += listed.size;
      if (scanned > this.#referrerScanBytes) {
        this.#fail(
          'TOO_MANY',
          `index.json lists more than ${this.#referrerScanBytes} bytes of manifests to scan for referrers`,
        );
      }
      const manifest = await this.fetchManifest(listed.digest, signal !== undefined ? { signal } : {});
      const parsed = this.#parse(manifest.json, listed.digest, `manifest ${listed.digest}`);
      if (parsed.subject?.digest !== digest) continue;
      add(referrerDescriptor(manifest, parsed));
    }

    // 2. The referrers tag schema: an index tagged `<alg>-<hex>` listing the referrers.
    const fallback = await this.#resolveTag(index, `${algorithm}-${encoded}`, signal);
    if (fallback !== undefined) {
      if (!INDEX_MANIFEST_TYPES.includes(fallback.mediaType)) {
        this.#fail(
          'BAD_MANIFEST',
          `referrers tag ${algorithm}-${encoded} is a ${fallback.mediaType}, not an index`,
        );
      }
      const listing = await this.fetchManifest(fallback.digest, signal !== undefined ? { signal } : {});
      const parsed = this.#parse(listing.json, fallback.digest, `referrers index ${fallback.digest}`);
      if (parsed.kind === 'index') for (const d of parsed.manifests) add(d);
    }

    const all = [...found.values()];
    // Filtered here whatever the source, as for the registry: a listing's own filtering is never trusted.
    return options.artifactType === undefined
      ? all
      : all.filter((d) => d.artifactType === options.artifactType);
  }
}

/** What the referrers API would list for this manifest (OCI distribution-spec). */
function referrerDescriptor(manifest: VerifiedManifest, parsed: ParsedManifest): Descriptor {
  const artifactType = parsed.artifactType ?? (parsed.kind === 'image' ? parsed.config.mediaType : undefined);
  return {
    mediaType: parsed.mediaType,
    digest: manifest.descriptor.digest,
    size: manifest.bytes.length,
    ...(artifactType !== undefined ? { artifactType } : {}),
    ...(parsed.annotations !== undefined ? { annotations: parsed.annotations } : {}),
  };
}
