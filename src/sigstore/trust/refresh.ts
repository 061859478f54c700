/**
 * Refresh the public-good (or a private) Sigstore trust root through TUF: `portcullis trust-root update`.
 *
 * @sigstore/tuf (tuf-js) runs the TUF client workflow: walk root rotations, then timestamp, snapshot,
 * targets, each signature-, version- and expiry-checked, then download the `trusted_root.json` target
 * and check its length and hashes. We then hold the target to our strict loader before it replaces
 * the cached copy, so verification never meets a root the loader would refuse. Only this command
 * touches the network; verification reads the cache (public-good.ts).
 */
import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { SigstoreError, describeError } from '../errors.ts';
import { isObject } from '../json.ts';
import { loadTrustedRoot, type TrustRoot } from './trusted-root.ts';
import { bundledPublicGoodSeed, PUBLIC_GOOD_TUF } from './public-good.ts';
import {
  sha256Hex,
  tufCacheDir,
  writeRefreshedTrustRoot,
  type RefreshState,
  type TufMetadataInfo,
} from './tuf-cache.ts';
import { readBoundedFileSync } from '../../util/bounded-file.ts';

export const TRUSTED_ROOT_TARGET = 'trusted_root.json';
/** Per-request deadline; the whole update is also bounded (see UpdateOptions.deadlineMs). */
const DEFAULT_REQUEST_TIMEOUT_MS = 10_000;
const DEFAULT_DEADLINE_MS = 60_000;
/** tuf-js bounds root.json at 512 000 bytes; an initial root given by file gets the same bound. */
const MAX_ROOT_BYTES = 512_000;

export type TufUpdateErrorCode = 'TUF_UPDATE_FAILED' | 'TUF_TARGET_REFUSED' | 'TUF_BAD_OPTIONS';

/** A failed update. The previous cache (and the bundled root) stay in use. */
export class TufUpdateError extends Error {
  readonly code: TufUpdateErrorCode;
  constructor(code: TufUpdateErrorCode, message: string) {
    super(message);
    this.name = 'TufUpdateError';
    this.code = code;
  }
}

export interface UpdateOptions {
  /** TUF repository base URL (default the public-good CDN). */
  readonly mirror?: string;
  /** Where TUF metadata and the refreshed root are kept (default tufCacheDir()). */
  readonly cacheDir?: string;
  /** Initial TUF root.json; default the public-good root @sigstore/tuf ships. */
  readonly rootPath?: string;
  readonly requestTimeoutMs?: number;
  /** Retries per request on network errors and 5xx (default 1). */
  readonly retries?: number;
  /** Bound on the whole update. */
  readonly deadlineMs?: number;
  /** For tests: the clock TUF expiry is not ours to set, but `updatedAt` is. */
  readonly now?: () => Date;
}

export interface UpdateResult {
  readonly cacheDir: string;
  readonly state: RefreshState;
  readonly root: TrustRoot;
  /** False when the new target is byte-identical to the cached one. */
  readonly changed: boolean;
}

export function normalizeMirror(mirror: string): string {
  let url: URL;
  try {
    url = new URL(mirror);
  } catch {
    throw new TufUpdateError('TUF_BAD_OPTIONS', `mirror ${JSON.stringify(mirror)} is not a URL`);
  }
  if (url.protocol !== 'https:' && url.protocol !== 'http:') {
    throw new TufUpdateError('TUF_BAD_OPTIONS', `mirror ${mirror} must be an http(s) URL`);
  }
  if (url.search || url.hash || url.username || url.password) {
    throw new TufUpdateError(
      'TUF_BAD_OPTIONS',
      `mirror ${mirror} must not carry a query, fragment or credentials`,
    );
  }
  return url.href.replace(/\/+$/, '');
}

