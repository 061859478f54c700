/**
 * A real OCI registry for tests: Debian's `docker-registry` (CNCF distribution 2.8) on 127.0.0.1 with an
 * ephemeral port, a throw-away storage directory and, when asked, htpasswd Basic auth.
 *
 * The registry runs under a tiny `sh` watchdog in its own process group, so it dies with the test process
 * even when that process is killed outright (SIGKILL leaves no `exit` hook to run).
 */
import { spawn, execFileSync } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { accessSync, constants, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { get as httpGet } from 'node:http';
import { get as httpsGet } from 'node:https';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { delimiter, join } from 'node:path';
import { HarnessError } from './errors.ts';
import { startTokenServer } from './token-server.ts';
import type { TokenAuthOptions, TokenServer } from './token-server.ts';

export interface RegistryAuth {
  readonly username: string;
  readonly password: string;
}

export interface StartRegistryOptions {
  /** Require HTTP Basic auth with these credentials (bcrypt htpasswd entry). */
  readonly auth?: RegistryAuth;
  /**
   * Serve HTTPS with a certificate for 127.0.0.1/localhost issued by a fresh test CA (made with openssl);
   * the CA is returned so clients can be given it as an extra CA file.
   */
  readonly tls?: boolean;
  /**
   * Docker token auth (Bearer challenges) with a token server started beside the registry; see
   * token-server.ts for what it grants. Exclusive with `auth`.
   */
  readonly token?: TokenAuthOptions;
  /** How long to wait for `GET /v2/` to answer. Default 15 s. */
  readonly startTimeoutMs?: number;
}

export interface RunningRegistry {
  /** `127.0.0.1:PORT`, the registry part of an image reference. */
  readonly host: string;
  /** `http://127.0.0.1:PORT`. */
  readonly url: string;
  /** Temp directory holding config, htpasswd and storage; removed by stop(). */
  readonly dir: string;
  readonly auth?: RegistryAuth;
  /** With `tls`: the test CA (PEM text and file) that issued the registry's certificate. */
  readonly tls?: { readonly caPem: string; readonly caFile: string };
  /** With `token`: the token server (realm, recorded token requests). */
  readonly token?: TokenServer;
  /** What the registry wrote on stderr so far (bounded to the last 64 KiB). */
  stderr(): string;
  stop(): Promise<void>;
}

export { HarnessError };

const STDERR_KEEP = 64 * 1024;

/** Every registry still running, killed on process exit if a test forgot (or crashed before) stop(). */
const live = new Map<ChildProcess, string>();
let exitHookInstalled = false;

function installExitHook(): void {
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  const cleanup = (): void => {
    for (const [child, dir] of live) {
      killGroup(child, 'SIGKILL');
      rmSync(dir, { recursive: true, force: true });
    }
    live.clear();
  };
  process.on('exit', cleanup);
  for (const signal of ['SIGINT', 'SIGTERM'] as const) {
    process.once(signal, () => {
      cleanup();
      // Re-raise with the default disposition so the process still dies of the signal.
      process.kill(process.pid, signal);
    });
  }
}

function killGroup(child: ChildProcess, signal: NodeJS.Signals): void {
  if (child.pid === undefined || child.exitCode !== null || child.signalCode !== null) return;
  try {
    // Negative pid: the whole group we created (watchdog shell + registry), by its id.
    process.kill(-child.pid, signal);
  } catch {
    // Already gone.
  }
}

export function findExecutable(name: string): string | undefined {
  for (const dir of (process.env['PATH'] ?? '/usr/bin:/bin').split(delimiter)) {
    if (dir === '') continue;
    const candidate = join(dir, name);
    try {
      accessSync(candidate, constants.X_OK);
      return candidate;
    } catch {
      // Not here.
    }
  }
  return undefined;
}

export function requireExecutable(name: string, debianPackage: string): string {
  const found = findExecutable(name);
  if (found === undefined) {
    throw new HarnessError(
      'HARNESS_TOOL_MISSING',
      `${name} is not installed; the real-registry tests need it: run \`apt-get install -y ${debianPackage}\``,
    );
  }
  return found;
}

/** Ask the kernel for a free loopback port (bind 0), then release it for the registry to take. */
export async function freePort(): Promise<number> {
  return await new Promise((resolve, reject) => {
    const server = createServer();
    server.unref();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      const port = typeof address === 'object' && address !== null ? address.port : 0;
      server.close(() => (port > 0 ? resolve(port) : reject(new Error('could not get a free port'))));
    });
  });
}

function htpasswdEntry(auth: RegistryAuth): string {
  const htpasswd = requireExecutable('htpasswd', 'apache2-utils');
  // -B bcrypt (the only scheme distribution accepts), -b password from argv, -n print instead of writing.
  return execFileSync(htpasswd, ['-B', '-b', '-n', auth.username, auth.password], {
    encoding: 'utf8',
  }).trim();
}

