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
import { discard, header, type HttpRequest, type HttpResponse, type Transport } from './transport.ts';
import { connect, credentialsFromSettings } from './setup.ts';
import { RepositorySession } from './session.ts';

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

class Pusher implements PushRepository {
  readonly registry: string;
  readonly repository: string;
  readonly location: string;
  readonly #session: RepositorySession;

  constructor(transport: Transport, auth: Authenticator, registry: string, repository: string) {
    this.#session = new RepositorySession(transport, auth, registry, repository, 'pull,push');
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
        await discard(response.body);
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
        await discard(response.body);
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
      await discard(response.body);
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
    if (bytes.length > this.#session.transport.limits.manifestBytes) {
      throw new RegistryError(
        'TOO_LARGE',
        `manifest of ${bytes.length} bytes is more than the limit of ${this.#session.transport.limits.manifestBytes}`,
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
        await discard(response.body);
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
        await discard(response.body);
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

  #fail(response: HttpResponse, context: RegistryErrorContext, what: string): Promise<never> {
    return this.#session.fail(response, context, what);
  }

  #send<T>(
    url: URL,
    method: HttpRequest['method'],
    headers: Readonly<Record<string, string>>,
    body: Uint8Array | undefined,
    context: RegistryErrorContext,
    signal: AbortSignal | undefined,
    consume: (response: HttpResponse) => Promise<T>,
  ): Promise<T> {
    return this.#session.send(
      { url, method, headers, ...(body !== undefined && { body }) },
      context,
      signal,
      consume,
    );
  }
}
