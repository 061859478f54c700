/**
 * A Docker token-auth server for the test registry (distribution's `auth.token`): it answers
 * `GET /token?service=…&scope=repository:NAME:ACTIONS` with an ES256 JWT whose `access` claim grants the
 * requested actions this user may have, signed by a throw-away key whose self-signed certificate the
 * registry trusts (`rootcertbundle`), the certificate travelling in the JWT's `x5c` header.
 *
 * Grants: users in `users` (HTTP Basic to the token endpoint) get pull and push everywhere; anonymous
 * callers get pull only when `anonymousPull` is set. Every request and every issued token is recorded so
 * tests can check token caching and which credentials went where.
 */
import { execFileSync } from 'node:child_process';
import { createPrivateKey, randomUUID, sign, X509Certificate } from 'node:crypto';
import type { KeyObject } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { createServer } from 'node:http';
import type { IncomingHttpHeaders } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Socket } from 'node:net';
import { join } from 'node:path';
import { HarnessError } from './errors.ts';

export interface TokenAuthOptions {
  /** username => password accepted with HTTP Basic at the token endpoint. */
  readonly users?: Readonly<Record<string, string>>;
  /** Grant `pull` to callers without credentials. Default false. */
  readonly anonymousPull?: boolean;
  /** Token lifetime (`expires_in`). Default 300 s. */
  readonly ttlSeconds?: number;
}

export interface TokenRequestRecord {
  readonly path: string;
  readonly headers: IncomingHttpHeaders;
  /** Authenticated user, `anonymous`, or `rejected` (bad credentials: 401). */
  readonly account: string;
  readonly scopes: readonly string[];
  /** Granted `type:name:actions` entries. */
  readonly granted: readonly string[];
}

export interface TokenServer {
  readonly url: string;
  /** The `realm` the registry advertises. */
  readonly realm: string;
  readonly service: string;
  readonly issuer: string;
  /** PEM certificate(s) the registry verifies tokens with. */
  readonly rootCertFile: string;
  readonly requests: TokenRequestRecord[];
  stop(): Promise<void>;
}

const SERVICE = 'portcullis-test-registry';
const ISSUER = 'portcullis-test-token-issuer';
const MAX_RECORDED = 10_000;

function base64url(data: Buffer | string): string {
  return Buffer.from(data).toString('base64url');
}

function signingMaterial(
  dir: string,
  openssl: string,
): { key: KeyObject; certDer: Buffer; certFile: string } {
  const keyFile = join(dir, 'token.key');
  const certFile = join(dir, 'token.pem');
  try {
    execFileSync(
      openssl,
      [
        'req',
        '-x509',
        '-newkey',
        'ec',
        '-pkeyopt',
        'ec_paramgen_curve:P-256',
        '-nodes',
        '-keyout',
        keyFile,
        '-out',
        certFile,
        '-days',
        '2',
        '-subj',
        '/CN=Portcullis test token issuer',
      ],
      { stdio: ['ignore', 'ignore', 'pipe'], timeout: 30_000 },
    );
  } catch (error) {
    throw new HarnessError(
      'HARNESS_TLS',
      `openssl failed making the token signing key: ${String((error as { stderr?: unknown }).stderr ?? error)}`,
    );
  }
  return {
    key: createPrivateKey(readFileSync(keyFile)),
    certDer: Buffer.from(new X509Certificate(readFileSync(certFile)).raw),
    certFile,
  };
}

function parseBasic(header: string | undefined): { username: string; password: string } | undefined {
  if (header === undefined || !/^basic /i.test(header)) return undefined;
  const decoded = Buffer.from(header.slice(6).trim(), 'base64').toString('utf8');
  const colon = decoded.indexOf(':');
  if (colon < 0) return undefined;
  return { username: decoded.slice(0, colon), password: decoded.slice(colon + 1) };
}