const WATCHDOG = [
  '"$2" serve "$3" & child=$!',
  // The registry keeps the stderr pipe; the shell must not die of SIGPIPE reporting the kill once we are gone.
  "exec 2>/dev/null; trap '' PIPE",
  'trap \'kill "$child" 2>/dev/null; exit 0\' TERM INT',
  // Poll the parent: if the test process vanished (even by SIGKILL), take the registry down with it.
  'while kill -0 "$1" 2>/dev/null && kill -0 "$child" 2>/dev/null; do sleep 0.5; done',
  'kill "$child" 2>/dev/null',
  'wait "$child"',
  // Only reached when the parent died without stop(): nobody else will remove the directory.
  'rm -rf "$4"',
].join('\n');

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

export async function startRegistry(options: StartRegistryOptions = {}): Promise<RunningRegistry> {
  const binary = requireExecutable('docker-registry', 'docker-registry');
  const attempts = 3;
  let lastError: unknown;
  // The port found by bind(0) can be taken by someone else before the registry binds it: retry then.
  for (let attempt = 1; attempt <= attempts; attempt++) {
    try {
      return await startOnce(binary, options);
    } catch (error) {
      lastError = error;
      if (!(error instanceof HarnessError && /address already in use/i.test(error.message))) throw error;
    }
  }
  throw lastError;
}

async function startOnce(binary: string, options: StartRegistryOptions): Promise<RunningRegistry> {
  if (options.auth !== undefined && options.token !== undefined) {
    throw new HarnessError('HARNESS_INPUT', 'startRegistry: choose Basic `auth` or `token` auth, not both');
  }
  const dir = mkdtempSync(join(tmpdir(), 'portcullis-registry-'));
  const port = await freePort();
  const host = `127.0.0.1:${port}`;
  let tls: ReturnType<typeof makeTestCertificates> | undefined;
  let token: TokenServer | undefined;
  try {
    tls = options.tls === true ? makeTestCertificates(dir) : undefined;
    if (options.token !== undefined) {
      token = await startTokenServer(dir, requireExecutable('openssl', 'openssl'), options.token);
    }
  } catch (error) {
    rmSync(dir, { recursive: true, force: true });
    throw error;
  }
  const url = `${tls !== undefined ? 'https' : 'http'}://${host}`;
  const lines = [
    'version: 0.1',
    'log: {level: warn, formatter: text}',
    `storage: {filesystem: {rootdirectory: ${JSON.stringify(join(dir, 'storage'))}}, delete: {enabled: true}}`,
    `http: {addr: ${JSON.stringify(host)}, secret: portcullis-test-secret${
      tls !== undefined
        ? `, tls: {certificate: ${JSON.stringify(tls.certFile)}, key: ${JSON.stringify(tls.keyFile)}}`
        : ''
    }}`,
  ];
  if (options.auth !== undefined) {
    const htpasswdFile = join(dir, 'htpasswd');
    writeFileSync(htpasswdFile, htpasswdEntry(options.auth) + '\n', { mode: 0o600 });
    lines.push(`auth: {htpasswd: {realm: portcullis-test, path: ${JSON.stringify(htpasswdFile)}}}`);
  }
  if (token !== undefined) {
    const fields = [
      `realm: ${JSON.stringify(token.realm)}`,
      `service: ${JSON.stringify(token.service)}`,
      `issuer: ${JSON.stringify(token.issuer)}`,
      `rootcertbundle: ${JSON.stringify(token.rootCertFile)}`,
    ];
    lines.push(`auth: {token: {${fields.join(', ')}}}`);
  }
  const configFile = join(dir, 'config.yml');
  writeFileSync(configFile, lines.join('\n') + '\n');

  installExitHook();
  const child = spawn(
    'sh',
    ['-c', WATCHDOG, 'portcullis-registry-watchdog', String(process.pid), binary, configFile, dir],
    {
      detached: true,
      stdio: ['ignore', 'ignore', 'pipe'],
    },
  );
  live.set(child, dir);
  // Keep the test process free to exit on its own; the exit hook and the watchdog clean up.
  child.unref();
  let stderr = '';
  child.stderr?.setEncoding('utf8');
  child.stderr?.on('data', (chunk: string) => {
    stderr = (stderr + chunk).slice(-STDERR_KEEP);
  });
  (child.stderr as { unref?: () => void } | null)?.unref?.();
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  // A bounded wait whose timer does not outlive it (a pending timer would hold the test process open).
  const exitedWithin = async (ms: number): Promise<boolean> => {
    let timer: NodeJS.Timeout | undefined;
    const timedOut = new Promise<boolean>((resolve) => {
      timer = setTimeout(() => resolve(false), ms);
    });
    try {
      return await Promise.race([exited.then(() => true), timedOut]);
    } finally {
      clearTimeout(timer);
    }
  };

  let stopped: Promise<void> | undefined;
  const stop = (): Promise<void> => {
    stopped ??= (async () => {
      killGroup(child, 'SIGTERM');
      if (!(await exitedWithin(5000))) {
        killGroup(child, 'SIGKILL');
        await exitedWithin(2000);
      }
      live.delete(child);
      await token?.stop();
      rmSync(dir, { recursive: true, force: true });
    })();
    return stopped;
  };

  const timeoutMs = options.startTimeoutMs ?? 15_000;
  const deadline = Date.now() + timeoutMs;
  let exitedEarly = false;
  void exited.then(() => {
    exitedEarly = true;
  });
  for (;;) {
    if (exitedEarly) {
      await stop();
      throw new HarnessError(
        'HARNESS_REGISTRY_START',
        `docker-registry exited before answering on ${url}; its stderr:\n${stderr.trim() || '(empty)'}`,
      );
    }
    const status = await probe(`${url}/v2/`, tls?.caPem);
    // 401 is the healthy answer of an auth-enabled registry.
    if (status === 200 || (status === 401 && (options.auth !== undefined || token !== undefined))) break;
    if (Date.now() > deadline) {
      await stop();
      throw new HarnessError(
        'HARNESS_REGISTRY_START',
        `docker-registry did not answer GET ${url}/v2/ within ${timeoutMs} ms (last status ${status ?? 'none'}); its stderr:\n${stderr.trim() || '(empty)'}`,
      );
    }
    await sleep(50);
  }

  return {
    host,
    url,
    dir,
    ...(options.auth !== undefined ? { auth: options.auth } : {}),
    ...(tls !== undefined ? { tls: { caPem: tls.caPem, caFile: tls.caFile } } : {}),
    ...(token !== undefined ? { token } : {}),
    stderr: () => stderr,
    stop,
  };
}

