/**
 * Registry authentication: anonymous, Basic, and the Docker/OCI Bearer token protocol.
 *
 * A request goes out with whatever we already hold for (host, scope); a 401 carries a `WWW-Authenticate`
 * challenge that we answer once. Bearer tokens are fetched from the challenge's realm (with the host's
 * credentials, chosen by exact canonical host) and cached per (host, scope) until `expires_in`.
 *
 * Where credentials go: the Authorization header is bound to the registry's API origin (transport.ts
 * drops it on any redirect elsewhere). The host's own credentials are also sent to the token realm the
 * host's challenge names (e.g. Docker Hub's auth.docker.io): that is the token protocol, and the realm is
 * chosen by the very registry those credentials belong to. The realm must be HTTPS unless its host is
 * configured insecure.
 */
import { deadlineError, RegistryError, sanitize, type RegistryErrorContext } from './errors.ts';
import type { Credential, CredentialStore } from './credentials.ts';
import { SingleFlight } from './singleflight.ts';
import type { Transport } from './transport.ts';

export interface Challenge {
  readonly scheme: string;
  readonly params: Readonly<Record<string, string>>;
}

const MAX_CHALLENGE = 4096;
const TOKEN_CHARS = /^[\x21-\x7e]{1,16384}$/;
const DEFAULT_TOKEN_SECONDS = 60;
const MAX_TOKEN_SECONDS = 3600;

/** Parse `WWW-Authenticate` (one or more challenges, auth-params quoted or not); bounded input. */
export function parseChallenges(value: string | undefined): Challenge[] {
  if (value === undefined || value.length > MAX_CHALLENGE) return [];
  const challenges: Array<{ scheme: string; params: Record<string, string> }> = [];
  const token = /\s*([A-Za-z][A-Za-z0-9!#$%&'*+.^_`|~-]*)/y;
  const param = /\s*([A-Za-z][A-Za-z0-9_-]*)\s*=\s*(?:"((?:[^"\\]|\\.)*)"|([^\s,"]*))\s*/y;
  let i = 0;
  while (i < value.length) {
    token.lastIndex = i;
    const scheme = token.exec(value);
    if (!scheme?.[1]) break;
    const current = {
      scheme: scheme[1].toLowerCase(),
      params: Object.create(null) as Record<string, string>,
    };
    challenges.push(current);
    i = token.lastIndex;
    for (;;) {
      param.lastIndex = i;
      const match = param.exec(value);
      if (!match?.[1]) break;
      current.params[match[1].toLowerCase()] =
        match[2] !== undefined ? match[2].replace(/\\(.)/g, '$1') : (match[3] ?? '');
      i = param.lastIndex;
      if (value[i] !== ',') break;
      i += 1;
      // A comma may also separate challenges: stop when the next item is a scheme, not a param.
      param.lastIndex = i;
      if (!param.test(value)) break;
    }
    while (i < value.length && (value[i] === ',' || value[i] === ' ')) i += 1;
  }
  return challenges;
}

type HostScheme =
  { readonly kind: 'basic' } | { readonly kind: 'bearer'; readonly realm: URL; readonly service?: string };

interface CachedToken {
  readonly value: string;
  readonly expiresAt: number;
}

export class Authenticator {
  readonly #credentials: CredentialStore;
  readonly #transport: Transport;
  readonly #schemes = new Map<string, HostScheme>();
  readonly #tokens = new Map<string, CachedToken>();
  readonly #flights = new SingleFlight();
  readonly #now: () => number;

  constructor(credentials: CredentialStore, transport: Transport, now: () => number = Date.now) {
    this.#credentials = credentials;
    this.#transport = transport;
    this.#now = now;
  }

  /** Identity of the credentials in use, for singleflight keys (never the secret itself). */
  async scopeKey(registry: string, scope: string): Promise<string> {
    const credential = await this.#credential(registry, { registry });
    return `${registry} ${scope} ${credential === undefined ? 'anonymous' : credential.kind === 'basic' ? `basic:${credential.username}` : 'identity-token'}`;
  }

