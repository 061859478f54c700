/**
 * Registry credentials: from Docker's config.json (`auths`, `credHelpers`, `credsStore`), from a
 * Kubernetes `kubernetes.io/dockerconfigjson` secret, or none.
 *
 * Credentials are looked up by the EXACT canonical registry host (see hosts.ts): lower-cased, port
 * significant, Docker Hub aliases folded. A config key that merely contains or ends with the host never
 * matches (GHSA-pf56-329r-95rw). Kubernetes secrets are cluster input: they never run credential helpers.
 */
import { spawn } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { canonicalHost, DOCKER_HUB } from './hosts.ts';

export type Credential =
  | { readonly kind: 'basic'; readonly username: string; readonly password: string }
  /** An OAuth2 refresh token (`identitytoken`), exchanged at the token realm. */
  | { readonly kind: 'identity-token'; readonly username?: string; readonly token: string };

export interface CredentialStore {
  /** Credentials for a canonical registry host (`canonicalHost`), or undefined for anonymous access. */
  get(registry: string): Promise<Credential | undefined>;
}

export class CredentialError extends Error {
  readonly code = 'CREDENTIALS_ERROR';
  constructor(message: string) {
    super(message);
    this.name = 'CredentialError';
  }
}

export const anonymousCredentials: CredentialStore = { get: () => Promise.resolve(undefined) };

/** A fixed host → credential map (keys canonicalized; exact match). */
export function staticCredentials(entries: Readonly<Record<string, Credential>>): CredentialStore {
  const map = new Map<string, Credential>();
  for (const [host, credential] of Object.entries(entries)) map.set(canonicalHost(host), credential);
  return { get: (registry) => Promise.resolve(map.get(canonicalHost(registry))) };
}

/** Try stores in order; the first that knows the host wins. */
export function chainCredentials(...stores: readonly CredentialStore[]): CredentialStore {
  return {
    async get(registry) {
      for (const store of stores) {
        const credential = await store.get(registry);
        if (credential !== undefined) return credential;
      }
      return undefined;
    },
  };
}

export interface DockerConfigOptions {
  /** Names the config in error messages. */
  readonly source?: string;
  /** Whether `credHelpers`/`credsStore` may run programs. False for configs from untrusted places. */
  readonly allowHelpers?: boolean;
  readonly helperTimeoutMs?: number;
  /** Environment for helpers (PATH decides which `docker-credential-*` runs). */
  readonly env?: NodeJS.ProcessEnv;
  /**
   * How long a helper's answer is reused (default 5 minutes): helpers hand out short-lived tokens (an
   * hour for gcloud, 12 hours for ECR), which a long-running webhook must not keep past their life.
   */
  readonly helperCacheMs?: number;
  /** Clock for the helper cache (tests). */
  readonly now?: () => number;
}

/** Default Docker config location: `$DOCKER_CONFIG/config.json`, else `~/.docker/config.json`. */
export function defaultDockerConfigPath(env: NodeJS.ProcessEnv = process.env): string {
  return join(env.DOCKER_CONFIG ?? join(homedir(), '.docker'), 'config.json');
}

/**
 * Load a Docker config file. A missing file at the default location means anonymous; a missing file that
 * was named explicitly, or one that does not parse, is an error.
 */