function probe(target: string, ca?: string): Promise<number | undefined> {
  return new Promise((resolve) => {
    const get = target.startsWith('https:') ? httpsGet : httpGet;
    const req = get(target, { timeout: 1000, ...(ca !== undefined ? { ca } : {}) }, (res) => {
      res.resume();
      resolve(res.statusCode);
    });
    req.on('timeout', () => req.destroy());
    req.on('error', () => resolve(undefined));
  });
}

/**
 * A CA and a server certificate for 127.0.0.1 and localhost, valid for two days, written into `dir`.
 * Throw-away test material, generated per registry.
 */
function makeTestCertificates(dir: string): {
  caPem: string;
  caFile: string;
  certFile: string;
  keyFile: string;
} {
  const openssl = requireExecutable('openssl', 'openssl');
  const caFile = join(dir, 'ca.pem');
  const caKey = join(dir, 'ca.key');
  const certFile = join(dir, 'server.pem');
  const keyFile = join(dir, 'server.key');
  const csr = join(dir, 'server.csr');
  const ext = join(dir, 'server.ext');
  const run = (args: string[]): void => {
    try {
      execFileSync(openssl, args, { stdio: ['ignore', 'ignore', 'pipe'], timeout: 30_000 });
    } catch (error) {
      const stderr = String((error as { stderr?: unknown }).stderr ?? '');
      throw new HarnessError(
        'HARNESS_TLS',
        `openssl ${args[0] ?? ''} failed: ${stderr || (error as Error).message}`,
      );
    }
  };
  const ec = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes'];
  run([
    'req',
    '-x509',
    ...ec,
    '-keyout',
    caKey,
    '-out',
    caFile,
    '-days',
    '2',
    '-subj',
    '/CN=Portcullis test CA',
    '-addext',
    'basicConstraints=critical,CA:TRUE',
    '-addext',
    'keyUsage=critical,keyCertSign,cRLSign',
  ]);
  run(['req', ...ec, '-keyout', keyFile, '-out', csr, '-subj', '/CN=127.0.0.1']);
  writeFileSync(
    ext,
    'subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth\nbasicConstraints=CA:FALSE\n',
  );
  run([
    'x509',
    '-req',
    '-in',
    csr,
    '-CA',
    caFile,
    '-CAkey',
    caKey,
    '-CAcreateserial',
    '-out',
    certFile,
    '-days',
    '2',
    '-extfile',
    ext,
  ]);
  return { caPem: readFileSync(caFile, 'utf8'), caFile, certFile, keyFile };
}

/** `Authorization` header value for Basic auth. */
export function basicAuthorization(auth: RegistryAuth): string {
  return 'Basic ' + Buffer.from(`${auth.username}:${auth.password}`).toString('base64');
}