/** The initial root: bytes we validated as a TUF root, and where it came from. */
function initialRoot(rootPath: string | undefined): { bytes: Buffer; anchor: 'bundled' | 'file' } {
  if (rootPath === undefined) return { bytes: bundledPublicGoodSeed().tufRoot, anchor: 'bundled' };
  let bytes: Buffer;
  try {
    bytes = readBoundedFileSync(rootPath, MAX_ROOT_BYTES);
  } catch (e) {
    throw new TufUpdateError('TUF_BAD_OPTIONS', `cannot read TUF root ${rootPath}: ${describeError(e)}`);
  }
  let json: unknown;
  try {
    json = JSON.parse(bytes.toString('utf8'));
  } catch (e) {
    throw new TufUpdateError('TUF_BAD_OPTIONS', `TUF root ${rootPath} is not JSON: ${describeError(e)}`);
  }
  if (
    !isObject(json) ||
    !isObject(json.signed) ||
    json.signed._type !== 'root' ||
    !Array.isArray(json.signatures)
  ) {
    throw new TufUpdateError(
      'TUF_BAD_OPTIONS',
      `TUF root ${rootPath} is not a TUF root.json (signed._type must be "root")`,
    );
  }
  return { bytes, anchor: 'file' };
}

/** @sigstore/tuf keeps each repository's metadata under the cache in a directory named after it. */
const repoDir = (cacheDir: string, mirror: string): string => {
  const url = new URL(mirror);
  return join(cacheDir, encodeURIComponent(url.host + url.pathname.replace(/\/$/, '')));
};

/**
 * Run a full TUF update and, when the `trusted_root.json` target verifies and passes the strict
 * loader, replace the cached root atomically. Throws TufUpdateError; the cache is untouched then.
 */
export async function updateTrustRoot(options: UpdateOptions = {}): Promise<UpdateResult> {
  const mirror = normalizeMirror(options.mirror ?? PUBLIC_GOOD_TUF);
  const cacheDir = options.cacheDir ?? tufCacheDir();
  const { bytes: rootBytes, anchor } = initialRoot(options.rootPath);
  try {
    mkdirSync(cacheDir, { recursive: true, mode: 0o755 });
  } catch (e) {
    throw new TufUpdateError(
      'TUF_BAD_OPTIONS',
      `cannot create cache directory ${cacheDir}: ${describeError(e)}`,
    );
  }
  // Always start the chain from the given (or bundled) root, so the anchor recorded in the state is
  // the one the chain really starts from; tuf-js then walks every rotation from there.
  const seedFile = join(cacheDir, `.initial-root.${process.pid}.${randomBytes(6).toString('hex')}.json`);
  writeFileSync(seedFile, rootBytes, { mode: 0o644 });
  let text: string;
  try {
    // Loaded on demand: verification (and the webhook) never needs the TUF client.
    const { initTUF } = await import('@sigstore/tuf');
    const run = async (): Promise<string> => {
      const tuf = await initTUF({
        mirrorURL: mirror,
        cachePath: cacheDir,
        rootPath: seedFile,
        forceInit: true,
        timeout: options.requestTimeoutMs ?? DEFAULT_REQUEST_TIMEOUT_MS,
        retry: {
          retries: options.retries ?? 1,
          factor: 2,
          minTimeout: 200,
          maxTimeout: 2000,
          randomize: false,
        },
      });
      return tuf.getTarget(TRUSTED_ROOT_TARGET);
    };
    text = await withDeadline(run(), options.deadlineMs ?? DEFAULT_DEADLINE_MS, mirror);
  } catch (e) {
    if (e instanceof TufUpdateError) throw e;
    throw new TufUpdateError('TUF_UPDATE_FAILED', `TUF update from ${mirror} failed: ${describeTufError(e)}`);
  } finally {
    rmSync(seedFile, { force: true });
  }

  let root: TrustRoot;
  try {
    root = loadTrustedRoot(text, { name: `${TRUSTED_ROOT_TARGET} from ${mirror}` });
  } catch (e) {
    const detail = e instanceof SigstoreError ? e.message : describeError(e);
    throw new TufUpdateError(
      'TUF_TARGET_REFUSED',
      `TUF update from ${mirror} verified, but the target was refused: ${detail}`,
    );
  }
  const meta = repoDir(cacheDir, mirror);
  const timestamp = readMetadataInfo(meta, 'timestamp');
  const snapshot = readMetadataInfo(meta, 'snapshot');
  const targets = readMetadataInfo(meta, 'targets');
  const rootInfo = readMetadataInfo(meta, 'root');
  if (!rootInfo)
    throw new TufUpdateError(
      'TUF_UPDATE_FAILED',
      `TUF update from ${mirror} left no readable root.json in ${meta}`,
    );
  const sha = sha256Hex(Buffer.from(text, 'utf8'));
  const state: RefreshState = {
    mirror,
    anchor,
    updatedAt: (options.now?.() ?? new Date()).toISOString(),
    trustedRootSha256: sha,
    tuf: {
      root: rootInfo,
      ...(timestamp ? { timestamp } : {}),
      ...(snapshot ? { snapshot } : {}),
      ...(targets ? { targets } : {}),
    },
  };
  const previous = readPreviousSha(cacheDir);
  try {
    writeRefreshedTrustRoot(cacheDir, state, text);
  } catch (e) {
    throw new TufUpdateError(
      'TUF_UPDATE_FAILED',
      `cannot write the refreshed root into ${cacheDir}: ${describeError(e)}`,
    );
  }
  return { cacheDir, state, root, changed: previous !== sha };
}

