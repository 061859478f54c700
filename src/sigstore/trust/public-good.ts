/**
 * The Sigstore public-good trust root, offline.
 *
 * @sigstore/tuf ships it inside `seeds.json` (the TUF seed for tuf-repo-cdn.sigstore.dev embeds the
 * `trusted_root.json` target). We read that file directly: never the network at admission time.
 * When @sigstore/tuf is not installed the caller gets a clear error and must pass a trusted root file.
 */
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { SigstoreError, describeError } from '../errors.ts';
import { loadTrustedRoot, type TrustRoot } from './trusted-root.ts';

const PUBLIC_GOOD_TUF = 'https://tuf-repo-cdn.sigstore.dev';

let cached: TrustRoot | undefined;

export function loadPublicGoodTrustRoot(): TrustRoot {
  if (cached) return cached;
  let seedsPath: string;
  try {
    seedsPath = createRequire(import.meta.url).resolve('@sigstore/tuf/seeds.json');
  } catch {
    throw new SigstoreError(
      'TRUST_ROOT_UNAVAILABLE',
      'the public-good Sigstore trust root is not available offline (it ships with @sigstore/tuf, which is not installed); give a trusted root file',
    );
  }
  let trustedRootText: string;
  try {
    const seeds = JSON.parse(readFileSync(seedsPath, 'utf8')) as Record<string, { targets?: Record<string, string> }>;
    const b64 = seeds[PUBLIC_GOOD_TUF]?.targets?.['trusted_root.json'];
    if (typeof b64 !== 'string') throw new Error(`no trusted_root.json target for ${PUBLIC_GOOD_TUF}`);
    trustedRootText = Buffer.from(b64, 'base64').toString('utf8');
  } catch (e) {
    throw new SigstoreError('TRUST_ROOT_UNAVAILABLE', `cannot read the public-good trust root from ${seedsPath}: ${describeError(e)}`);
  }
  cached = loadTrustedRoot(trustedRootText, { name: 'public-good' });
  return cached;
}
