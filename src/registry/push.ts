/**
 * Minimal OCI distribution push: blobs (HEAD to skip what is there, then POST + monolithic PUT) and
 * manifests (PUT by tag or by digest), for writing signatures.
 *
 * Built on the reader's own Transport and Authenticator, configured from the same settings, so pushes
 * follow the same rules: credentials chosen by exact canonical host and sent only to that registry's
 * API origin (an upload `Location` elsewhere gets none), plain HTTP only to hosts configured insecure,
 * extra CAs, bounded redirects, retries and response sizes. The token scope is `pull,push`.
 *
 * We only ever push bytes we made, so the digest is ours; when the registry answers with a
 * `Docker-Content-Digest`, it must be that digest.
 */
import { computeDigest } from '../oci/digest.ts';
import { Authenticator } from './auth.ts';
import type { RegistryClientOptions, RegistrySettings } from './client.ts';
import type { Descriptor, OperationOptions } from './content.ts';
import { TAG_PATTERN } from './cosign.ts';
import { anonymousCredentials } from './credentials.ts';
import { RegistryError, sanitize, type RegistryErrorContext } from './errors.ts';
import type { RegistryLimits } from './limits.ts';
import { header, type HttpRequest, type HttpResponse, type Transport } from './transport.ts';
import { connect, credentialsFromSettings, repositoryAddress } from './setup.ts';

/** Largest blob we push (cosign's attachment limit is 128 MiB; signatures are a few hundred bytes). */
export const MAX_PUSH_BLOB_BYTES = 128 * 1024 * 1024;

export interface PushRepository {
  readonly registry: string;
  readonly repository: string;
  /** `registry/repository`, for messages. */
  readonly location: string;
  hasBlob(digest: string, options?: OperationOptions): Promise<boolean>;
  /** Upload `bytes` unless the repository already has them; returns their descriptor. */
  pushBlob(bytes: Uint8Array, mediaType: string, options?: OperationOptions): Promise<Descriptor>;
  /** PUT a manifest under `tag`, or by its digest when `tag` is absent; returns its descriptor. */
  pushManifest(
    bytes: Uint8Array,
    mediaType: string,
    tag?: string,
    options?: OperationOptions,
  ): Promise<Descriptor>;
  /** Whether the registry serves the OCI 1.1 referrers API (if not, writers maintain the tag-schema index). */
  supportsReferrers(digest: string, options?: OperationOptions): Promise<boolean>;
}

export interface RegistryPusher {
  readonly limits: RegistryLimits;
  repository(registry: string, repository: string): PushRepository;
  close(): Promise<void>;
}

/** Same settings as the reading client (see createRegistryClientFromSettings). */
export async function createRegistryPusherFromSettings(
  settings: RegistrySettings = {},
): Promise<RegistryPusher> {
  return createRegistryPusher({ ...settings, credentials: await credentialsFromSettings(settings) });
}

export function createRegistryPusher(options: RegistryClientOptions = {}): RegistryPusher {
  const { limits, transport } = connect(options);
  const auth = new Authenticator(options.credentials ?? anonymousCredentials, transport, options.now);
  return {
    limits,
    repository: (registry, repository) => new Pusher(transport, auth, registry, repository),
    close: () => transport.close(),
  };
}

type WriteMethod = 'GET' | 'HEAD' | 'POST' | 'PUT';

class Pusher implements PushRepository {
  readonly registry: string;
  readonly repository: string;
  readonly location: string;
  readonly #transport: Transport;
  readonly #auth: Authenticator;
  readonly #apiHost: string;
  readonly #base: URL;
  readonly #scope: string;

  constructor(transport: Transport, auth: Authenticator, registry: string, repository: string) {
    const address = repositoryAddress(registry, repository);
    this.#transport = transport;
    this.#auth = auth;
    this.registry = address.registry;
    this.repository = address.repository;
    this.location = address.location;
    this.#apiHost = address.apiHost;
    this.#base = transport.baseUrl(this.#apiHost);
    this.#scope = `repository:${repository}:pull,push`;
  }

