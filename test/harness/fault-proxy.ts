/**
 * A loopback HTTP proxy in front of a test registry that injects the faults a hostile or broken registry
 * produces: error statuses, stalls, truncated and substituted bodies, oversized streams, redirects and
 * lying headers. Requests that match no rule are forwarded unchanged (and streamed), so the proxy also
 * counts the requests a client makes.
 *
 * Everything is bounded: recorded requests, buffered bodies, and stop() destroys every open socket
 * (stalled ones included).
 */
import { Agent, createServer, request as httpRequest } from 'node:http';
import type {
  IncomingHttpHeaders,
  IncomingMessage,
  OutgoingHttpHeaders,
  Server,
  ServerResponse,
} from 'node:http';
import type { Socket } from 'node:net';

export interface RecordedRequest {
  readonly method: string;
  /** Path and query as received. */
  readonly path: string;
  readonly headers: IncomingHttpHeaders;
  /** The fault applied, when one was. */
  readonly fault?: FaultRule['fault'];
}

/** The upstream answer, buffered (bounded), for faults that rewrite it. */
export interface UpstreamResponse {
  readonly status: number;
  readonly headers: IncomingHttpHeaders;
  readonly body: Uint8Array;
}

export interface CustomContext {
  /** Send the request upstream (its body included) and buffer the answer. */
  forward(): Promise<UpstreamResponse>;
  /** Write a buffered answer to the client (hop-by-hop headers dropped, Content-Length recomputed). */
  send(response: UpstreamResponse): void;
  /** 1 for the first request this rule matched, 2 for the second... */
  readonly match: number;
}

interface RuleMatch {
  /** Exact method (case-insensitive); any when absent. */
  readonly method?: string;
  /** Tested against path+query; anchor it (`^/v2/...$`). */
  readonly path: RegExp;
  /** Let this many matches through unharmed before the fault starts (e.g. a tag changing on the 2nd GET). */
  readonly skip?: number;
  /** Apply to this many matches (after `skip`), then let requests through. Default: every match. */
  readonly count?: number;
}

export type FaultRule = RuleMatch &
  (
    | {
        readonly fault: 'status';
        readonly status: number;
        /** Seconds (or an HTTP date) sent as Retry-After. */
        readonly retryAfter?: number | string;
        readonly body?: string;
        readonly headers?: Readonly<Record<string, string>>;
      }
    | {
        readonly fault: 'stall';
        /** `before-response` (default): never answer. `mid-body`: send headers and `afterBytes`, then go silent. */
        readonly when?: 'before-response' | 'mid-body';
        readonly afterBytes?: number;
      }
    | {
        /** Send the original headers (Content-Length included) but only `bytes` of the body, then close. */
        readonly fault: 'truncate';
        readonly bytes: number;
      }
    | {
        /** Serve other bytes under the original headers (Docker-Content-Digest kept: it now lies). */
        readonly fault: 'replaceBody';
        readonly body: Uint8Array | string | ((original: Uint8Array) => Uint8Array | string);
      }
    | {
        /** Stream `bytes` of filler without buffering; Content-Length announced unless `contentLength: false`. */
        readonly fault: 'oversize';
        readonly bytes: number;
        readonly contentLength?: boolean;
        readonly status?: number;
        readonly headers?: Readonly<Record<string, string>>;
      }
    | {
        readonly fault: 'redirect';
        readonly location: string;
        /** Default 307. */
        readonly status?: number;
      }
    | {
        /** Forward, then override response headers (`null` deletes one). */
        readonly fault: 'header';
        readonly headers: Readonly<Record<string, string | null>>;
      }
    | {
        readonly fault: 'custom';
        readonly handle: (
          req: IncomingMessage,
          res: ServerResponse,
          context: CustomContext,
        ) => void | Promise<void>;
      }
  );