export async function startTokenServer(
  dir: string,
  openssl: string,
  options: TokenAuthOptions = {},
): Promise<TokenServer> {
  const { key, certDer, certFile } = signingMaterial(dir, openssl);
  const users = options.users ?? {};
  const ttl = options.ttlSeconds ?? 300;
  const requests: TokenRequestRecord[] = [];

  const token = (
    account: string,
    access: Array<{ type: string; name: string; actions: string[] }>,
  ): string => {
    const now = Math.floor(Date.now() / 1000);
    const header = { typ: 'JWT', alg: 'ES256', x5c: [certDer.toString('base64')] };
    const claims = {
      iss: ISSUER,
      sub: account === 'anonymous' ? '' : account,
      aud: SERVICE,
      exp: now + ttl,
      nbf: now - 10,
      iat: now,
      jti: randomUUID(),
      access,
    };
    const input = `${base64url(JSON.stringify(header))}.${base64url(JSON.stringify(claims))}`;
    // JWS ES256 wants r||s, not DER.
    const signature = sign('sha256', Buffer.from(input), { key, dsaEncoding: 'ieee-p1363' });
    return `${input}.${base64url(signature)}`;
  };

  const server = createServer((req, res) => {
    req.resume();
    const url = new URL(req.url ?? '/', 'http://token.invalid');
    const scopes = url.searchParams
      .getAll('scope')
      .flatMap((s) => s.split(' '))
      .filter((s) => s !== '');
    const basic = parseBasic(req.headers.authorization);
    let account = 'anonymous';
    if (basic !== undefined) account = users[basic.username] === basic.password ? basic.username : 'rejected';
    const record = (granted: string[]): void => {
      requests.push({ path: req.url ?? '', headers: req.headers, account, scopes, granted });
      if (requests.length > MAX_RECORDED) requests.splice(0, requests.length - MAX_RECORDED);
    };
    if (url.pathname !== '/token') {
      record([]);
      res.writeHead(404).end();
      return;
    }
    if (account === 'rejected') {
      record([]);
      res.writeHead(401, {
        'content-type': 'application/json',
        'www-authenticate': 'Basic realm="portcullis-test-token"',
      });
      res.end(JSON.stringify({ errors: [{ code: 'UNAUTHORIZED', message: 'bad credentials' }] }));
      return;
    }
    const allowed =
      account === 'anonymous' ? (options.anonymousPull === true ? ['pull'] : []) : ['pull', 'push', 'delete'];
    const access: Array<{ type: string; name: string; actions: string[] }> = [];
    for (const scope of scopes) {
      // type:name:actions, where the name itself may contain ':' (a registry host with a port).
      const first = scope.indexOf(':');
      const last = scope.lastIndexOf(':');
      if (first < 0 || last === first) continue;
      const actions = scope
        .slice(last + 1)
        .split(',')
        .filter((a) => allowed.includes(a));
      if (actions.length > 0)
        access.push({ type: scope.slice(0, first), name: scope.slice(first + 1, last), actions });
    }
    record(access.map((a) => `${a.type}:${a.name}:${a.actions.join(',')}`));
    const issued = token(account, access);
    const body = JSON.stringify({
      token: issued,
      access_token: issued,
      expires_in: ttl,
      issued_at: new Date().toISOString(),
    });
    res.writeHead(200, {
      'content-type': 'application/json',
      'content-length': String(Buffer.byteLength(body)),
    });
    res.end(body);
  });
  const sockets = new Set<Socket>();
  server.on('connection', (socket: Socket) => {
    sockets.add(socket);
    socket.once('close', () => sockets.delete(socket));
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  const { port } = server.address() as AddressInfo;
  const url = `http://127.0.0.1:${port}`;
  return {
    url,
    realm: `${url}/token`,
    service: SERVICE,
    issuer: ISSUER,
    rootCertFile: certFile,
    requests,
    stop: async () => {
      const closed = new Promise<void>((resolve) => server.close(() => resolve()));
      for (const socket of sockets) socket.destroy();
      await closed;
    },
  };
}
