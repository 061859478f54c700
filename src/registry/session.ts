/**
 * One repository at one registry as the reader (client.ts) and the pusher (push.ts) both address it:
 * its canonical names, its API URLs, its error context, and authenticated requests. Where credentials
 * go is decided here once for both:
 * - the Authorization header is bound to the registry's API origin (the transport drops it on a redirect
 *   elsewhere);
 * - only the registry's own 401 is answered. A 401 from a host we were redirected to (blob storage, a
 *   mirror) is refused: answering it would send the registry's credentials to the token realm that other
 *   host names, and would make its scheme the registry's for every later request.
 */
import type { Authenticator } from './auth.ts';
import { RegistryError, sanitize, type RegistryErrorContext } from './errors.ts';
import { discard, header, type HttpRequest, type HttpResponse, type Transport } from './transport.ts';
import { repositoryAddress } from './setup.ts';

export class RepositorySession {
  readonly registry: string;
  readonly repository: string;
  /** `registry/repository`, for messages and cache keys. */
  readonly location: string;
  /** The host the API is served from (`registry-1.docker.io` for Docker Hub). */
  readonly apiHost: string;
  readonly base: URL;
  /** The token scope, e.g. `repository:team/app:pull`. */
  readonly scope: string;
  readonly transport: Transport;
  readonly auth: Authenticator;

  constructor(
    transport: Transport,
    auth: Authenticator,
    registry: string,
    repository: string,
    actions: 'pull' | 'pull,push',
  ) {
    const address = repositoryAddress(registry, repository);
    this.transport = transport;
    this.auth = auth;
    this.registry = address.registry;
    this.repository = address.repository;
    this.location = address.location;
    this.apiHost = address.apiHost;
    this.base = transport.baseUrl(this.apiHost);
    this.scope = `repository:${address.repository}:${actions}`;
  }

  context(reference?: string): RegistryErrorContext {
    return {
      registry: this.registry,
      repository: this.repository,
      ...(reference !== undefined && { reference }),
    };
  }

  url(path: string): URL {
    return new URL(`/v2/${this.repository}/${path}`, this.base);
  }

  /** Map a non-success status to a typed error (401 is handled by `send`). */
  async fail(response: HttpResponse, context: RegistryErrorContext, what: string): Promise<never> {
    const detail = await this.transport.errorDetail(response, context);
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

  /** One request with authentication: whatever we hold up front, then at most one answer to a 401 challenge. */
  async send<T>(
    req: Pick<HttpRequest, 'url' | 'method' | 'headers' | 'body'>,
    context: RegistryErrorContext,
    signal: AbortSignal | undefined,
    consume: (response: HttpResponse, signal: AbortSignal) => Promise<T>,
  ): Promise<T> {
    const { auth, transport } = this;
    let authorization = await auth.authorization(this.registry, this.apiHost, this.scope, context, signal);
    for (let round = 0; ; round++) {
      const result = await transport.perform(
        {
          ...req,
          ...(authorization !== undefined && { authorization, authorizationOrigin: this.base.origin }),
        },
        async (response, attemptSignal) => {
          if (response.status !== 401) return { value: await consume(response, attemptSignal) };
          await discard(response.body);
          if (response.url.origin !== this.base.origin) {
            throw new RegistryError(
              'UNAUTHORIZED',
              `${sanitize(response.url.host, 100)}, reached by a redirect, asked for authentication; credentials for ${this.registry} go to ${this.registry} only`,
              { ...context, status: 401 },
            );
          }
          return { challenge: header(response.headers, 'www-authenticate') ?? '' };
        },
        context,
        signal,
      );
      if ('value' in result) return result.value as T;
      if (round >= 1) {
        throw new RegistryError('UNAUTHORIZED', `the registry refused our credentials for ${this.scope}`, {
          ...context,
          status: 401,
        });
      }
      authorization = await auth.respond(
        this.registry,
        this.apiHost,
        this.scope,
        result.challenge,
        context,
        signal,
      );
    }
  }
}