export interface FaultProxy {
  /** `127.0.0.1:PORT`. */
  readonly host: string;
  readonly url: string;
  /** Every request received, in order (bounded: the oldest are dropped past 10 000). */
  readonly requests: RecordedRequest[];
  /** Replace the active rules (first matching rule wins) and reset their match counters. */
  setFaults(rules: readonly FaultRule[]): void;
  /** Forget recorded requests. */
  clearRequests(): void;
  stop(): Promise<void>;
}

const MAX_RECORDED = 10_000;
const MAX_BUFFERED = 16 * 1024 * 1024;
const HOP_BY_HOP = new Set([
  'connection',
  'keep-alive',
  'transfer-encoding',
  'proxy-connection',
  'upgrade',
  'te',
  'trailer',
]);

function endToEnd(headers: IncomingHttpHeaders): OutgoingHttpHeaders {
  const out: OutgoingHttpHeaders = {};
  for (const [name, value] of Object.entries(headers)) {
    if (value !== undefined && !HOP_BY_HOP.has(name)) out[name] = value;
  }
  return out;
}

async function readBounded(stream: NodeJS.ReadableStream, what: string): Promise<Uint8Array> {
  const chunks: Buffer[] = [];
  let total = 0;
  for await (const chunk of stream) {
    const buffer = typeof chunk === 'string' ? Buffer.from(chunk) : chunk;
    total += buffer.length;
    if (total > MAX_BUFFERED) throw new Error(`${what} exceeds the proxy's ${MAX_BUFFERED}-byte buffer`);
    chunks.push(buffer);
  }
  return Buffer.concat(chunks);
}

async function listen(server: Server, bindAddress = '127.0.0.1'): Promise<{ host: string; url: string }> {
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, bindAddress, () => resolve());
  });
  const address = server.address();
  if (address === null || typeof address === 'string') throw new Error('proxy has no TCP address');
  const host = `${bindAddress}:${address.port}`;
  return { host, url: `http://${host}` };
}

function trackSockets(server: Server): () => void {
  const sockets = new Set<Socket>();
  server.on('connection', (socket: Socket) => {
    sockets.add(socket);
    socket.once('close', () => sockets.delete(socket));
  });
  return () => {
    for (const socket of sockets) socket.destroy();
    sockets.clear();
  };
}

async function closeServer(server: Server, destroySockets: () => void): Promise<void> {
  const closed = new Promise<void>((resolve) => server.close(() => resolve()));
  destroySockets();
  await closed;
}