function readPreviousSha(cacheDir: string): string | undefined {
  try {
    return sha256Hex(readFileSync(join(cacheDir, 'trusted_root.json')));
  } catch {
    return undefined;
  }
}

/** Version and expiry of a metadata file tuf-js persisted (and so verified) during this update. */
function readMetadataInfo(dir: string, role: string): TufMetadataInfo | undefined {
  try {
    const json: unknown = JSON.parse(readFileSync(join(dir, `${role}.json`), 'utf8'));
    const signed = isObject(json) ? json.signed : undefined;
    if (!isObject(signed) || !Number.isSafeInteger(signed.version) || typeof signed.expires !== 'string')
      return undefined;
    return { version: signed.version as number, expires: signed.expires };
  } catch {
    return undefined;
  }
}

async function withDeadline<T>(work: Promise<T>, ms: number, mirror: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const deadline = new Promise<never>((_, reject) => {
    timer = setTimeout(
      () =>
        reject(
          new TufUpdateError('TUF_UPDATE_FAILED', `TUF update from ${mirror} did not finish within ${ms} ms`),
        ),
      ms,
    );
    timer.unref();
  });
  try {
    return await Promise.race([work, deadline]);
  } finally {
    clearTimeout(timer);
  }
}

/**
 * One line from @sigstore/tuf's error chain: its TUFError says which step failed, the tuf-js cause
 * says why (expired, bad signature, HTTP status, hash mismatch, connection refused).
 */
export function describeTufError(e: unknown): string {
  const parts: string[] = [];
  let current: unknown = e;
  for (let depth = 0; current !== undefined && current !== null && depth < 5; depth++) {
    if (current instanceof Error) {
      let msg = current.message;
      const status = (current as { statusCode?: unknown }).statusCode;
      if (typeof status === 'number') msg = `${msg} (HTTP ${status})`;
      const code = (current as { code?: unknown }).code;
      if (typeof code === 'string' && /^E[A-Z]+$/.test(code) && !msg.includes(code)) msg = `${msg} (${code})`;
      if (msg && !parts.some((p) => p.includes(msg))) parts.push(msg);
      current = (current as { cause?: unknown }).cause;
    } else {
      parts.push(String(current));
      break;
    }
  }
  return (parts.join(': ') || 'unknown error').replace(/\s+/g, ' ').slice(0, 500);
}
