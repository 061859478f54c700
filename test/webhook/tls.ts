/**
 * A throw-away CA and server certificates for 127.0.0.1, made with openssl (as an operator or
 * cert-manager would), and an HTTPS client that trusts only that CA.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, writeFileSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { request } from 'node:https';
import type { IncomingHttpHeaders } from 'node:http';
import type { TLSSocket } from 'node:tls';

export interface TestCa {
  readonly dir: string;
  readonly caFile: string;
  readonly caPem: string;
  /** Issues a certificate for 127.0.0.1 with this CN; returns the PEM file paths. */
  issue(name: string): { certFile: string; keyFile: string };
}

function openssl(args: string[]): void {
  execFileSync('openssl', args, { stdio: ['ignore', 'ignore', 'pipe'], timeout: 30_000 });
}

export function makeCa(): TestCa {
  const dir = mkdtempSync(join(tmpdir(), 'portcullis-webhook-tls-'));
  const caFile = join(dir, 'ca.pem');
  const caKey = join(dir, 'ca.key');
  openssl(['ecparam', '-name', 'prime256v1', '-genkey', '-noout', '-out', caKey]);
  openssl([
    'req',
    '-x509',
    '-new',
    '-key',
    caKey,
    '-sha256',
    '-days',
    '2',
    '-subj',
    '/CN=portcullis test CA',
    '-out',
    caFile,
  ]);
  return {
    dir,
    caFile,
    caPem: readFileSync(caFile, 'utf8'),
    issue(name) {
      const keyFile = join(dir, `${name}.key`);
      const certFile = join(dir, `${name}.pem`);
      const csr = join(dir, `${name}.csr`);
      const ext = join(dir, `${name}.ext`);
      writeFileSync(ext, 'subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth\n');
      openssl(['ecparam', '-name', 'prime256v1', '-genkey', '-noout', '-out', keyFile]);
      openssl(['req', '-new', '-key', keyFile, '-subj', `/CN=${name}`, '-out', csr]);
      openssl([
        'x509',
        '-req',
        '-in',
        csr,
        '-CA',
        caFile,
        '-CAkey',
        caKey,
        '-CAcreateserial',
        '-days',
        '1',
        '-sha256',
        '-extfile',
        ext,
        '-out',
        certFile,
      ]);
      return { certFile, keyFile };
    },
  };
}

export interface HttpsResult {
  readonly status: number;
  readonly headers: IncomingHttpHeaders;
  readonly text: string;
  /** The server certificate's subject CN, to tell which certificate answered. */
  readonly peer: string;
  readonly tlsVersion: string;
  json<T = Record<string, unknown>>(): T;
}

export function https(
  url: string,
  options: {
    ca: string;
    method?: string;
    body?: string | Buffer;
    contentType?: string | null;
    maxVersion?: 'TLSv1.1' | 'TLSv1.2' | 'TLSv1.3';
    minVersion?: 'TLSv1' | 'TLSv1.1' | 'TLSv1.2';
  },
): Promise<HttpsResult> {
  return new Promise((resolve, reject) => {
    const headers: Record<string, string | number> = {};
    if (options.body !== undefined) {
      headers['content-length'] = Buffer.byteLength(options.body);
      if (options.contentType !== null) headers['content-type'] = options.contentType ?? 'application/json';
    }
    const req = request(
      url,
      {
        method: options.method ?? (options.body !== undefined ? 'POST' : 'GET'),
        ca: options.ca,
        headers,
        agent: false,
        ...(options.maxVersion ? { maxVersion: options.maxVersion } : {}),
        ...(options.minVersion ? { minVersion: options.minVersion } : {}),
      },
      (res) => {
        const socket = res.socket as TLSSocket;
        const peer = String(socket.getPeerCertificate().subject?.CN ?? '');
        const tlsVersion = socket.getProtocol() ?? '';
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => {
          const text = Buffer.concat(chunks).toString('utf8');
          resolve({
            status: res.statusCode ?? 0,
            headers: res.headers,
            text,
            peer,
            tlsVersion,
            json: () => JSON.parse(text),
          });
        });
        res.on('error', reject);
      },
    );
    req.on('error', reject);
    req.end(options.body);
  });
}