export async function startFaultProxy(upstreamUrl: string): Promise<FaultProxy> {
  const upstream = new URL(upstreamUrl);
  if (upstream.protocol !== 'http:')
    throw new Error(`fault proxy upstream must be http://, got ${upstreamUrl}`);
  const agent = new Agent({ keepAlive: true, maxSockets: 256 });
  const requests: RecordedRequest[] = [];
  let rules: Array<{ rule: FaultRule; matches: number }> = [];

  const forwardStreaming = (req: IncomingMessage): Promise<IncomingMessage> =>
    new Promise((resolve, reject) => {
      const outgoing = httpRequest(
        {
          agent,
          host: upstream.hostname,
          port: upstream.port,
          method: req.method,
          path: req.url,
          // The Host header is kept: the registry builds upload Locations from it, so they point back here.
          headers: endToEnd(req.headers),
        },
        (response) => {
          // Upstream dying mid-body must end this exchange, not crash the test process.
          response.on('error', () => req.socket.destroy());
          resolve(response);
        },
      );
      outgoing.on('error', reject);
      req.on('error', () => outgoing.destroy());
      req.pipe(outgoing);
    });

  const forwardBuffered = async (req: IncomingMessage): Promise<UpstreamResponse> => {
    const response = await forwardStreaming(req);
    const body = await readBounded(response, `upstream body of ${req.method} ${req.url}`);
    return { status: response.statusCode ?? 502, headers: response.headers, body };
  };

  const send = (res: ServerResponse, response: UpstreamResponse): void => {
    const headers = endToEnd(response.headers);
    headers['content-length'] = String(response.body.length);
    res.writeHead(response.status, headers);
    res.end(response.body);
  };

  const pick = (req: IncomingMessage): { rule: FaultRule; match: number } | undefined => {
    for (const entry of rules) {
      const { rule } = entry;
      if (rule.method !== undefined && rule.method.toUpperCase() !== req.method) continue;
      rule.path.lastIndex = 0;
      if (!rule.path.test(req.url ?? '')) continue;
      entry.matches++;
      const index = entry.matches - (rule.skip ?? 0);
      if (index < 1) return undefined;
      if (rule.count !== undefined && index > rule.count) continue;
      return { rule, match: index };
    }
    return undefined;
  };

  const apply = async (
    req: IncomingMessage,
    res: ServerResponse,
    rule: FaultRule,
    match: number,
  ): Promise<void> => {
    switch (rule.fault) {
      case 'status': {
        req.resume();
        const headers: OutgoingHttpHeaders = { 'content-type': 'application/json', ...rule.headers };
        if (rule.retryAfter !== undefined) headers['retry-after'] = String(rule.retryAfter);
        const body =
          rule.body ?? JSON.stringify({ errors: [{ code: 'UNKNOWN', message: `injected ${rule.status}` }] });
        headers['content-length'] = String(Buffer.byteLength(body));
        res.writeHead(rule.status, headers);
        res.end(req.method === 'HEAD' ? undefined : body);
        return;
      }
      case 'stall': {
        if ((rule.when ?? 'before-response') === 'before-response') {
          req.resume();
          return; // Never answer; stop() destroys the socket.
        }
        const response = await forwardBuffered(req);
        const headers = endToEnd(response.headers);
        headers['content-length'] = String(response.body.length);
        res.writeHead(response.status, headers);
        const cut = Math.min(
          rule.afterBytes ?? Math.floor(response.body.length / 2),
          Math.max(0, response.body.length - 1),
        );
        res.write(response.body.subarray(0, cut));
        return; // The rest never comes.
      }
      case 'truncate': {
        const response = await forwardBuffered(req);
        const headers = endToEnd(response.headers);
        headers['content-length'] = String(response.body.length);
        res.writeHead(response.status, headers);
        const cut = Math.min(rule.bytes, Math.max(0, response.body.length - 1));
        res.write(response.body.subarray(0, cut), () => res.socket?.destroy());
        return;
      }
      case 'replaceBody': {
        const response = await forwardBuffered(req);
        const replaced = typeof rule.body === 'function' ? rule.body(response.body) : rule.body;
        send(res, { ...response, body: typeof replaced === 'string' ? Buffer.from(replaced) : replaced });
        return;
      }
      case 'oversize': {
        req.resume();
        const headers: OutgoingHttpHeaders = {
          'content-type': 'application/vnd.oci.image.manifest.v1+json',
          ...rule.headers,
        };
        if (rule.contentLength !== false) headers['content-length'] = String(rule.bytes);
        res.writeHead(rule.status ?? 200, headers);
        if (req.method === 'HEAD') {
          res.end();
          return;
        }
        // Generated chunk by chunk with backpressure: never held in memory, stops when the client leaves.
        const chunk = Buffer.alloc(64 * 1024, 0x20);
        let remaining = rule.bytes;
        const pump = (): void => {
          while (remaining > 0 && !res.destroyed) {
            const piece = remaining >= chunk.length ? chunk : chunk.subarray(0, remaining);
            remaining -= piece.length;
            if (!res.write(piece)) {
              res.once('drain', pump);
              return;
            }
          }
          if (!res.destroyed) res.end();
        };
        pump();
        return;
      }
      case 'redirect': {
        req.resume();
        res.writeHead(rule.status ?? 307, { location: rule.location, 'content-length': '0' });
        res.end();
        return;
      }
      case 'header': {
        const response = await forwardStreaming(req);
        const headers = endToEnd(response.headers);
        for (const [name, value] of Object.entries(rule.headers)) {
          if (value === null) delete headers[name.toLowerCase()];
          else headers[name.toLowerCase()] = value;
        }
        res.writeHead(response.statusCode ?? 502, headers);
        response.pipe(res);
        return;
      }
      case 'custom': {
        await rule.handle(req, res, {
          forward: () => forwardBuffered(req),
          send: (r) => send(res, r),
          match,
        });
        return;
      }
    }
  };

  const server = createServer((req, res) => {
    // A client that goes away mid-request is normal here (that is what clients under test do).
    req.on('error', () => {});
    res.on('error', () => {});
    const picked = pick(req);
    requests.push({
      method: req.method ?? '',
      path: req.url ?? '',
      headers: req.headers,
      ...(picked !== undefined ? { fault: picked.rule.fault } : {}),
    });
    if (requests.length > MAX_RECORDED) requests.splice(0, requests.length - MAX_RECORDED);
    const work =
      picked !== undefined
        ? apply(req, res, picked.rule, picked.match)
        : forwardStreaming(req).then((response) => {
            res.writeHead(response.statusCode ?? 502, endToEnd(response.headers));
            response.pipe(res);
          });
    work.catch((error: unknown) => {
      if (!res.headersSent) {
        res.writeHead(502, { 'content-type': 'text/plain' });
        res.end(`fault proxy: ${(error as Error).message}`);
      } else {
        res.destroy();
      }
    });
  });
  const destroySockets = trackSockets(server);
  const { host, url } = await listen(server);

  return {
    host,
    url,
    requests,
    setFaults(next) {
      rules = next.map((rule) => ({ rule, matches: 0 }));
    },
    clearRequests() {
      requests.length = 0;
    },
    async stop() {
      await closeServer(server, destroySockets);
      agent.destroy();
    },
  };
}

