/**
 * Test helpers specific to the registry client tests.
 *
 * `startTokenServer` fronts a plain test registry with the Docker/OCI Bearer token protocol, because
 * Debian's docker-registry 2.8 only speaks Bearer when configured with a separate token service (which is
 * not packaged). It is a small real HTTP server: `/token` issues opaque tokens for Basic credentials, and
 * `/v2/...` is forwarded to the registry only with a valid token, otherwise answered 401 with a challenge.
 */
import { randomBytes } from 'node:crypto';
import { createServer, request as httpRequest, type IncomingHttpHeaders } from 'node:http';
import type { Socket } from 'node:net';
import type { ImageReference } from '../../src/reference/types.ts';

export function ref(registry: string, repository: string, tagOrDigest = 'latest'): ImageReference {
  const isDigest = tagOrDigest.includes(':');
  return {
    original: `${registry}/${repository}${isDigest ? '@' : ':'}${tagOrDigest}`,
    registry,
    repository,
    ...(isDigest ? { digest: tagOrDigest } : { tag: tagOrDigest }),
  };
}

export interface TokenServer {
  readonly host: string;
  readonly url: string;
  /** Every request: path, method and the Authorization header it carried. */
  readonly requests: Array<{ method: string; path: string; headers: IncomingHttpHeaders }>;
  /** Scopes asked for at /token, in order. */
  readonly tokenScopes: string[];
  stop(): Promise<void>;
}

export async function startTokenServer(
  upstreamUrl: string,
  credentials: { username: string; password: string },
  options: { expiresIn?: number; refreshToken?: string } = {},
): Promise<TokenServer> {
  const upstream = new URL(upstreamUrl);
  const tokens = new Set<string>();
  const requests: TokenServer['requests'] = [];
  const tokenScopes: string[] = [];
  const expected = `Basic ${Buffer.from(`${credentials.username}:${credentials.password}`).toString('base64')}`;
  let self = '';
  const server = createServer((req, res) => {
    requests.push({ method: req.method ?? '', path: req.url ?? '', headers: req.headers });
    const url = new URL(req.url ?? '/', 'http://x');
    if (url.pathname === '/token' && req.method === 'POST') {
      // OAuth2 refresh-token grant (Docker `identitytoken`).
      const chunks: Buffer[] = [];
      req.on('data', (chunk: Buffer) => chunks.push(chunk));
      req.on('end', () => {
        const form = new URLSearchParams(Buffer.concat(chunks).toString('utf8'));
        tokenScopes.push(form.get('scope') ?? '');
        const ok =
          form.get('grant_type') === 'refresh_token' &&
          options.refreshToken !== undefined &&
          form.get('refresh_token') === options.refreshToken &&
          form.get('service') === 'test-registry';
        if (!ok) {
          res.writeHead(401, { 'content-type': 'application/json' });
          res.end('{"errors":[{"code":"UNAUTHORIZED","message":"bad refresh token"}]}');
          return;
        }
        const token = randomBytes(16).toString('hex');
        tokens.add(token);
        res.writeHead(200, { 'content-type': 'application/json' });
        res.end(JSON.stringify({ access_token: token, expires_in: options.expiresIn ?? 300 }));
      });
      return;
    }
    if (url.pathname === '/token') {
      req.resume();
      tokenScopes.push(url.searchParams.get('scope') ?? '');
      if (req.headers.authorization !== expected || url.searchParams.get('service') !== 'test-registry') {
        res.writeHead(401, { 'content-type': 'application/json' });
        res.end('{"errors":[{"code":"UNAUTHORIZED","message":"bad credentials"}]}');
        return;
      }
      const token = randomBytes(16).toString('hex');
      tokens.add(token);
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ token, expires_in: options.expiresIn ?? 300 }));
      return;
    }
    const bearer = /^Bearer (.+)$/.exec(req.headers.authorization ?? '')?.[1];
    if (bearer === undefined || !tokens.has(bearer)) {
      req.resume();
      const repo = /^\/v2\/(.+?)\/(?:manifests|blobs|tags|referrers)\//.exec(url.pathname)?.[1] ?? '';
      res.writeHead(401, {
        'content-type': 'application/json',
        'www-authenticate': `Bearer realm="http://${self}/token",service="test-registry",scope="repository:${repo}:pull"`,
      });
      res.end('{"errors":[{"code":"UNAUTHORIZED","message":"token required"}]}');
      return;
    }
    const headers = { ...req.headers };
    delete headers.authorization;
    const outgoing = httpRequest(
      { host: upstream.hostname, port: upstream.port, method: req.method, path: req.url, headers },
      (response) => {
        res.writeHead(response.statusCode ?? 502, response.headers);
        response.pipe(res);
      },
    );
    outgoing.on('error', () => res.destroy());
    req.pipe(outgoing);
  });
  const sockets = new Set<Socket>();
  server.on('connection', (socket: Socket) => {
    sockets.add(socket);
    socket.once('close', () => sockets.delete(socket));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  if (address === null || typeof address === 'string') throw new Error('token server has no address');
  self = `127.0.0.1:${address.port}`;
  return {
    host: self,
    url: `http://${self}`,
    requests,
    tokenScopes,
    stop: async () => {
      const closed = new Promise<void>((resolve) => server.close(() => resolve()));
      for (const socket of sockets) socket.destroy();
      await closed;
    },
  };
}

/** `METHOD path` lines of recorded requests, for readable assertions. */
export function lines(requests: ReadonlyArray<{ method: string; path: string }>): string[] {
  return requests.map((r) => `${r.method} ${r.path}`);
}
