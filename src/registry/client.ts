/**
 * The OCI distribution client: one `ContentSource` per registry repository.
 *
 * Content addressing (the security core; attacks.md, Kyverno CVE-2022-47633 / CVE-2023-47630):
 * - Every manifest and blob read is hashed while it streams in and compared with the digest asked for
 *   (sha256 or sha512); a mismatch is DIGEST_MISMATCH and the bytes are dropped.
 * - `resolve` of a digest reference is a GET by that digest, verified. `resolve` of a tag is exactly one
 *   HEAD: its `Docker-Content-Digest` is only a claim, which the following GET *by that digest* either
 *   verifies or refutes. When the HEAD gives no usable digest, we GET by tag and the digest is the hash of
 *   the bytes we received. `Docker-Content-Digest` is never used as identity.
 * - Everything after resolve goes by digest, so a tag that moves between requests cannot make us judge
 *   one manifest and report another's digest. Verified manifests are cached by digest, which is what
 *   makes a tag cost one HEAD plus one GET.
 */
import type { ImageReference } from '../reference/types.ts';
import { createDigester, isVerifiableDigest, parseDigest, type DigestAlgorithm } from '../oci/digest.ts';
import {
  decodeManifestJson,
  ManifestError,
  parseManifestJson,
  type ParsedManifest,
} from '../oci/manifest.ts';
import { MANIFEST_ACCEPT, OCI_INDEX } from '../oci/media-types.ts';
import { Authenticator } from './auth.ts';
import type {
  BlobOptions,
  ContentSource,
  Descriptor,
  OperationOptions,
  ReferrersOptions,
  VerifiedManifest,
} from './content.ts';
import { referrersTag, TAG_PATTERN } from './cosign.ts';
import { anonymousCredentials, type CredentialStore } from './credentials.ts';
import { deadlineError, RegistryError, sanitize, type RegistryErrorContext } from './errors.ts';
import type { PartialLimits, RegistryLimits, TimeLimits } from './limits.ts';
import { ManifestCache } from './manifest-cache.ts';
import { SingleFlight } from './singleflight.ts';
import { discard, header, type HttpResponse, type Transport } from './transport.ts';
import { connect, credentialsFromSettings } from './setup.ts';
import { RepositorySession } from './session.ts';

export interface RegistryClientOptions {
  /** Where credentials come from; anonymous when absent. */
  readonly credentials?: CredentialStore;
  /** Exact `host[:port]` entries allowed over plain HTTP. */
  readonly insecureRegistries?: readonly string[];
  /** PEM files of extra CAs, trusted in addition to the system roots. */
  readonly caFiles?: readonly string[];
  /** PEM text of extra CAs. */
  readonly ca?: readonly string[];
  readonly limits?: PartialLimits;
  readonly timeouts?: Partial<TimeLimits>;
  /** Clock for token expiry (tests). */
  readonly now?: () => number;
  /** Told of every HTTP exchange, for metrics (registry requests by host and status). */
  readonly onResponse?: (host: string, status: number | 'error') => void;
}

/** A verified manifest with its validated structure. */
export interface RegistryManifest extends VerifiedManifest {
  readonly parsed: ParsedManifest;
}

export interface RegistryRepository extends ContentSource {
  readonly registry: string;
  readonly repository: string;
  fetchManifest(digest: string, options?: OperationOptions): Promise<RegistryManifest>;
}

export interface RegistryClient {
  readonly limits: RegistryLimits;
  readonly timeouts: TimeLimits;
  repository(registry: string, repository: string): RegistryRepository;
  /** Resolve a reference to the descriptor of its manifest (see the module comment for how). */
  resolve(ref: ImageReference, options?: OperationOptions): Promise<Descriptor>;
  /** Close keep-alive connections. */
  close(): Promise<void>;
}

/** Settings as the CLI and configuration name them. */
export interface RegistrySettings {
  /** Docker config.json; default `$DOCKER_CONFIG/config.json` or `~/.docker/config.json` (absent = anonymous). */
  readonly dockerConfigPath?: string;
  readonly insecureRegistries?: readonly string[];
  readonly caFiles?: readonly string[];
  readonly timeouts?: Partial<TimeLimits>;
  readonly limits?: PartialLimits;
}

/** Build a client from CLI/configuration settings, loading Docker credentials. */
export async function createRegistryClientFromSettings(
  settings: RegistrySettings = {},
): Promise<RegistryClient> {
  return createRegistryClient({ ...settings, credentials: await credentialsFromSettings(settings) });
}

