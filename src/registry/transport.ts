/**
 * HTTP for the registry client: one undici Agent (keep-alive pool) per origin, HTTPS by default with the
 * system CAs plus configured extra CAs, plain HTTP only for hosts listed as insecure (exact host[:port]),
 * redirects followed by hand (bounded, loops refused) and the Authorization header sent only to the exact
 * origin it was issued for: a blob redirect to a storage host carries no credentials.
 *
 * `perform` is one logical request: per-attempt timeout, the caller's deadline, the per-host concurrency
 * cap, and retries with full-jitter backoff on 429/502/503/504, timeouts and connection errors, honouring
 * Retry-After up to a cap and never waiting once the deadline has passed.
 */
import { rootCertificates } from 'node:tls';
import { Agent, request, type Dispatcher } from 'undici';
import { Semaphore } from './concurrency.ts';
import { deadlineError, RegistryError, isRetryable, sanitize, type RegistryErrorContext } from './errors.ts';
import { canonicalHost } from './hosts.ts';
import type { RegistryLimits, TimeLimits } from './limits.ts';
import { backoffDelay, parseRetryAfter, sleep } from './retry.ts';

export type ResponseBody = Dispatcher.ResponseData['body'];

export interface HttpRequest {
  readonly url: URL;
  readonly method: 'GET' | 'HEAD' | 'POST' | 'PUT';
  readonly headers?: Readonly<Record<string, string>>;
  /** Never re-sent to another origin on a redirect (a token request's body holds a refresh token). */
  readonly body?: string | Uint8Array;
  /** Sent only while the request stays on `authorizationOrigin` (scheme://host:port). */
  readonly authorization?: string;
  readonly authorizationOrigin?: string;
}

export interface HttpResponse {
  readonly status: number;
  readonly headers: Readonly<Record<string, string | string[] | undefined>>;
  /** After redirects. */
  readonly url: URL;
  readonly body: ResponseBody;
}

export interface TransportOptions {
  readonly insecureRegistries?: readonly string[];
  /** Extra trusted CA certificates (PEM text), added to the system roots. */
  readonly ca?: readonly string[];
  readonly limits: RegistryLimits;
  readonly time: TimeLimits;
  readonly random?: () => number;
  /** Told of every HTTP exchange (metrics): the host asked, and the status or `error`. */
  readonly onResponse?: (host: string, status: number | 'error') => void;
}

const RETRY_STATUS: ReadonlySet<number> = new Set([429, 502, 503, 504]);
const REDIRECT_STATUS: ReadonlySet<number> = new Set([301, 302, 303, 307, 308]);
const RETRYABLE_NETWORK =
  /^(?:ECONNRESET|ECONNREFUSED|EPIPE|ETIMEDOUT|EAI_AGAIN|ENETUNREACH|EHOSTUNREACH|UND_ERR_SOCKET|UND_ERR_CONNECT_TIMEOUT|UND_ERR_HEADERS_TIMEOUT|UND_ERR_BODY_TIMEOUT|UND_ERR_CLOSED|UND_ERR_RES_CONTENT_LENGTH_MISMATCH)$/;

export class Transport {
  readonly limits: RegistryLimits;
  readonly time: TimeLimits;
  readonly #insecure: ReadonlySet<string>;
  readonly #ca: readonly string[] | undefined;
  readonly #agents = new Map<string, Agent>();
  readonly #semaphores = new Map<string, Semaphore>();
  readonly #random: () => number;
  readonly #onResponse: TransportOptions['onResponse'];

  constructor(options: TransportOptions) {
    this.#onResponse = options.onResponse;
    this.limits = options.limits;
    this.time = options.time;
    this.#insecure = new Set((options.insecureRegistries ?? []).map((host) => canonicalHost(host)));
    this.#ca = options.ca && options.ca.length > 0 ? [...rootCertificates, ...options.ca] : undefined;
    this.#random = options.random ?? Math.random;
  }

  isInsecure(host: string): boolean {
    return this.#insecure.has(host.toLowerCase());
  }

