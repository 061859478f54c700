/**
 * Every size, count and wait a registry controls, bounded (cosign GHSA-88jx-383q-w4qc, GHSA-vfp6-jrw2-99g9,
 * Kyverno CVE-2023-42813..16). All configurable; the defaults are safe for admission.
 */
import { DEFAULT_MANIFEST_LIMITS, type ManifestLimits } from '../oci/manifest.ts';

const MiB = 1024 * 1024;

/** Maximum blob sizes by purpose; callers pass the one matching what they fetch as `maxBytes`. */
export interface BlobLimits {
  /** cosign simple-signing payload (a few hundred bytes in practice). */
  readonly signaturePayload: number;
  /** DSSE envelopes / in-toto attestations (SBOMs and provenance can be large). */
  readonly attestation: number;
  /** Sigstore bundle JSON stored as a referrer layer. */
  readonly bundle: number;
  /** Image configuration blobs. */
  readonly config: number;
}

export interface RegistryLimits {
  /** Bytes of one manifest (and of one referrers or tag-list response). */
  readonly manifestBytes: number;
  readonly blob: BlobLimits;
  readonly manifest: ManifestLimits;
  /** Referrers of one digest, across all pages. */
  readonly referrers: number;
  /** Pages followed for the referrers API and tag listing. */
  readonly pages: number;
  /** Layers in one signature/attestation manifest (callers check with `parsed.layers.length`). */
  readonly signatureLayers: number;
  /** Tags requested per listing page (`n=`) and accepted in total. */
  readonly tagsPerPage: number;
  readonly tags: number;
  readonly redirects: number;
  /** Bytes of a registry error body or token response we are willing to read. */
  readonly smallResponseBytes: number;
}

export const DEFAULT_LIMITS: RegistryLimits = {
  manifestBytes: 4 * MiB,
  blob: { signaturePayload: 1 * MiB, attestation: 16 * MiB, bundle: 4 * MiB, config: 4 * MiB },
  manifest: DEFAULT_MANIFEST_LIMITS,
  referrers: 1000,
  pages: 10,
  signatureLayers: 100,
  tagsPerPage: 1000,
  tags: 10000,
  redirects: 5,
  smallResponseBytes: 64 * 1024,
};

export interface TimeLimits {
  /** One HTTP exchange, headers and body. */
  readonly requestMs: number;
  /** Attempts per request, the first included. */
  readonly attempts: number;
  readonly backoffBaseMs: number;
  readonly backoffMaxMs: number;
  /** A `Retry-After` longer than this fails at once instead of waiting. */
  readonly retryAfterMaxMs: number;
  /** Concurrent requests per registry host. */
  readonly concurrency: number;
  /** Running a docker-credential helper. */
  readonly credentialHelperMs: number;
}

export const DEFAULT_TIME_LIMITS: TimeLimits = {
  requestMs: 10_000,
  attempts: 4,
  backoffBaseMs: 200,
  backoffMaxMs: 5_000,
  retryAfterMaxMs: 30_000,
  concurrency: 8,
  credentialHelperMs: 5_000,
};

export type PartialLimits = Partial<Omit<RegistryLimits, 'blob' | 'manifest'>> & {
  readonly blob?: Partial<BlobLimits>;
  readonly manifest?: Partial<ManifestLimits>;
};

export function resolveLimits(partial: PartialLimits = {}): RegistryLimits {
  const limits: RegistryLimits = {
    ...DEFAULT_LIMITS,
    ...partial,
    blob: { ...DEFAULT_LIMITS.blob, ...partial.blob },
    manifest: { ...DEFAULT_LIMITS.manifest, ...partial.manifest },
  };
  checkPositive('limits', limits as unknown as Record<string, unknown>);
  return limits;
}

/** Zero of these would make every request fail (or time out) at once, far from the setting that caused it. */
const AT_LEAST_ONE: readonly (keyof TimeLimits)[] = [
  'requestMs',
  'attempts',
  'concurrency',
  'credentialHelperMs',
];

export function resolveTimeLimits(partial: Partial<TimeLimits> = {}): TimeLimits {
  const limits = { ...DEFAULT_TIME_LIMITS, ...partial };
  checkPositive('timeouts', limits as unknown as Record<string, unknown>);
  for (const key of AT_LEAST_ONE) {
    if (limits[key] < 1)
      throw new TypeError(`registry timeouts.${key} must be at least 1 (got ${limits[key]})`);
  }
  return limits;
}

function checkPositive(prefix: string, record: Record<string, unknown>): void {
  for (const [key, value] of Object.entries(record)) {
    if (typeof value === 'object' && value !== null) {
      checkPositive(`${prefix}.${key}`, value as Record<string, unknown>);
    } else if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < 0) {
      throw new TypeError(`registry ${prefix}.${key} must be a non-negative integer (got ${String(value)})`);
    }
  }
}