export async function loadDockerConfig(
  path?: string,
  options: Omit<DockerConfigOptions, 'source'> = {},
): Promise<CredentialStore> {
  const file = path ?? defaultDockerConfigPath(options.env);
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (error) {
    if (path === undefined && (error as NodeJS.ErrnoException).code === 'ENOENT') return anonymousCredentials;
    throw new CredentialError(`cannot read Docker config ${file}: ${(error as Error).message}`);
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (error) {
    throw new CredentialError(`Docker config ${file} is not valid JSON: ${(error as Error).message}`);
  }
  return dockerConfigCredentials(json, { allowHelpers: true, ...options, source: file });
}

/**
 * Credentials from the decoded `.dockerconfigjson` of a `kubernetes.io/dockerconfigjson` secret
 * (`{"auths": {...}}`). Helpers are never run for secrets.
 */
export function kubernetesSecretCredentials(
  dockerConfigJson: unknown,
  source = 'image pull secret',
): CredentialStore {
  return dockerConfigCredentials(dockerConfigJson, { source, allowHelpers: false });
}

/** Credentials from parsed Docker config JSON. Docker's order: credHelpers[host], then credsStore, then auths. */
export function dockerConfigCredentials(config: unknown, options: DockerConfigOptions = {}): CredentialStore {
  const source = options.source ?? 'Docker config';
  if (!isObject(config)) throw new CredentialError(`${source}: expected a JSON object`);
  const auths = new Map<string, Credential | undefined>();
  const literal = new Set<string>();
  if (config.auths !== undefined) {
    if (!isObject(config.auths)) throw new CredentialError(`${source}: "auths" must be an object`);
    for (const [key, entry] of Object.entries(config.auths)) {
      const host = tryCanonical(key);
      if (host === undefined) continue;
      // Prefer the entry spelled exactly as the canonical host when several keys fold together.
      const exact = key.toLowerCase() === host;
      if (auths.has(host) && (literal.has(host) || !exact)) continue;
      auths.set(host, parseAuthEntry(entry, `${source}: auths[${JSON.stringify(key)}]`));
      if (exact) literal.add(host);
    }
  }
  const helpers = new Map<string, string>();
  if (config.credHelpers !== undefined) {
    if (!isObject(config.credHelpers))
      throw new CredentialError(`${source}: "credHelpers" must be an object`);
    for (const [key, name] of Object.entries(config.credHelpers)) {
      const host = tryCanonical(key);
      if (host !== undefined)
        helpers.set(host, helperName(name, `${source}: credHelpers[${JSON.stringify(key)}]`));
    }
  }
  const store =
    config.credsStore === undefined || config.credsStore === ''
      ? undefined
      : helperName(config.credsStore, `${source}: credsStore`);
  const allowHelpers = options.allowHelpers ?? false;
  const timeoutMs = options.helperTimeoutMs ?? 5_000;
  const helperCacheMs = options.helperCacheMs ?? 5 * 60_000;
  const now = options.now ?? Date.now;
  const cache = new Map<
    string,
    { readonly pending: Promise<Credential | undefined>; readonly until: number }
  >();

  const lookup = async (registry: string): Promise<Credential | undefined> => {
    const helper = helpers.get(registry) ?? store;
    if (helper !== undefined && allowHelpers) {
      const fromHelper = await runCredentialHelper(helper, helperServerUrl(registry), {
        timeoutMs,
        env: options.env,
      });
      if (fromHelper !== undefined || helpers.has(registry)) return fromHelper;
    }
    return auths.get(registry);
  };
  return {
    get(registry) {
      const host = canonicalHost(registry);
      const cached = cache.get(host);
      if (cached !== undefined && cached.until > now()) return cached.pending;
      const runsHelper = allowHelpers && (helpers.has(host) || store !== undefined);
      const entry = { pending: lookup(host), until: runsHelper ? now() + helperCacheMs : Infinity };
      cache.set(host, entry);
      // A failed helper run is not remembered: the next decision tries again.
      entry.pending.catch(() => {
        if (cache.get(host) === entry) cache.delete(host);
      });
      return entry.pending;
    },
  };
}

function parseAuthEntry(entry: unknown, where: string): Credential | undefined {
  if (!isObject(entry)) throw new CredentialError(`${where} must be an object`);
  const text = (key: string): string | undefined => {
    const value = entry[key];
    if (value === undefined || value === '') return undefined;
    if (typeof value !== 'string') throw new CredentialError(`${where}.${key} must be a string`);
    return value;
  };
  let username = text('username');
  let password = text('password');
  const auth = text('auth');
  if (auth !== undefined) {
    const decoded = Buffer.from(auth, 'base64').toString('utf8');
    const colon = decoded.indexOf(':');
    if (colon <= 0) throw new CredentialError(`${where}.auth must be base64 of "username:password"`);
    username = decoded.slice(0, colon);
    password = decoded.slice(colon + 1);
  }
  const identityToken = text('identitytoken');
  if (identityToken !== undefined) {
    return username === undefined
      ? { kind: 'identity-token', token: identityToken }
      : { kind: 'identity-token', username, token: identityToken };
  }
  if (username === undefined && password === undefined) return undefined;
  if (username === undefined || password === undefined)
    throw new CredentialError(`${where} needs both username and password`);
  return { kind: 'basic', username, password };
}

const HELPER_NAME = /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/;

function helperName(value: unknown, where: string): string {
  if (typeof value !== 'string' || !HELPER_NAME.test(value)) {
    throw new CredentialError(`${where} must be a credential helper name (letters, digits, . _ -)`);
  }
  return value;
}

/** Docker keeps Docker Hub credentials under its v1 index URL; helpers expect that key. */
function helperServerUrl(registry: string): string {
  return registry === DOCKER_HUB ? 'https://index.docker.io/v1/' : registry;
}

const HELPER_OUTPUT_LIMIT = 64 * 1024;

/**
 * Run `docker-credential-<name> get` with the server URL on stdin, bounded in time and output.
 * "credentials not found" means none; anything else unexpected is an error (fail closed).
 */
export function runCredentialHelper(
  name: string,
  serverUrl: string,
  options: { timeoutMs: number; env?: NodeJS.ProcessEnv | undefined },
): Promise<Credential | undefined> {
  const program = `docker-credential-${helperName(name, 'credential helper')}`;
  return new Promise((resolve, reject) => {
    // Own process group, so that a stuck helper is killed with everything it started.
    const child = spawn(program, ['get'], {
      env: options.env ?? process.env,
      stdio: ['pipe', 'pipe', 'pipe'],
      detached: true,
    });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    let size = 0;
    let settled = false;
    const finish = (outcome: () => void): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      outcome();
    };
    const fail = (reason: string): void => {
      killGroup(child.pid);
      child.stdout.destroy();
      child.stderr.destroy();
      finish(() => reject(new CredentialError(`credential helper ${program} for ${serverUrl} ${reason}`)));
    };
    const timer = setTimeout(() => fail(`did not finish within ${options.timeoutMs} ms`), options.timeoutMs);
    const collect = (into: Buffer[]) => (chunk: Buffer) => {
      size += chunk.length;
      if (size > HELPER_OUTPUT_LIMIT) fail(`wrote more than ${HELPER_OUTPUT_LIMIT} bytes`);
      else into.push(chunk);
    };
    child.stdout.on('data', collect(out));
    child.stderr.on('data', collect(err));
    child.stdin.on('error', () => {});
    child.on('error', (error) => fail(`could not run: ${error.message}`));
    child.on('close', (code) => {
      const stdout = Buffer.concat(out).toString('utf8');
      const stderr = Buffer.concat(err).toString('utf8');
      if (code !== 0) {
        if (/credentials not found/i.test(stdout + stderr)) finish(() => resolve(undefined));
        else fail(`exited with ${code}: ${oneLine(stderr || stdout)}`);
        return;
      }
      try {
        const credential = parseHelperOutput(stdout);
        finish(() => resolve(credential));
      } catch (error) {
        fail((error as Error).message);
      }
    });
    child.stdin.end(serverUrl);
  });
}

function killGroup(pid: number | undefined): void {
  if (pid === undefined) return;
  try {
    process.kill(-pid, 'SIGKILL');
  } catch {
    // already gone
  }
}

function parseHelperOutput(stdout: string): Credential | undefined {
  let json: unknown;
  try {
    json = JSON.parse(stdout);
  } catch {
    throw new Error('output is not JSON');
  }
  if (!isObject(json) || typeof json.Username !== 'string' || typeof json.Secret !== 'string') {
    throw new Error('output must be {"Username": string, "Secret": string}');
  }
  if (json.Secret === '') return undefined;
  if (json.Username === '<token>') return { kind: 'identity-token', token: json.Secret };
  return { kind: 'basic', username: json.Username, password: json.Secret };
}

function tryCanonical(key: string): string | undefined {
  try {
    return canonicalHost(key);
  } catch {
    return undefined;
  }
}

function oneLine(text: string): string {
  const line = text.replace(/\s+/g, ' ').trim();
  return line.length > 200 ? `${line.slice(0, 200)}…` : line;
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}
