/**
 * The Sigstore public-good trust root, offline.
 *
 * @sigstore/tuf ships it inside `seeds.json` (the TUF seed for tuf-repo-cdn.sigstore.dev embeds the
 * `trusted_root.json` target). We read that file directly: never the network at admission time.
 * When @sigstore/tuf is not installed the caller gets a clear error and must pass a trusted root file.
 *
 * `portcullis trust-root update` can refresh it through TUF into a cache directory (see tuf-cache.ts);
 * a refreshed root is preferred unless the bundled one is newer (a package upgrade after the refresh).
 */
import { readFileSync, statSync } from 'node:fs';
import { createRequire } from 'node:module';
import { SigstoreError, describeError } from '../errors.ts';
import { isObject } from '../json.ts';
import { loadTrustedRoot, type TrustRoot } from './trusted-root.ts';
import { readRefreshedTrustRoot, statePath, tufCacheDir, type RefreshState } from './tuf-cache.ts';

export const PUBLIC_GOOD_TUF = 'https://tuf-repo-cdn.sigstore.dev';

/** What @sigstore/tuf ships for the public-good repository. */
export interface BundledSeed {
  readonly path: string;
  readonly trustedRootText: string;
  /** The TUF root.json bytes: the starting point of a refresh. */
  readonly tufRoot: Buffer;
  readonly tufRootVersion: number;
  readonly tufRootExpires: string;
}

let seed: BundledSeed | undefined;

export function bundledPublicGoodSeed(): BundledSeed {
  if (seed) return seed;
  let seedsPath: string;
  try {
    seedsPath = createRequire(import.meta.url).resolve('@sigstore/tuf/seeds.json');
  } catch {
    throw new SigstoreError(
      'TRUST_ROOT_UNAVAILABLE',
      'the public-good Sigstore trust root is not available offline (it ships with @sigstore/tuf, which is not installed); give a trusted root file',
    );
  }
  try {
    const seeds = JSON.parse(readFileSync(seedsPath, 'utf8')) as Record<
      string,
      { 'root.json'?: string; targets?: Record<string, string> }
    >;
    const entry = seeds[PUBLIC_GOOD_TUF];
    const b64 = entry?.targets?.['trusted_root.json'];
    if (typeof b64 !== 'string') throw new Error(`no trusted_root.json target for ${PUBLIC_GOOD_TUF}`);
    const rootB64 = entry?.['root.json'];
    if (typeof rootB64 !== 'string') throw new Error(`no root.json for ${PUBLIC_GOOD_TUF}`);
    const tufRoot = Buffer.from(rootB64, 'base64');
    const signed: unknown = (JSON.parse(tufRoot.toString('utf8')) as { signed?: unknown }).signed;
    if (!isObject(signed) || !Number.isSafeInteger(signed.version) || typeof signed.expires !== 'string') {
      throw new Error('its root.json has no signed.version or signed.expires');
    }
    seed = {
      path: seedsPath,
      trustedRootText: Buffer.from(b64, 'base64').toString('utf8'),
      tufRoot,
      tufRootVersion: signed.version as number,
      tufRootExpires: signed.expires,
    };
    return seed;
  } catch (e) {
    throw new SigstoreError(
      'TRUST_ROOT_UNAVAILABLE',
      `cannot read the public-good trust root from ${seedsPath}: ${describeError(e)}`,
    );
  }
}

let bundled: TrustRoot | undefined;

function loadBundled(): TrustRoot {
  bundled ??= loadTrustedRoot(bundledPublicGoodSeed().trustedRootText, { name: 'public-good' });
  return bundled;
}

/** Which public-good root is in use and why. */
export interface PublicGoodTrustRootInfo {
  readonly source: 'bundled' | 'refreshed';
  readonly root: TrustRoot;
  readonly cacheDir: string;
  /** Present when a refreshed root exists in the cache (used or not). */
  readonly refresh?: RefreshState;
  /** Why a refreshed root was not used. */
  readonly ignoredBecause?: string;
}

const refreshedMemo = new Map<string, { stamp: string; info: PublicGoodTrustRootInfo }>();

/**
 * The public-good root: the refreshed copy in `cacheDir` (default: tufCacheDir()) when there is one
 * and it is not older than the bundled one, else the bundled seed. Local files only, never the network.
 * A refreshed copy that exists but is corrupt or fails the strict loader is an error (fail closed).
 */
export function describePublicGoodTrustRoot(options: { cacheDir?: string } = {}): PublicGoodTrustRootInfo {
  const cacheDir = options.cacheDir ?? tufCacheDir();
  // A stat per call lets a long-running server pick up `trust-root update` without a restart.
  const stamp = stateStamp(cacheDir);
  if (stamp === undefined) return { source: 'bundled', root: loadBundled(), cacheDir };
  const memo = refreshedMemo.get(cacheDir);
  if (memo && memo.stamp === stamp) return memo.info;
  const refreshed = readRefreshedTrustRoot(cacheDir);
  let info: PublicGoodTrustRootInfo;
  if (!refreshed) {
    info = { source: 'bundled', root: loadBundled(), cacheDir };
  } else {
    const bundledSeed = bundledPublicGoodSeed();
    const state = refreshed.state;
    // Versions only compare within one TUF repository: a chain started from the bundled root.
    if (state.anchor === 'bundled' && state.tuf.root.version < bundledSeed.tufRootVersion) {
      info = {
        source: 'bundled',
        root: loadBundled(),
        cacheDir,
        refresh: state,
        ignoredBecause: `the refreshed root was verified under TUF root version ${state.tuf.root.version}, older than the bundled version ${bundledSeed.tufRootVersion}`,
      };
    } else {
      const root = loadTrustedRoot(refreshed.trustedRootText, {
        name: `public-good (refreshed ${state.updatedAt})`,
      });
      info = { source: 'refreshed', root, cacheDir, refresh: state };
    }
  }
  refreshedMemo.set(cacheDir, { stamp, info });
  return info;
}

export function loadPublicGoodTrustRoot(options: { cacheDir?: string } = {}): TrustRoot {
  return describePublicGoodTrustRoot(options).root;
}

function stateStamp(cacheDir: string): string | undefined {
  try {
    const st = statSync(statePath(cacheDir));
    return `${st.ino}:${st.size}:${st.mtimeMs}`;
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT' || (e as NodeJS.ErrnoException).code === 'ENOTDIR')
      return undefined;
    throw new SigstoreError(
      'TRUST_ROOT_UNAVAILABLE',
      `cannot read the refreshed trust root in ${cacheDir}: ${describeError(e)}`,
    );
  }
}