export function createRegistryClient(options: RegistryClientOptions = {}): RegistryClient {
  const { limits, timeouts, transport } = connect(options);
  const shared: Shared = {
    transport,
    auth: new Authenticator(options.credentials ?? anonymousCredentials, transport, options.now),
    flights: new SingleFlight(),
    cache: new ManifestCache<RegistryManifest>(),
    blobs: new ManifestCache<{ bytes: Uint8Array }>(512, 8 * 1024 * 1024),
    noReferrersApi: new Map<string, number>(),
    limits,
  };
  const repository = (registry: string, name: string): RegistryRepository =>
    new Repository(shared, registry, name);
  return {
    limits,
    timeouts,
    repository,
    resolve: (ref, operation) => repository(ref.registry, ref.repository).resolve(ref, operation),
    close: () => transport.close(),
  };
}

interface Shared {
  readonly transport: Transport;
  readonly auth: Authenticator;
  readonly flights: SingleFlight;
  readonly cache: ManifestCache<RegistryManifest>;
  /** Small verified blobs (signature payloads, bundles, configs), by repository and digest. */
  readonly blobs: ManifestCache<{ bytes: Uint8Array }>;
  /**
   * Registries that answered the referrers API with "unsupported": the distribution spec requires a
   * registry that has the API to answer 200 even for an unknown subject, so later lookups go straight to
   * the tag schema, for a few minutes (a passing 404 from a proxy must not disable the API for the
   * life of a webhook). Host => time the memo expires.
   */
  readonly noReferrersApi: Map<string, number>;
  readonly limits: RegistryLimits;
}

const NO_REFERRERS_API_MEMO_MS = 5 * 60 * 1000;

/** Blobs up to this size are kept after verification (signature payloads and bundles are far smaller). */
const BLOB_CACHE_ENTRY_MAX = 256 * 1024;

class Repository implements RegistryRepository {
  readonly registry: string;
  readonly repository: string;
  readonly location: string;
  readonly #shared: Shared;
  readonly #session: RepositorySession;

  constructor(shared: Shared, registry: string, repository: string) {
    this.#shared = shared;
    this.#session = new RepositorySession(shared.transport, shared.auth, registry, repository, 'pull');
    this.registry = this.#session.registry;
    this.repository = this.#session.repository;
    this.location = this.#session.location;
  }

