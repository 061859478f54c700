/**
 * The on-disk result of `portcullis trust-root update`: one state file holding the verified
 * `trusted_root.json` target (exact bytes) and the TUF metadata versions it was verified under.
 *
 * One file so that replacing it (write temp + rename) is atomic: a reader sees the old or the new
 * state, never a root from one update with the versions of another. A plain `trusted_root.json` copy
 * is written beside it for people and for authorities that want to name the file; the loader never
 * reads that copy.
 *
 * Reading is local file I/O only: admission never fetches.
 */
import { createHash, randomBytes } from 'node:crypto';
import { mkdirSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { SigstoreError, describeError } from '../errors.ts';
import { isObject } from '../json.ts';
import { readBoundedFileSync } from '../../util/bounded-file.ts';

export const STATE_FILE = 'trusted_root.state.json';
export const TRUSTED_ROOT_COPY = 'trusted_root.json';
const STATE_API_VERSION = 'portcullis.dev/tuf-trust-root/v1';
/** The trusted root is bounded at 4 MiB by the strict loader; base64 of JSON text stays well under this. */
const MAX_STATE_BYTES = 8 * 1024 * 1024;

/** A TUF metadata file's version and expiry, as verified during the update. */
export interface TufMetadataInfo {
  readonly version: number;
  readonly expires: string;
}

export interface RefreshState {
  /** The TUF repository the root came from. */
  readonly mirror: string;
  /** `bundled`: the TUF chain started from the root.json @sigstore/tuf ships; `file`: from an operator-given root.json. */
  readonly anchor: 'bundled' | 'file';
  readonly updatedAt: string;
  /** Hex sha256 of the trusted_root.json bytes. */
  readonly trustedRootSha256: string;
  readonly tuf: {
    readonly root: TufMetadataInfo;
    readonly timestamp?: TufMetadataInfo;
    readonly snapshot?: TufMetadataInfo;
    readonly targets?: TufMetadataInfo;
  };
}

export interface RefreshedTrustRoot {
  readonly state: RefreshState;
  readonly trustedRootText: string;
  readonly path: string;
}

/**
 * Where refreshed roots live: `PORTCULLIS_TUF_CACHE`, else `$XDG_CACHE_HOME/portcullis/tuf`, else
 * `~/.cache/portcullis/tuf`. The same rule serves `trust-root update` and verification.
 */
export function tufCacheDir(env: NodeJS.ProcessEnv = process.env): string {
  if (env.PORTCULLIS_TUF_CACHE) return env.PORTCULLIS_TUF_CACHE;
  const base = env.XDG_CACHE_HOME ? env.XDG_CACHE_HOME : join(homedir(), '.cache');
  return join(base, 'portcullis', 'tuf');
}

export const statePath = (dir: string): string => join(dir, STATE_FILE);

const corrupt = (path: string, detail: string): SigstoreError =>
  new SigstoreError(
    'TRUST_ROOT_INVALID',
    `refreshed trust root ${path} is unusable: ${detail} (run \`portcullis trust-root update\` again, or remove the file to use the bundled root)`,
  );

/**
 * The refreshed root in `dir`, or undefined when there is none. A state file that exists but cannot be
 * read or does not hold together is an error, not a silent fallback: the operator refreshed on purpose.
 */
export function readRefreshedTrustRoot(dir: string): RefreshedTrustRoot | undefined {
  const path = statePath(dir);
  let bytes: Buffer;
  try {
    bytes = readBoundedFileSync(path, MAX_STATE_BYTES);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw corrupt(path, describeError(e));
  }
  let json: unknown;
  try {
    json = JSON.parse(bytes.toString('utf8'));
  } catch (e) {
    throw corrupt(path, `not JSON: ${describeError(e)}`);
  }
  if (!isObject(json) || json.apiVersion !== STATE_API_VERSION) {
    throw corrupt(path, `apiVersion is not ${STATE_API_VERSION}`);
  }
  const state = parseState(json, path);
  if (typeof json.trustedRoot !== 'string') throw corrupt(path, 'trustedRoot is missing');
  const trustedRootText = Buffer.from(json.trustedRoot, 'base64').toString('utf8');
  if (sha256Hex(trustedRootText) !== state.trustedRootSha256) {
    throw corrupt(path, 'trustedRoot does not match trustedRootSha256');
  }
  return { state, trustedRootText, path };
}

function parseState(json: Record<string, unknown>, path: string): RefreshState {
  const str = (v: unknown, what: string): string => {
    if (typeof v !== 'string' || v.length === 0) throw corrupt(path, `${what} is missing`);
    return v;
  };
  const info = (v: unknown, what: string): TufMetadataInfo => {
    if (!isObject(v) || !Number.isSafeInteger(v.version) || (v.version as number) < 1) {
      throw corrupt(path, `tuf.${what}.version is missing`);
    }
    return { version: v.version as number, expires: str(v.expires, `tuf.${what}.expires`) };
  };
  const anchor = json.anchor;
  if (anchor !== 'bundled' && anchor !== 'file') throw corrupt(path, 'anchor is not "bundled" or "file"');
  const sha = str(json.trustedRootSha256, 'trustedRootSha256');
  if (!/^[0-9a-f]{64}$/.test(sha)) throw corrupt(path, 'trustedRootSha256 is not a hex sha256');
  if (!isObject(json.tuf)) throw corrupt(path, 'tuf is missing');
  const tuf = json.tuf;
  const optional = (role: 'timestamp' | 'snapshot' | 'targets'): TufMetadataInfo | undefined =>
    tuf[role] === undefined ? undefined : info(tuf[role], role);
  const timestamp = optional('timestamp');
  const snapshot = optional('snapshot');
  const targets = optional('targets');
  return {
    mirror: str(json.mirror, 'mirror'),
    anchor,
    updatedAt: str(json.updatedAt, 'updatedAt'),
    trustedRootSha256: sha,
    tuf: {
      root: info(tuf.root, 'root'),
      ...(timestamp ? { timestamp } : {}),
      ...(snapshot ? { snapshot } : {}),
      ...(targets ? { targets } : {}),
    },
  };
}

export const sha256Hex = (data: string | Uint8Array): string =>
  createHash('sha256').update(data).digest('hex');

/** Replace the refreshed root in `dir` atomically (the copy first, then the state file readers use). */
export function writeRefreshedTrustRoot(dir: string, state: RefreshState, trustedRootText: string): void {
  mkdirSync(dir, { recursive: true, mode: 0o755 });
  atomicWrite(join(dir, TRUSTED_ROOT_COPY), trustedRootText);
  const doc = {
    apiVersion: STATE_API_VERSION,
    ...state,
    trustedRoot: Buffer.from(trustedRootText, 'utf8').toString('base64'),
  };
  atomicWrite(statePath(dir), `${JSON.stringify(doc, null, 2)}\n`);
}

function atomicWrite(path: string, text: string): void {
  const tmp = `${path}.${process.pid}.${randomBytes(6).toString('hex')}.tmp`;
  try {
    writeFileSync(tmp, text, { mode: 0o644, flag: 'wx' });
    renameSync(tmp, path);
  } catch (e) {
    rmSync(tmp, { force: true });
    throw e;
  }
}