  #context(reference?: string): RegistryErrorContext {
    return {
      registry: this.registry,
      repository: this.repository,
      ...(reference !== undefined && { reference }),
    };
  }

  #url(path: string): URL {
    return new URL(`/v2/${this.repository}/${path}`, this.#base);
  }

  async hasBlob(digest: string, options: OperationOptions = {}): Promise<boolean> {
    const context = this.#context(digest);
    return this.#send(
      this.#url(`blobs/${digest}`),
      'HEAD',
      {},
      undefined,
      context,
      options.signal,
      async (response) => {
        await drain(response);
        if (response.status === 200) return true;
        if (response.status === 404) return false;
        return this.#fail(response, context, 'blob HEAD');
      },
    );
  }

  async pushBlob(bytes: Uint8Array, mediaType: string, options: OperationOptions = {}): Promise<Descriptor> {
    const digest = computeDigest(bytes);
    const context = this.#context(digest);
    if (bytes.length > MAX_PUSH_BLOB_BYTES) {
      throw new RegistryError(
        'TOO_LARGE',
        `blob of ${bytes.length} bytes is more than the push limit of ${MAX_PUSH_BLOB_BYTES}`,
        context,
      );
    }
    const descriptor: Descriptor = { mediaType, digest, size: bytes.length };
    if (await this.hasBlob(digest, options)) return descriptor;

    const uploads = this.#url('blobs/uploads/');
    const location = await this.#send(
      uploads,
      'POST',
      { 'content-length': '0' },
      undefined,
      context,
      options.signal,
      async (response) => {
        if (response.status !== 202) return this.#fail(response, context, 'blob upload start');
        await drain(response);
        const value = header(response.headers, 'location');
        if (value === undefined || value.length > 4096)
          throw new RegistryError('BAD_RESPONSE', 'blob upload start without a usable Location', context);
        try {
          return new URL(value, response.url);
        } catch {
          throw new RegistryError(
            'BAD_RESPONSE',
            `blob upload Location ${JSON.stringify(sanitize(value, 120))} is not a URL`,
            context,
          );
        }
      },
    );
    location.searchParams.set('digest', digest);
    const headers = { 'content-type': 'application/octet-stream' };
    await this.#send(location, 'PUT', headers, bytes, context, options.signal, async (response) => {
      if (response.status !== 201) return this.#fail(response, context, 'blob upload');
      await drain(response);
      this.#checkDigest(response, digest, context, 'blob');
    });
    return descriptor;
  }

  async pushManifest(
    bytes: Uint8Array,
    mediaType: string,
    tag?: string,
    options: OperationOptions = {},
  ): Promise<Descriptor> {
    const digest = computeDigest(bytes);
    const reference = tag ?? digest;
    const context = this.#context(reference);
    if (tag !== undefined && !TAG_PATTERN.test(tag))
      throw new RegistryError('BAD_REFERENCE', `invalid tag ${JSON.stringify(sanitize(tag, 140))}`, context);
    if (bytes.length > this.#transport.limits.manifestBytes) {
      throw new RegistryError(
        'TOO_LARGE',
        `manifest of ${bytes.length} bytes is more than the limit of ${this.#transport.limits.manifestBytes}`,
        context,
      );
    }
    await this.#send(
      this.#url(`manifests/${reference}`),
      'PUT',
      { 'content-type': mediaType },
      bytes,
      context,
      options.signal,
      async (response) => {
        if (response.status !== 201 && response.status !== 200)
          return this.#fail(response, context, 'manifest PUT');
        await drain(response);
        this.#checkDigest(response, digest, context, 'manifest');
      },
    );
    return { mediaType, digest, size: bytes.length };
  }

  async supportsReferrers(digest: string, options: OperationOptions = {}): Promise<boolean> {
    const context = this.#context(digest);
    const accept = { accept: 'application/vnd.oci.image.index.v1+json' };
    return this.#send(
      this.#url(`referrers/${digest}`),
      'GET',
      accept,
      undefined,
      context,
      options.signal,
      async (response) => {
        if (response.status !== 200 && ![400, 404, 405, 501].includes(response.status))
          return this.#fail(response, context, 'referrers probe');
        await drain(response);
        return response.status === 200;
      },
    );
  }

  #checkDigest(response: HttpResponse, digest: string, context: RegistryErrorContext, what: string): void {
    const returned = header(response.headers, 'docker-content-digest')?.trim();
    if (returned !== undefined && returned !== digest) {
      throw new RegistryError(
        'DIGEST_MISMATCH',
        `registry stored the ${what} as ${sanitize(returned, 100)}, we pushed ${digest}`,
        context,
      );
    }
  }

  async #fail(response: HttpResponse, context: RegistryErrorContext, what: string): Promise<never> {
    const detail = await this.#transport.errorDetail(response, context);
    const suffix = detail ? `: ${detail}` : '';
    const status = response.status;
    if (status === 404)
      throw new RegistryError('NOT_FOUND', `${what}: not found${suffix}`, { ...context, status });
    if (status === 403)
      throw new RegistryError('DENIED', `${what}: access denied (403)${suffix}`, { ...context, status });
    throw new RegistryError('HTTP_ERROR', `${what}: unexpected status ${status}${suffix}`, {
      ...context,
      status,
    });
  }

  /** One request with authentication: what we hold up front, then at most one answer to a 401 challenge. */
  async #send<T>(
    url: URL,
    method: WriteMethod,
    headers: Readonly<Record<string, string>>,
    body: Uint8Array | undefined,
    context: RegistryErrorContext,
    signal: AbortSignal | undefined,
    consume: (response: HttpResponse) => Promise<T>,
  ): Promise<T> {
    let authorization = await this.#auth.authorization(
      this.registry,
      this.#apiHost,
      this.#scope,
      context,
      signal,
    );
    for (let round = 0; ; round++) {
      const result = await this.#transport.perform(
        writeRequest({
          url,
          method,
          headers,
          ...(body !== undefined && { body }),
          ...(authorization !== undefined && { authorization, authorizationOrigin: this.#base.origin }),
        }),
        async (response) => {
          if (response.status !== 401) return { value: await consume(response) };
          await drain(response);
          return { challenge: header(response.headers, 'www-authenticate') ?? '' };
        },
        context,
        signal,
      );
      if ('value' in result) return result.value as T;
      if (round >= 1) {
        throw new RegistryError('UNAUTHORIZED', `the registry refused our credentials for ${this.#scope}`, {
          ...context,
          status: 401,
        });
      }
      authorization = await this.#auth.respond(
        this.registry,
        this.#apiHost,
        this.#scope,
        result.challenge,
        context,
        signal,
      );
    }
  }
}

interface WriteRequest {
  readonly url: URL;
  readonly method: WriteMethod;
  readonly headers: Readonly<Record<string, string>>;
  readonly body?: Uint8Array;
  readonly authorization?: string;
  readonly authorizationOrigin?: string;
}

/**
 * The reader's HttpRequest type names only the methods and string bodies it uses; Transport hands
 * method and body to undici unchanged (PUT, byte bodies; a 307/308 redirect resends them), so a write
 * request is the same object. Kept to this one place.
 */
function writeRequest(req: WriteRequest): HttpRequest {
  return req as unknown as HttpRequest;
}

async function drain(response: HttpResponse): Promise<void> {
  response.body.on('error', () => {});
  await response.body.dump({ limit: 64 * 1024 }).catch(() => {});
}