  /** The Authorization header to send up front for (registry, scope), if one is known without a 401. */
  async authorization(
    registry: string,
    apiHost: string,
    scope: string,
    context: RegistryErrorContext,
    signal?: AbortSignal,
  ): Promise<string | undefined> {
    const scheme = this.#schemes.get(apiHost);
    if (scheme === undefined) return undefined;
    if (scheme.kind === 'basic') return basicHeader(await this.#credential(registry, context));
    const cached = this.#tokens.get(`${apiHost} ${scope}`);
    if (cached !== undefined && cached.expiresAt > this.#now()) return `Bearer ${cached.value}`;
    return this.#bearer(registry, apiHost, scheme, scope, context, signal);
  }

  /** Answer a 401 challenge; returns the header to retry with, or throws UNAUTHORIZED. */
  async respond(
    registry: string,
    apiHost: string,
    scope: string,
    wwwAuthenticate: string | undefined,
    context: RegistryErrorContext,
    signal?: AbortSignal,
  ): Promise<string> {
    const challenges = parseChallenges(wwwAuthenticate);
    const bearer = challenges.find((c) => c.scheme === 'bearer');
    if (bearer !== undefined) {
      const realm = bearer.params.realm;
      if (realm === undefined)
        throw new RegistryError('UNAUTHORIZED', 'Bearer challenge without a realm', {
          ...context,
          status: 401,
        });
      let realmUrl: URL;
      try {
        realmUrl = new URL(realm);
      } catch {
        throw new RegistryError(
          'UNAUTHORIZED',
          `Bearer challenge with an invalid realm ${JSON.stringify(sanitize(realm, 100))}`,
          { ...context, status: 401 },
        );
      }
      this.#transport.checkUrl(realmUrl, context);
      const scheme: HostScheme = {
        kind: 'bearer',
        realm: realmUrl,
        ...(bearer.params.service !== undefined && { service: bearer.params.service }),
      };
      this.#schemes.set(apiHost, scheme);
      this.#tokens.delete(`${apiHost} ${scope}`);
      return this.#bearer(registry, apiHost, scheme, scope, context, signal);
    }
    if (challenges.some((c) => c.scheme === 'basic')) {
      const credential = await this.#credential(registry, context);
      const value = basicHeader(credential);
      if (value === undefined) {
        throw new RegistryError(
          'UNAUTHORIZED',
          credential === undefined
            ? `authentication required and no credentials are configured for ${registry}`
            : `Basic authentication required but the credentials for ${registry} are an identity token`,
          { ...context, status: 401 },
        );
      }
      this.#schemes.set(apiHost, { kind: 'basic' });
      return value;
    }
    throw new RegistryError(
      'UNAUTHORIZED',
      `unsupported authentication challenge ${JSON.stringify(sanitize(wwwAuthenticate ?? '(none)', 100))}`,
      {
        ...context,
        status: 401,
      },
    );
  }

  async #credential(registry: string, context: RegistryErrorContext): Promise<Credential | undefined> {
    try {
      return await this.#credentials.get(registry);
    } catch (error) {
      throw new RegistryError('CREDENTIALS_ERROR', `cannot get credentials: ${(error as Error).message}`, {
        ...context,
        cause: error,
      });
    }
  }

  async #bearer(
    registry: string,
    apiHost: string,
    scheme: Extract<HostScheme, { kind: 'bearer' }>,
    scope: string,
    context: RegistryErrorContext,
    signal?: AbortSignal,
  ): Promise<string> {
    const credential = await this.#credential(registry, context);
    const key = `${apiHost} ${scope} ${scheme.realm.href} ${scheme.service ?? ''}`;
    const token = await this.#flights.run(
      key,
      (s) => this.#fetchToken(scheme, scope, credential, context, s),
      signal,
      () => deadlineError(context, signal),
    );
    this.#tokens.set(`${apiHost} ${scope}`, token);
    return `Bearer ${token.value}`;
  }

  async #fetchToken(
    scheme: Extract<HostScheme, { kind: 'bearer' }>,
    scope: string,
    credential: Credential | undefined,
    context: RegistryErrorContext,
    signal: AbortSignal,
  ): Promise<CachedToken> {
    const url = new URL(scheme.realm.href);
    const tokenContext = { ...context };
    let req: Parameters<Transport['perform']>[0];
    if (credential?.kind === 'identity-token') {
      const form = new URLSearchParams({
        grant_type: 'refresh_token',
        refresh_token: credential.token,
        client_id: 'portcullis',
        scope,
      });
      if (scheme.service !== undefined) form.set('service', scheme.service);
      req = {
        url,
        method: 'POST',
        body: form.toString(),
        headers: { 'content-type': 'application/x-www-form-urlencoded' },
      };
    } else {
      if (scheme.service !== undefined) url.searchParams.set('service', scheme.service);
      url.searchParams.set('scope', scope);
      const authorization = basicHeader(credential);
      req = {
        url,
        method: 'GET',
        ...(authorization !== undefined && { authorization, authorizationOrigin: url.origin }),
      };
    }
    return this.#transport.perform(
      req,
      async (response) => {
        if (response.status !== 200) {
          const detail = await this.#transport.errorDetail(response, tokenContext);
          throw new RegistryError(
            'UNAUTHORIZED',
            `token service ${url.host} refused ${credential === undefined ? 'anonymous' : 'our'} request for ${scope} with ${response.status}${detail ? `: ${detail}` : ''}`,
            { ...tokenContext, status: response.status },
          );
        }
        const bytes = await this.#transport.readBody(
          response,
          this.#transport.limits.smallResponseBytes,
          'token response',
          tokenContext,
        );
        let json: Record<string, unknown>;
        try {
          json = JSON.parse(Buffer.from(bytes).toString('utf8')) as Record<string, unknown>;
        } catch {
          throw new RegistryError(
            'UNAUTHORIZED',
            `token service ${url.host} answered with invalid JSON`,
            tokenContext,
          );
        }
        const value = typeof json.token === 'string' && json.token !== '' ? json.token : json.access_token;
        if (typeof value !== 'string' || !TOKEN_CHARS.test(value)) {
          throw new RegistryError(
            'UNAUTHORIZED',
            `token service ${url.host} answered without a usable token`,
            tokenContext,
          );
        }
        const seconds =
          typeof json.expires_in === 'number' && Number.isFinite(json.expires_in) && json.expires_in > 0
            ? Math.min(json.expires_in, MAX_TOKEN_SECONDS)
            : DEFAULT_TOKEN_SECONDS;
        // Renew a little early so that a token does not expire between sending and checking.
        return { value, expiresAt: this.#now() + seconds * 1000 - Math.min(2000, seconds * 250) };
      },
      tokenContext,
      signal,
    );
  }
}

function basicHeader(credential: Credential | undefined): string | undefined {
  if (credential?.kind !== 'basic') return undefined;
  return `Basic ${Buffer.from(`${credential.username}:${credential.password}`, 'utf8').toString('base64')}`;
}
