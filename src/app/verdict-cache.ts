/**
 * Caches for long-running deciders (the webhook): verdicts, and tag resolutions.
 *
 * Safety rules (attacks.md, "caches"):
 * - a verdict is keyed by the image digest that was verified, the image string as written (tag rules read
 *   it), the policy set's content version, and the request context; never by tag alone;
 * - only decisions whose digest was known are cached: a registry failure is never remembered as a verdict;
 * - denials live shorter than allows (a fixed signature should be admitted soon);
 * - identical decisions in flight are computed once (singleflight);
 * - both caches are bounded LRUs; a hit returns a decision made from verified data only.
 * The tag cache lets a hot tag skip its HEAD for a few seconds; the digest it returns was computed from
 * manifest bytes when it was first resolved, and it is that digest which is verified and pinned.
 */
import type { Decision } from '../engine/decision.ts';

export interface VerdictCacheOptions {
  readonly maxEntries?: number;
  /** How long an allowed (or warned) decision is reused. */
  readonly allowTtlMs?: number;
  /** How long a denial is reused. */
  readonly denyTtlMs?: number;
  readonly now?: () => number;
}

export interface CacheStats {
  hits: number;
  misses: number;
  coalesced: number;
}

class Lru<V> {
  readonly #entries = new Map<string, { value: V; expires: number }>();
  readonly #max: number;
  constructor(max: number) {
    this.#max = max;
  }
  get(key: string, now: number): V | undefined {
    const entry = this.#entries.get(key);
    if (!entry) return undefined;
    this.#entries.delete(key);
    if (entry.expires <= now) return undefined;
    this.#entries.set(key, entry);
    return entry.value;
  }
  set(key: string, value: V, expires: number): void {
    this.#entries.delete(key);
    this.#entries.set(key, { value, expires });
    while (this.#entries.size > this.#max) {
      const oldest = this.#entries.keys().next().value as string;
      this.#entries.delete(oldest);
    }
  }
  get size(): number {
    return this.#entries.size;
  }
  clear(): void {
    this.#entries.clear();
  }
}

export class VerdictCache {
  readonly stats: CacheStats = { hits: 0, misses: 0, coalesced: 0 };
  readonly #lru: Lru<Decision>;
  readonly #inflight = new Map<string, Promise<Decision>>();
  readonly #allowTtl: number;
  readonly #denyTtl: number;
  readonly #now: () => number;

  constructor(options: VerdictCacheOptions = {}) {
    this.#lru = new Lru(options.maxEntries ?? 10_000);
    this.#allowTtl = options.allowTtlMs ?? 5 * 60_000;
    this.#denyTtl = options.denyTtlMs ?? 30_000;
    this.#now = options.now ?? Date.now;
  }

  static key(parts: { image: string; digest: string; policySetVersion: string; context: unknown }): string {
    return JSON.stringify([parts.policySetVersion, parts.digest, parts.image, parts.context ?? null]);
  }

  /** The cached decision for `key`, or the one `compute` makes (shared by concurrent callers). */
  async run(key: string, compute: () => Promise<Decision>): Promise<Decision> {
    const cached = this.#lru.get(key, this.#now());
    if (cached) {
      this.stats.hits++;
      return cached;
    }
    const pending = this.#inflight.get(key);
    if (pending) {
      this.stats.coalesced++;
      return pending;
    }
    this.stats.misses++;
    const promise = compute().then((decision) => {
      // A decision that could not see its digest is not a verdict about content: never keep it.
      if (decision.digest) {
        const ttl = decision.allowed ? this.#allowTtl : this.#denyTtl;
        if (ttl > 0) this.#lru.set(key, decision, this.#now() + ttl);
      }
      return decision;
    });
    this.#inflight.set(key, promise);
    try {
      return await promise;
    } finally {
      this.#inflight.delete(key);
    }
  }

  get size(): number {
    return this.#lru.size;
  }

  clear(): void {
    this.#lru.clear();
  }
}

export interface TagCacheOptions {
  readonly maxEntries?: number;
  readonly ttlMs?: number;
  readonly now?: () => number;
}

/** Canonical tag reference → digest computed from its manifest, for a short time. */
export class TagCache {
  readonly stats: CacheStats = { hits: 0, misses: 0, coalesced: 0 };
  readonly #lru: Lru<string>;
  readonly #ttl: number;
  readonly #now: () => number;

  constructor(options: TagCacheOptions = {}) {
    this.#lru = new Lru(options.maxEntries ?? 10_000);
    this.#ttl = options.ttlMs ?? 10_000;
    this.#now = options.now ?? Date.now;
  }

  get(reference: string): string | undefined {
    const digest = this.#lru.get(reference, this.#now());
    if (digest) this.stats.hits++;
    else this.stats.misses++;
    return digest;
  }

  set(reference: string, digest: string): void {
    if (this.#ttl > 0) this.#lru.set(reference, digest, this.#now() + this.#ttl);
  }
}