  /** Base URL of a registry's API host: https unless the host is configured insecure. */
  baseUrl(host: string): URL {
    return new URL(`${this.isInsecure(host) ? 'http' : 'https'}://${host}`);
  }

  /** Refuse plain HTTP to hosts not configured insecure, and any other scheme. */
  checkUrl(url: URL, context: RegistryErrorContext): void {
    if (url.username !== '' || url.password !== '') {
      throw new RegistryError('BAD_RESPONSE', `refusing URL with user information (${url.host})`, context);
    }
    if (url.protocol === 'https:') return;
    if (url.protocol === 'http:') {
      if (this.isInsecure(url.host)) return;
      throw new RegistryError(
        'INSECURE_REFUSED',
        `${url.host} is not configured as insecure; refusing plain HTTP (${sanitize(url.href, 120)})`,
        context,
      );
    }
    throw new RegistryError('BAD_RESPONSE', `refusing URL scheme ${sanitize(url.protocol, 20)}`, context);
  }

  async close(): Promise<void> {
    const agents = [...this.#agents.values()];
    this.#agents.clear();
    await Promise.all(agents.map((agent) => agent.close()));
  }

  /**
   * One logical request with retries. `consume` reads the response (within the attempt's timeout) and
   * may throw a RegistryError; retryable ones (network, timeout) are retried like 5xx.
   */
  async perform<T>(
    req: HttpRequest,
    consume: (response: HttpResponse, signal: AbortSignal) => Promise<T>,
    context: RegistryErrorContext,
    signal?: AbortSignal,
  ): Promise<T> {
    const semaphore = this.#semaphore(req.url.host);
    for (let attempt = 0; ; attempt++) {
      const last = attempt + 1 >= this.time.attempts;
      let wait: number;
      try {
        const outcome = await semaphore.use(() => this.#attempt(req, consume, context, signal, last), signal);
        if (outcome.done) return outcome.value;
        wait =
          outcome.retryAfterMs ??
          backoffDelay(attempt, this.time.backoffBaseMs, this.time.backoffMaxMs, this.#random);
      } catch (error) {
        const mapped = this.#mapError(error, context, signal);
        if (last || !isRetryable(mapped)) throw mapped;
        wait = backoffDelay(attempt, this.time.backoffBaseMs, this.time.backoffMaxMs, this.#random);
      }
      try {
        await sleep(wait, signal);
      } catch {
        throw this.#deadline(context, signal);
      }
    }
  }

  async #attempt<T>(
    req: HttpRequest,
    consume: (response: HttpResponse, signal: AbortSignal) => Promise<T>,
    context: RegistryErrorContext,
    outer: AbortSignal | undefined,
    last: boolean,
  ): Promise<{ done: true; value: T } | { done: false; retryAfterMs: number | undefined }> {
    if (outer?.aborted) throw this.#deadline(context, outer);
    const timeout = new AbortController();
    const timer = setTimeout(
      () =>
        timeout.abort(
          new RegistryError(
            'TIMEOUT',
            `no complete response within ${this.time.requestMs} ms (${req.method} ${req.url.pathname})`,
            context,
          ),
        ),
      this.time.requestMs,
    );
    const signal = outer ? AbortSignal.any([outer, timeout.signal]) : timeout.signal;
    try {
      const response = await this.exchange(req, context, signal);
      if (RETRY_STATUS.has(response.status)) {
        await discard(response.body);
        const retryAfter = parseRetryAfter(header(response.headers, 'retry-after'));
        const what = `${req.method} ${sanitize(response.url.pathname, 120)} answered ${response.status}`;
        if (retryAfter !== undefined && retryAfter > this.time.retryAfterMaxMs) {
          throw new RegistryError(
            'RATE_LIMITED',
            `${what} with Retry-After of ${Math.ceil(retryAfter / 1000)} s, more than the ${this.time.retryAfterMaxMs / 1000} s we wait`,
            { ...context, status: response.status },
          );
        }
        if (last) {
          const code = response.status === 429 ? 'RATE_LIMITED' : 'HTTP_ERROR';
          throw new RegistryError(code, `${what} after ${this.time.attempts} attempts`, {
            ...context,
            status: response.status,
          });
        }
        return { done: false, retryAfterMs: retryAfter };
      }
      return { done: true, value: await consume(response, signal) };
    } catch (error) {
      if (timeout.signal.aborted && !outer?.aborted) throw timeout.signal.reason as RegistryError;
      throw error;
    } finally {
      clearTimeout(timer);
    }
  }

  /** Send one request, following redirects by hand. */
  async exchange(
    req: HttpRequest,
    context: RegistryErrorContext,
    signal: AbortSignal,
  ): Promise<HttpResponse> {
    let url = req.url;
    let method = req.method;
    let body = req.body;
    const seen = new Set<string>([url.href]);
    for (let hops = 0; ; hops++) {
      this.checkUrl(url, context);
      const headers: Record<string, string> = { 'user-agent': 'portcullis', ...req.headers };
      if (req.authorization !== undefined && url.origin === req.authorizationOrigin)
        headers.authorization = req.authorization;
      let response;
      try {
        response = await request(url, {
          method,
          headers,
          body,
          signal,
          dispatcher: this.#agent(url),
        });
      } catch (error) {
        this.#onResponse?.(url.host, 'error');
        throw error;
      }
      this.#onResponse?.(url.host, response.statusCode);
      const location = header(response.headers, 'location');
      if (!REDIRECT_STATUS.has(response.statusCode) || location === undefined) {
        return { status: response.statusCode, headers: response.headers, url, body: response.body };
      }
      await discard(response.body);
      if (hops >= this.limits.redirects) {
        throw new RegistryError(
          'TOO_MANY_REDIRECTS',
          `more than ${this.limits.redirects} redirects (last to ${sanitize(location, 120)})`,
          context,
        );
      }
      let next: URL;
      try {
        next = new URL(location, url);
      } catch {
        throw new RegistryError(
          'BAD_RESPONSE',
          `redirect to an invalid location ${JSON.stringify(sanitize(location, 120))}`,
          context,
        );
      }
      if (seen.has(next.href)) {
        throw new RegistryError(
          'TOO_MANY_REDIRECTS',
          `redirect loop at ${sanitize(next.href, 120)}`,
          context,
        );
      }
      seen.add(next.href);
      if (response.statusCode === 303 && method === 'POST') {
        method = 'GET';
        body = undefined;
      }
      if (body !== undefined && next.origin !== url.origin) {
        throw new RegistryError(
          'BAD_RESPONSE',
          `${method} redirected to another host (${sanitize(next.host, 100)}); the request body is sent only to ${url.host}`,
          context,
        );
      }
      url = next;
    }
  }

  /**
   * Read a body, refusing more than `maxBytes` (from Content-Length before reading, and while streaming:
   * the body is destroyed as soon as the limit is passed, never buffered past it).
   */
  async readBody(
    response: HttpResponse,
    maxBytes: number,
    what: string,
    context: RegistryErrorContext,
    onChunk?: (chunk: Uint8Array) => void,
  ): Promise<Uint8Array> {
    // We may destroy the body ourselves; its late 'error' (undici's RequestAbortedError) is expected then.
    response.body.on('error', () => {});
    const declared = contentLength(response.headers);
    if (declared !== undefined && declared > maxBytes) {
      response.body.destroy();
      throw new RegistryError(
        'TOO_LARGE',
        `${what} is ${declared} bytes (Content-Length), more than the limit of ${maxBytes}`,
        context,
      );
    }
    const chunks: Uint8Array[] = [];
    let total = 0;
    for await (const chunk of response.body as AsyncIterable<Uint8Array>) {
      total += chunk.length;
      if (total > maxBytes) {
        response.body.destroy();
        throw new RegistryError(
          'TOO_LARGE',
          `${what} is more than the limit of ${maxBytes} bytes (stopped reading)`,
          context,
        );
      }
      onChunk?.(chunk);
      chunks.push(chunk);
    }
    if (declared !== undefined && total !== declared) {
      throw new RegistryError(
        'NETWORK_ERROR',
        `${what} was truncated: ${total} of ${declared} bytes`,
        context,
      );
    }
    return chunks.length === 1 && chunks[0] ? chunks[0] : Buffer.concat(chunks);
  }

  /** Registry error body, short and sanitized, for messages. */
  async errorDetail(response: HttpResponse, context: RegistryErrorContext): Promise<string> {
    let bytes: Uint8Array;
    try {
      bytes = await this.readBody(response, this.limits.smallResponseBytes, 'error response', context);
    } catch {
      return '';
    }
    const text = Buffer.from(bytes).toString('utf8');
    try {
      const json = JSON.parse(text) as { errors?: Array<{ code?: unknown; message?: unknown }> };
      const first = json.errors?.[0];
      if (first) return sanitize(`${String(first.code ?? '')} ${String(first.message ?? '')}`);
    } catch {
      // not JSON: fall through to the raw text
    }
    return sanitize(text);
  }

  #agent(url: URL): Agent {
    let agent = this.#agents.get(url.origin);
    if (agent === undefined) {
      agent = new Agent({
        connections: this.time.concurrency,
        keepAliveTimeout: 30_000,
        headersTimeout: this.time.requestMs,
        bodyTimeout: this.time.requestMs,
        connect: { timeout: this.time.requestMs, ...(this.#ca && { ca: [...this.#ca] }) },
      });
      this.#agents.set(url.origin, agent);
    }
    return agent;
  }

  #semaphore(host: string): Semaphore {
    let semaphore = this.#semaphores.get(host);
    if (semaphore === undefined) {
      semaphore = new Semaphore(this.time.concurrency);
      this.#semaphores.set(host, semaphore);
    }
    return semaphore;
  }

  #deadline(context: RegistryErrorContext, signal: AbortSignal | undefined): RegistryError {
    return deadlineError(context, signal);
  }

  #mapError(error: unknown, context: RegistryErrorContext, signal: AbortSignal | undefined): RegistryError {
    if (signal?.aborted) return this.#deadline(context, signal);
    if (error instanceof RegistryError) return error;
    const code = errorCode(error);
    const message = sanitize(error instanceof Error ? error.message : String(error));
    if (
      code === 'ERR_SSL_WRONG_VERSION_NUMBER' ||
      /wrong version number|packet length too long/i.test(message)
    ) {
      return new RegistryError(
        'INSECURE_REFUSED',
        `HTTPS handshake failed (the server may speak plain HTTP: ${message}); ${context.registry} is not configured as insecure; refusing plain HTTP`,
        { ...context, cause: error },
      );
    }
    if (code !== undefined && /CERT|SELF_SIGNED|ERR_TLS|ERR_SSL|UNABLE_TO_VERIFY/.test(code)) {
      return new RegistryError('TLS_ERROR', `TLS verification failed: ${message} (${code})`, {
        ...context,
        cause: error,
      });
    }
    if (code !== undefined && RETRYABLE_NETWORK.test(code)) {
      return new RegistryError('NETWORK_ERROR', `connection failed: ${message} (${code})`, {
        ...context,
        cause: error,
      });
    }
    return new RegistryError('NETWORK_ERROR', `request failed: ${message}${code ? ` (${code})` : ''}`, {
      ...context,
      cause: error,
    });
  }
}

export function header(headers: HttpResponse['headers'], name: string): string | undefined {
  const value = headers[name];
  return Array.isArray(value) ? value[0] : value;
}

function contentLength(headers: HttpResponse['headers']): number | undefined {
  const value = header(headers, 'content-length');
  if (value === undefined || !/^[0-9]{1,15}$/.test(value)) return undefined;
  return Number(value);
}

/** Drop a body we do not need without reading an unbounded amount of it. */
export async function discard(body: ResponseBody): Promise<void> {
  body.on('error', () => {});
  try {
    await body.dump({ limit: 64 * 1024 });
  } catch {
    // the connection is dropped instead; nothing to report
  }
}

function errorCode(error: unknown): string | undefined {
  for (let current: unknown = error, depth = 0; current instanceof Error && depth < 4; depth++) {
    const code = (current as { code?: unknown }).code;
    if (typeof code === 'string') return code;
    current = current.cause;
  }
  return undefined;
}