// ---------------------------------------------------------------- header recorder

export interface RecorderAnswer {
  readonly status?: number;
  readonly headers?: Readonly<Record<string, string>>;
  readonly body?: Uint8Array | string;
}

export interface HeaderRecorder {
  readonly host: string;
  readonly url: string;
  readonly requests: RecordedRequest[];
  stop(): Promise<void>;
}

export interface HeaderRecorderOptions {
  /** What to answer; default 200 with an empty body. */
  readonly respond?: (request: RecordedRequest) => RecorderAnswer;
  /**
   * Loopback address to bind. Default 127.0.0.2: a different IP from the registry's 127.0.0.1, so it is
   * another host by any definition (not only by port). Linux routes all of 127.0.0.0/8 to lo.
   */
  readonly bindAddress?: string;
}

/**
 * A second loopback server ("another host", e.g. blob storage) that records the headers it receives,
 * to prove that credentials do not follow a redirect to it.
 */
export async function startHeaderRecorder(options: HeaderRecorderOptions = {}): Promise<HeaderRecorder> {
  const respond = options.respond ?? ((): RecorderAnswer => ({ status: 200, body: '' }));
  const requests: RecordedRequest[] = [];
  const server = createServer((req, res) => {
    req.resume();
    const recorded: RecordedRequest = { method: req.method ?? '', path: req.url ?? '', headers: req.headers };
    requests.push(recorded);
    if (requests.length > MAX_RECORDED) requests.splice(0, requests.length - MAX_RECORDED);
    const answer = respond(recorded);
    const body = answer.body === undefined ? Buffer.alloc(0) : Buffer.from(answer.body);
    res.writeHead(answer.status ?? 200, { ...answer.headers, 'content-length': String(body.length) });
    res.end(req.method === 'HEAD' ? undefined : body);
  });
  const destroySockets = trackSockets(server);
  const { host, url } = await listen(server, options.bindAddress ?? '127.0.0.2');
  return {
    host,
    url,
    requests,
    stop: () => closeServer(server, destroySockets),
  };
}
