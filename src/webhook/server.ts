/**
 * The HTTPS server behind `portcullis serve`: the admission endpoints, health, readiness and metrics.
 *
 * HTTP-level failures are answered fast and plainly: 413 over the body limit (the API server's own
 * request limit is 3 MiB), 415 for anything but JSON, 400 for a body that is not JSON or not an
 * AdmissionReview. `/imagereview` answers even those with a denying ImageReview, because the
 * ImagePolicyWebhook plugin may be configured to admit on any backend error (`defaultAllow`).
 */
import { readFile } from 'node:fs/promises';
import { createSecureContext, type SecureContextOptions } from 'node:tls';
import type { Server as HttpsServer } from 'node:https';
import { createHash } from 'node:crypto';
import Fastify, {
  LogController,
  type FastifyError,
  type FastifyInstance,
  type FastifyReply,
  type FastifyRequest,
} from 'fastify';
import type { Logger } from 'pino';
import type { Engine } from './engine.ts';
import { admit, AdmissionReviewError, parseAdmissionReview, type Webhook } from './admission.ts';
import { ImageReviewError, parseImageReview, reviewFailure, reviewImages } from './imagereview.ts';
import type { AuditRecord, AuditSink } from './audit.ts';
import type { WebhookMetrics } from './metrics.ts';
import type { CredentialsResolver } from './credentials.ts';
import { watchPaths, type Watcher } from './watch.ts';

/**
 * The API server refuses request bodies over 3 MiB, and an AdmissionReview of an UPDATE carries the
 * object and the stored one: twice that, plus the envelope. Anything larger is not from an API server.
 */
export const BODY_LIMIT_BYTES = 3 * 1024 * 1024 * 2 + 64 * 1024;
export const MIN_TLS_VERSION = 'TLSv1.2';

export interface TlsFiles {
  readonly certFile: string;
  readonly keyFile: string;
}

export interface ServerOptions {
  readonly tls: TlsFiles;
  readonly port: number;
  readonly host?: string;
  readonly engine: () => Engine | undefined;
  readonly deadlineMs: number;
  readonly pin: boolean;
  /** The workload's registry credentials (image pull secrets), when the Kubernetes API is available. */
  readonly credentials?: CredentialsResolver;
  /** A namespace's labels (for policies with a namespaceSelector), when the Kubernetes API is available. */
  readonly namespaceLabels?: (namespace: string) => Promise<Readonly<Record<string, string>> | undefined>;
  readonly audit: AuditSink;
  readonly logger: Logger;
  readonly metrics: WebhookMetrics;
  readonly bodyLimit?: number;
  /** Watch the certificate files (default true); `reloadTls()` works either way. */
  readonly watchTls?: boolean;
  readonly watchOptions?: { debounceMs?: number; pollMs?: number };
}

export interface WebhookServer {
  readonly port: number;
  readonly url: string;
  readonly app: FastifyInstance;
  /** Reads the certificate and key again; false (old ones kept) when they do not load. */
  reloadTls(): Promise<boolean>;
  close(): Promise<void>;
}

/** A plain JSON error body for non-AdmissionReview answers. */
class HttpProblem extends Error {
  readonly code = 'HTTP_PROBLEM';
  readonly statusCode: number;
  constructor(statusCode: number, message: string) {
    super(message);
    this.name = 'HttpProblem';
    this.statusCode = statusCode;
  }
}

async function readTls(files: TlsFiles): Promise<SecureContextOptions & { key: Buffer; cert: Buffer }> {
  const [cert, key] = await Promise.all([readFile(files.certFile), readFile(files.keyFile)]);
  const options = { cert, key, minVersion: MIN_TLS_VERSION } as const;
  // Throws when the PEM is bad or the key does not belong to the certificate.
  createSecureContext(options);
  return options;
}