  #context(reference?: string): RegistryErrorContext {
    return this.#session.context(reference);
  }

  #url(path: string): URL {
    return this.#session.url(path);
  }

  // ------------------------------------------------------------------ resolve

  async resolve(ref: ImageReference, options: OperationOptions = {}): Promise<Descriptor> {
    if (ref.registry !== this.registry || ref.repository !== this.repository) {
      throw new RegistryError(
        'BAD_REFERENCE',
        `cannot resolve ${sanitize(ref.original, 200)} in another repository`,
        this.#context(),
      );
    }
    if (ref.digest !== undefined) return (await this.fetchManifest(ref.digest, options)).descriptor;
    const tag = ref.tag ?? 'latest';
    const descriptor = await this.resolveTag(tag, options);
    if (descriptor === undefined)
      throw new RegistryError('NOT_FOUND', 'tag not found', { ...this.#context(tag), status: 404 });
    return descriptor;
  }

  async resolveTag(tag: string, options: OperationOptions = {}): Promise<Descriptor | undefined> {
    const context = this.#context(tag);
    if (!TAG_PATTERN.test(tag))
      throw new RegistryError('BAD_REFERENCE', `invalid tag ${JSON.stringify(sanitize(tag, 140))}`, context);
    // Exactly one HEAD; its Docker-Content-Digest is a claim checked by the GET by digest below.
    const head = await this.#send(
      this.#url(`manifests/${tag}`),
      'HEAD',
      MANIFEST_ACCEPT,
      context,
      options.signal,
      async (response) => {
        await discard(response.body);
        if (response.status === 404) return { found: false as const };
        if (response.status === 200)
          return { found: true as const, claim: header(response.headers, 'docker-content-digest')?.trim() };
        if (response.status === 400 || response.status === 405 || response.status === 501)
          return { found: true as const, claim: undefined };
        return this.#fail(response, context, 'manifest HEAD');
      },
    );
    if (!head.found) return undefined;
    if (head.claim !== undefined && isVerifiableDigest(head.claim)) {
      return (await this.fetchManifest(head.claim, options)).descriptor;
    }
    // No usable claim: GET by tag; the identity is the hash of the bytes we receive.
    const manifest = await this.#getManifest(tag, undefined, options.signal);
    return manifest?.descriptor;
  }

  // ------------------------------------------------------------------ manifests

  async fetchManifest(digest: string, options: OperationOptions = {}): Promise<RegistryManifest> {
    this.#checkDigest(digest);
    const cached = this.#shared.cache.get(`${this.location}@${digest}`);
    if (cached !== undefined) return cached;
    const manifest = await this.#getManifest(digest, digest, options.signal);
    if (manifest === undefined)
      throw new RegistryError('NOT_FOUND', 'manifest not found', { ...this.#context(digest), status: 404 });
    return manifest;
  }

  /** GET a manifest by tag or digest, hashing as it streams; coalesced with identical in-flight GETs. */
  async #getManifest(
    reference: string,
    expected: string | undefined,
    signal?: AbortSignal,
  ): Promise<RegistryManifest | undefined> {
    const url = this.#url(`manifests/${reference}`);
    const key = `GET ${url.href} ${MANIFEST_ACCEPT} ${await this.#shared.auth.scopeKey(this.registry, this.#session.scope)}`;
    return this.#shared.flights.run(
      key,
      (s) => this.#downloadManifest(url, reference, expected, s),
      signal,
      () => deadlineError(this.#context(reference), signal),
    );
  }

  async #downloadManifest(
    url: URL,
    reference: string,
    expected: string | undefined,
    signal: AbortSignal,
  ): Promise<RegistryManifest | undefined> {
    const context = this.#context(reference);
    const algorithm: DigestAlgorithm = expected === undefined ? 'sha256' : parseDigest(expected).algorithm;
    const limit = this.#shared.limits.manifestBytes;
    const body = await this.#send(url, 'GET', MANIFEST_ACCEPT, context, signal, async (response) => {
      if (response.status === 404) {
        await discard(response.body);
        return undefined;
      }
      if (response.status !== 200) return this.#fail(response, context, 'manifest GET');
      const digester = createDigester(algorithm);
      const bytes = await this.#shared.transport.readBody(response, limit, 'manifest', context, (chunk) =>
        digester.update(chunk),
      );
      return { bytes, digest: digester.digest(), contentType: header(response.headers, 'content-type') };
    });
    if (body === undefined) return undefined;
    if (expected !== undefined && body.digest !== expected) {
      throw new RegistryError(
        'DIGEST_MISMATCH',
        `manifest bytes hash to ${body.digest}, not the digest asked for`,
        context,
      );
    }
    const manifest = this.#verified(body.bytes, body.digest, body.contentType);
    this.#shared.cache.set(`${this.location}@${body.digest}`, manifest);
    return manifest;
  }

  #verified(bytes: Uint8Array, digest: string, contentType: string | undefined): RegistryManifest {
    let json: unknown;
    let parsed: ParsedManifest;
    try {
      json = decodeManifestJson(bytes, digest);
      parsed = parseManifestJson(json, contentType, { digest, limits: this.#shared.limits.manifest });
    } catch (error) {
      if (error instanceof ManifestError) {
        throw new RegistryError(error.code, `manifest ${error.detail}`, {
          ...this.#context(digest),
          cause: error,
        });
      }
      throw error;
    }
    const descriptor: Descriptor = {
      mediaType: parsed.mediaType,
      digest,
      size: bytes.length,
      ...(parsed.artifactType !== undefined && { artifactType: parsed.artifactType }),
    };
    return { descriptor, bytes, json, parsed };
  }

  // ------------------------------------------------------------------ blobs

  async fetchBlob(descriptor: Descriptor, options: BlobOptions): Promise<Uint8Array> {
    const digest = descriptor.digest;
    const context = this.#context(digest);
    this.#checkDigest(digest);
    const { maxBytes } = options;
    if (!Number.isSafeInteger(descriptor.size) || descriptor.size < 0) {
      throw new RegistryError(
        'BAD_MANIFEST',
        `blob descriptor size ${String(descriptor.size)} is not a non-negative integer`,
        context,
      );
    }
    if (descriptor.size > maxBytes) {
      throw new RegistryError(
        'TOO_LARGE',
        `blob is ${descriptor.size} bytes by its descriptor, more than the limit of ${maxBytes}`,
        context,
      );
    }
    const cacheKey = `${this.location}@${digest}`;
    const cached = this.#shared.blobs.get(cacheKey);
    if (cached !== undefined && cached.bytes.length === descriptor.size) return cached.bytes;
    const url = this.#url(`blobs/${digest}`);
    const key = `GET ${url.href} * ${await this.#shared.auth.scopeKey(this.registry, this.#session.scope)} ${descriptor.size}`;
    const bytes = await this.#shared.flights.run(
      key,
      (signal) => this.#downloadBlob(url, descriptor, context, signal),
      options.signal,
      () => deadlineError(context, options.signal),
    );
    if (bytes.length <= BLOB_CACHE_ENTRY_MAX) this.#shared.blobs.set(cacheKey, { bytes });
    return bytes;
  }

  async #downloadBlob(
    url: URL,
    descriptor: Descriptor,
    context: RegistryErrorContext,
    signal: AbortSignal,
  ): Promise<Uint8Array> {
    const { algorithm } = parseDigest(descriptor.digest);
    const { bytes, digest } = await this.#send(url, 'GET', '*/*', context, signal, async (response) => {
      if (response.status !== 200) return this.#fail(response, context, 'blob GET');
      const digester = createDigester(algorithm);
      let bytes: Uint8Array;
      try {
        // The descriptor's size is the bound: a byte more is already wrong.
        bytes = await this.#shared.transport.readBody(response, descriptor.size, 'blob', context, (chunk) =>
          digester.update(chunk),
        );
      } catch (error) {
        if (error instanceof RegistryError && error.code === 'TOO_LARGE') {
          throw new RegistryError(
            'SIZE_MISMATCH',
            `blob is larger than its descriptor's size of ${descriptor.size} bytes`,
            context,
          );
        }
        throw error;
      }
      return { bytes, digest: digester.digest() };
    });
    if (bytes.length !== descriptor.size) {
      throw new RegistryError(
        'SIZE_MISMATCH',
        `blob is ${bytes.length} bytes, its descriptor says ${descriptor.size}`,
        context,
      );
    }
    if (digest !== descriptor.digest) {
      throw new RegistryError(
        'DIGEST_MISMATCH',
        `blob bytes hash to ${digest}, not the digest asked for`,
        context,
      );
    }
    return bytes;
  }

  // ------------------------------------------------------------------ referrers

  async referrers(digest: string, options: ReferrersOptions = {}): Promise<readonly Descriptor[]> {
    const context = this.#context(digest);
    this.#checkDigest(digest);
    if ((this.#shared.noReferrersApi.get(this.#session.apiHost) ?? 0) > Date.now())
      return this.#referrersByTag(digest, options);
    let url: URL | undefined = this.#url(`referrers/${digest}`);
    // A hint only: the registry's own filtering is never trusted, we filter below.
    if (options.artifactType !== undefined) url.searchParams.set('artifactType', options.artifactType);
    const found: Descriptor[] = [];
    for (let page = 0; url !== undefined; page++) {
      if (page >= this.#shared.limits.pages) {
        throw new RegistryError(
          'TOO_MANY',
          `referrers span more than ${this.#shared.limits.pages} pages`,
          context,
        );
      }
      const result = await this.#indexPage(url, context, options.signal, page === 0);
      if (result === 'unsupported') {
        this.#shared.noReferrersApi.set(this.#session.apiHost, Date.now() + NO_REFERRERS_API_MEMO_MS);
        return this.#referrersByTag(digest, options);
      }
      found.push(...result.manifests);
      this.#capReferrers(found.length, context);
      url = result.next;
    }
    return filterArtifactType(found, options.artifactType);
  }

  /** Referrers tag schema (distribution-spec): an index tagged `<alg>-<hex>`; absent means none. */
  async #referrersByTag(digest: string, options: ReferrersOptions): Promise<readonly Descriptor[]> {
    const tag = referrersTag(digest);
    const context = this.#context(tag);
    const result = await this.#indexPage(this.#url(`manifests/${tag}`), context, options.signal, true);
    if (result === 'unsupported') return [];
    this.#capReferrers(result.manifests.length, context);
    return filterArtifactType(result.manifests, options.artifactType);
  }

  async #indexPage(url: URL, context: RegistryErrorContext, signal: AbortSignal | undefined, first: boolean) {
    const accept = url.pathname.includes('/manifests/') ? MANIFEST_ACCEPT : OCI_INDEX;
    return this.#send(url, 'GET', accept, context, signal, async (response) => {
      if (first && [400, 404, 405, 501].includes(response.status)) {
        await discard(response.body);
        return 'unsupported' as const;
      }
      if (response.status !== 200) return this.#fail(response, context, 'referrers GET');
      const bytes = await this.#shared.transport.readBody(
        response,
        this.#shared.limits.manifestBytes,
        'referrers index',
        context,
      );
      let parsed: ParsedManifest;
      try {
        parsed = parseManifestJson(decodeManifestJson(bytes), header(response.headers, 'content-type'), {
          limits: { ...this.#shared.limits.manifest, maxManifests: this.#shared.limits.referrers },
        });
      } catch (error) {
        if (error instanceof ManifestError) {
          throw new RegistryError(error.code, `referrers index ${error.detail}`, {
            ...context,
            cause: error,
          });
        }
        throw error;
      }
      if (parsed.kind !== 'index')
        throw new RegistryError('BAD_MANIFEST', 'referrers response is not an image index', context);
      return { manifests: parsed.manifests, next: this.#nextPage(response, context) };
    });
  }

  #capReferrers(count: number, context: RegistryErrorContext): void {
    if (count > this.#shared.limits.referrers) {
      throw new RegistryError('TOO_MANY', `more than ${this.#shared.limits.referrers} referrers`, context);
    }
  }

  // ------------------------------------------------------------------ tags

  async listTags(options: OperationOptions = {}): Promise<readonly string[]> {
    const context = this.#context();
    const limits = this.#shared.limits;
    let url: URL | undefined = this.#url('tags/list');
    url.searchParams.set('n', String(limits.tagsPerPage));
    const tags: string[] = [];
    for (let page = 0; url !== undefined; page++) {
      if (page >= limits.pages)
        throw new RegistryError('TOO_MANY', `tag list spans more than ${limits.pages} pages`, context);
      const pageUrl: URL = url;
      const result = await this.#send(
        pageUrl,
        'GET',
        'application/json',
        context,
        options.signal,
        async (response) => {
          if (response.status !== 200) return this.#fail(response, context, 'tag list');
          const bytes = await this.#shared.transport.readBody(
            response,
            limits.manifestBytes,
            'tag list',
            context,
          );
          let json: unknown;
          try {
            json = JSON.parse(Buffer.from(bytes).toString('utf8'));
          } catch {
            throw new RegistryError('BAD_RESPONSE', 'tag list is not valid JSON', context);
          }
          const list = (json as { tags?: unknown } | null)?.tags;
          if (list !== null && list !== undefined && !Array.isArray(list)) {
            throw new RegistryError('BAD_RESPONSE', 'tag list has no "tags" array', context);
          }
          return { list: (list ?? []) as unknown[], next: this.#nextPage(response, context) };
        },
      );
      for (const tag of result.list) {
        if (typeof tag !== 'string' || !TAG_PATTERN.test(tag)) {
          throw new RegistryError(
            'BAD_RESPONSE',
            `tag list contains an invalid tag ${JSON.stringify(sanitize(String(tag), 140))}`,
            context,
          );
        }
        tags.push(tag);
      }
      if (tags.length > limits.tags)
        throw new RegistryError('TOO_MANY', `more than ${limits.tags} tags`, context);
      url = result.next;
    }
    return tags;
  }

  /** `Link: <...>; rel="next"`, kept on the registry's own origin. */
  #nextPage(response: HttpResponse, context: RegistryErrorContext): URL | undefined {
    const link = header(response.headers, 'link');
    if (link === undefined || link.length > 4096) return undefined;
    const match = /<([^>]*)>\s*;\s*rel="?next"?/i.exec(link);
    if (!match?.[1]) return undefined;
    let next: URL;
    try {
      next = new URL(match[1], response.url);
    } catch {
      throw new RegistryError('BAD_RESPONSE', 'invalid Link header', context);
    }
    if (next.origin !== this.#session.base.origin) {
      throw new RegistryError(
        'BAD_RESPONSE',
        `next page link points to another host (${sanitize(next.host, 100)})`,
        context,
      );
    }
    return next;
  }

  // ------------------------------------------------------------------ plumbing

  #checkDigest(digest: string): void {
    try {
      parseDigest(digest);
    } catch (error) {
      throw new RegistryError('BAD_DIGEST', (error as Error).message, this.#context());
    }
  }

  #fail(response: HttpResponse, context: RegistryErrorContext, what: string): Promise<never> {
    return this.#session.fail(response, context, what);
  }

  #send<T>(
    url: URL,
    method: 'GET' | 'HEAD',
    accept: string,
    context: RegistryErrorContext,
    signal: AbortSignal | undefined,
    consume: (response: HttpResponse, signal: AbortSignal) => Promise<T>,
  ): Promise<T> {
    return this.#session.send({ url, method, headers: { accept } }, context, signal, consume);
  }
}

function filterArtifactType(
  descriptors: readonly Descriptor[],
  artifactType: string | undefined,
): readonly Descriptor[] {
  return artifactType === undefined
    ? descriptors
    : descriptors.filter((d) => d.artifactType === artifactType);
}
