/**
 * HTTPS by default: a TLS front (node https, certificates made with openssl at test time) before a real
 * registry. Without the test CA the handshake is refused; with `caFiles` it works; bad settings are clear.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:https';
import { request as httpRequest } from 'node:http';
import type { Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startRegistry, type RunningRegistry } from '../harness/registry.ts';
import { buildImage, pushBuilt, type BuiltManifest } from '../harness/images.ts';
import { createRegistryClient, createRegistryClientFromSettings } from '../../src/registry/client.ts';
import { RegistryConfigError, RegistryError } from '../../src/registry/errors.ts';
import { ref } from './support.ts';

function makeCertificates(dir: string): { ca: string; key: string; cert: string } {
  const run = (args: string[]) =>
    execFileSync('openssl', args, { cwd: dir, stdio: ['ignore', 'ignore', 'pipe'] });
  run([
    'req',
    '-x509',
    '-newkey',
    'ec',
    '-pkeyopt',
    'ec_paramgen_curve:P-256',
    '-nodes',
    '-keyout',
    'ca.key',
    '-out',
    'ca.pem',
    '-days',
    '2',
    '-subj',
    '/CN=portcullis test CA',
  ]);
  run([
    'req',
    '-newkey',
    'ec',
    '-pkeyopt',
    'ec_paramgen_curve:P-256',
    '-nodes',
    '-keyout',
    'server.key',
    '-out',
    'server.csr',
    '-subj',
    '/CN=127.0.0.1',
  ]);
  writeFileSync(join(dir, 'ext.cnf'), 'subjectAltName=IP:127.0.0.1\nbasicConstraints=CA:FALSE\n');
  run([
    'x509',
    '-req',
    '-in',
    'server.csr',
    '-CA',
    'ca.pem',
    '-CAkey',
    'ca.key',
    '-CAcreateserial',
    '-out',
    'server.pem',
    '-days',
    '2',
    '-extfile',
    'ext.cnf',
  ]);
  return { ca: join(dir, 'ca.pem'), key: join(dir, 'server.key'), cert: join(dir, 'server.pem') };
}

void describe('transport security', () => {
  let dir: string;
  let registry: RunningRegistry;
  let server: Server;
  let host: string;
  let ca: string;
  let image: BuiltManifest;
  const sockets = new Set<Socket>();

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'portcullis-tls-'));
    const files = makeCertificates(dir);
    ca = files.ca;
    registry = await startRegistry();
    image = buildImage({ seed: 'tls' });
    await pushBuilt(registry.host, 'secure/app', image, 'v1');
    const upstream = new URL(registry.url);
    server = createServer({ key: readFileSync(files.key), cert: readFileSync(files.cert) }, (req, res) => {
      const outgoing = httpRequest(
        {
          host: upstream.hostname,
          port: upstream.port,
          method: req.method,
          path: req.url,
          headers: req.headers,
        },
        (response) => {
          res.writeHead(response.statusCode ?? 502, response.headers);
          response.pipe(res);
        },
      );
      outgoing.on('error', () => res.destroy());
      req.pipe(outgoing);
    });
    server.on('secureConnection', (socket: Socket) => {
      sockets.add(socket);
      socket.once('close', () => sockets.delete(socket));
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const address = server.address();
    assert.ok(address !== null && typeof address === 'object');
    host = `127.0.0.1:${address.port}`;
  });
  after(async () => {
    const closed = new Promise<void>((resolve) => server?.close(() => resolve()));
    for (const socket of sockets) socket.destroy();
    await closed;
    await registry?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  void test('an HTTPS registry signed by an unknown CA is refused (TLS_ERROR), not retried', async () => {
    const client = createRegistryClient();
    try {
      await assert.rejects(client.resolve(ref(host, 'secure/app', 'v1')), (error: unknown) => {
        assert.ok(error instanceof RegistryError);
        assert.equal(error.code, 'TLS_ERROR', error.message);
        assert.match(
          error.message,
          new RegExp(
            `registry ${host}/secure/app:v1: TLS verification failed: .*\\(UNABLE_TO_VERIFY_LEAF_SIGNATURE\\)`,
          ),
        );
        return true;
      });
    } finally {
      await client.close();
    }
  });

  void test('with the CA file configured the same registry works over HTTPS', async () => {
    const client = createRegistryClient({ caFiles: [ca] });
    try {
      assert.equal((await client.resolve(ref(host, 'secure/app', 'v1'))).digest, image.digest);
    } finally {
      await client.close();
    }
  });

  void test('settings: Docker config path, CA files and insecure hosts are checked up front', async () => {
    const config = join(dir, 'config.json');
    writeFileSync(config, JSON.stringify({ auths: {} }));
    const client = await createRegistryClientFromSettings({
      dockerConfigPath: config,
      caFiles: [ca],
      timeouts: { requestMs: 5000 },
    });
    try {
      assert.equal((await client.resolve(ref(host, 'secure/app', image.digest))).digest, image.digest);
      assert.equal(client.timeouts.requestMs, 5000);
    } finally {
      await client.close();
    }
    assert.throws(
      () => createRegistryClient({ caFiles: [join(dir, 'missing.pem')] }),
      (e: unknown) => e instanceof RegistryConfigError && /cannot use CA file .*missing\.pem/.test(e.message),
    );
    assert.throws(() => createRegistryClient({ caFiles: [config] }), /no PEM certificate in it/);
    assert.throws(
      () => createRegistryClient({ insecureRegistries: ['http://a b'] }),
      /registry settings: invalid registry host/,
    );
    assert.throws(
      () => createRegistryClient({ timeouts: { requestMs: -1 } }),
      /timeouts\.requestMs must be a non-negative integer/,
    );
    await assert.rejects(
      createRegistryClientFromSettings({ dockerConfigPath: join(dir, 'nope.json') }),
      /cannot read Docker config/,
    );
  });
});