export async function startWebhookServer(options: ServerOptions): Promise<WebhookServer> {
  const { logger, metrics, audit } = options;
  let tls: Awaited<ReturnType<typeof readTls>>;
  try {
    tls = await readTls(options.tls);
  } catch (error) {
    throw new Error(
      `cannot load the TLS certificate ${options.tls.certFile} and key ${options.tls.keyFile}: ${(error as Error).message}`,
      {
        cause: error,
      },
    );
  }
  let tlsHash = hashTls(tls);

  const bodyLimit = options.bodyLimit ?? BODY_LIMIT_BYTES;
  const app = Fastify({
    https: tls,
    bodyLimit,
    loggerInstance: logger,
    // One audit line per decision says what each request did; per-request access lines would repeat it.
    logController: new LogController({ disableRequestLogging: true }),
    // Slow or stalled clients are cut off; the longest honest request is one admission deadline.
    requestTimeout: Math.max(15_000, options.deadlineMs + 5_000),
    connectionTimeout: 30_000,
    return503OnClosing: true,
  }) as unknown as FastifyInstance;

  app.removeAllContentTypeParsers();
  app.addContentTypeParser('application/json', { parseAs: 'string', bodyLimit }, (_req, body, done) => {
    try {
      done(null, JSON.parse(body as string));
    } catch (error) {
      done(
        new HttpProblem(400, `the request body is not valid JSON: ${(error as Error).message}`),
        undefined,
      );
    }
  });

  const record = (entry: AuditRecord) => {
    audit.write(entry);
    metrics.record(entry);
  };

  const admissionRoute = (webhook: Webhook) => async (request: FastifyRequest) => {
    let review;
    try {
      review = parseAdmissionReview(request.body);
    } catch (error) {
      if (error instanceof AdmissionReviewError)
        throw new HttpProblem(400, `not a usable AdmissionReview: ${error.message}`);
      throw error;
    }
    const result = await admit(review, webhook, {
      engine: options.engine,
      deadlineMs: options.deadlineMs,
      pin: options.pin,
      ...(options.credentials ? { credentials: options.credentials } : {}),
      ...(options.namespaceLabels ? { namespaceLabels: options.namespaceLabels } : {}),
    });
    record(result.audit);
    return result.review;
  };

  app.post('/validate', admissionRoute('validate'));
  app.post('/mutate', admissionRoute('mutate'));
  app.post('/imagereview', async (request) => {
    let review;
    try {
      review = parseImageReview(request.body);
    } catch (error) {
      if (error instanceof ImageReviewError) {
        logger.warn({ route: '/imagereview', message: error.message }, 'unreadable ImageReview denied');
        return reviewFailure(error.message);
      }
      throw error;
    }
    const result = await reviewImages(review, { engine: options.engine, deadlineMs: options.deadlineMs });
    record(result.audit);
    return result.review;
  });
  app.get('/healthz', async () => ({ status: 'ok' }));
  app.get('/readyz', async (_request, reply) => {
    const engine = options.engine();
    if (!engine) return reply.code(503).send({ status: 'not ready', reason: 'no policy set loaded yet' });
    return {
      status: 'ready',
      policySetVersion: engine.policySet.version,
      policies: engine.policySet.policies.length,
    };
  });
  app.get('/metrics', async (_request, reply) => {
    reply.type(metrics.registry.contentType);
    return metrics.registry.metrics();
  });

  app.setNotFoundHandler(async (request, reply) =>
    reply.code(404).send({ message: `no route ${request.method} ${request.url.split('?')[0]}` }),
  );
  app.setErrorHandler(
    async (error: FastifyError | HttpProblem, request: FastifyRequest, reply: FastifyReply) => {
      const [status, message] = describeError(error, bodyLimit);
      if (status >= 500) logger.error({ err: error, url: request.url }, 'internal error answering a request');
      else logger.warn({ url: request.url, status, message }, 'request refused');
      if (request.routeOptions.url === '/imagereview') {
        // Fail closed even if the plugin would admit on an HTTP error.
        return reply.code(200).send(reviewFailure(message));
      }
      return reply.code(status).send({ message });
    },
  );
  app.addHook('onResponse', async (request, reply) => {
    const route = request.routeOptions.url ?? 'unmatched';
    metrics.requests.inc({ route, code: String(reply.statusCode) });
    metrics.duration.observe({ route }, reply.elapsedTime / 1000);
  });

  await app.listen({ port: options.port, host: options.host ?? '0.0.0.0' });
  const address = app.server.address();
  const port = typeof address === 'object' && address ? address.port : options.port;
  const server = app.server as HttpsServer;

  const reloadTls = async (): Promise<boolean> => {
    try {
      const next = await readTls(options.tls);
      const hash = hashTls(next);
      if (hash === tlsHash) return true;
      server.setSecureContext(next);
      tlsHash = hash;
      metrics.tlsReloads.inc({ result: 'loaded' });
      logger.info({ cert: options.tls.certFile }, 'TLS certificate reloaded');
      return true;
    } catch (error) {
      metrics.tlsReloads.inc({ result: 'rejected' });
      logger.error(
        { cert: options.tls.certFile, key: options.tls.keyFile, error: (error as Error).message },
        'TLS certificate change rejected; the previous certificate stays in use',
      );
      return false;
    }
  };
  let watcher: Watcher | undefined;
  if (options.watchTls !== false) {
    watcher = watchPaths(
      [options.tls.certFile, options.tls.keyFile],
      () => void reloadTls(),
      options.watchOptions,
    );
  }

  return {
    port,
    url: `https://127.0.0.1:${port}`,
    app,
    reloadTls,
    async close() {
      watcher?.close();
      await app.close();
    },
  };
}

function hashTls(tls: { cert: Buffer; key: Buffer }): string {
  return createHash('sha256').update(tls.cert).update('\0').update(tls.key).digest('hex');
}

function describeError(error: FastifyError | HttpProblem, bodyLimit: number): [number, string] {
  if (error instanceof HttpProblem) return [error.statusCode, error.message];
  switch (error.code) {
    case 'FST_ERR_CTP_BODY_TOO_LARGE':
      return [413, `the request body is larger than the ${bodyLimit} bytes accepted`];
    case 'FST_ERR_CTP_INVALID_MEDIA_TYPE':
    case 'FST_ERR_CTP_INVALID_TYPE':
      return [415, 'the request body must be JSON (Content-Type: application/json)'];
    case 'FST_ERR_CTP_INVALID_CONTENT_LENGTH':
      return [400, 'the Content-Length header does not match the body'];
    case 'FST_ERR_CTP_EMPTY_JSON_BODY':
      return [400, 'the request body is empty; an AdmissionReview was expected'];
  }
  const status = typeof error.statusCode === 'number' && error.statusCode >= 400 ? error.statusCode : 500;
  return [status, status >= 500 ? 'internal error; see the Portcullis log' : error.message];
}
