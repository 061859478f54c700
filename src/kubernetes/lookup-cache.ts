/**
 * Kubernetes API reads on the admission path (pull secrets, service accounts, namespaces), kept for a
 * few seconds: a rollout's burst of pods in one namespace costs one read of each, and reads in flight
 * are shared. Bounded in entries (oldest out first). A failed read is never remembered: the next request
 * asks the API again.
 */
export interface LookupCacheOptions {
  readonly ttlMs: number;
  readonly maxEntries: number;
  readonly now?: () => number;
}

export class LookupCache<T> {
  readonly #ttlMs: number;
  readonly #max: number;
  readonly #now: () => number;
  readonly #entries = new Map<string, { readonly at: number; readonly value: Promise<T> }>();

  constructor(options: LookupCacheOptions) {
    this.#ttlMs = options.ttlMs;
    this.#max = options.maxEntries;
    this.#now = options.now ?? Date.now;
  }

  get size(): number {
    return this.#entries.size;
  }

  /** The value read less than `ttlMs` ago (or being read now), else what `load` reads. */
  get(key: string, load: () => Promise<T>): Promise<T> {
    const now = this.#now();
    const hit = this.#entries.get(key);
    if (hit && now - hit.at < this.#ttlMs) return hit.value;
    let value: Promise<T>;
    try {
      value = load();
    } catch (error) {
      value = Promise.reject(error as Error);
    }
    const entry = { at: now, value };
    entry.value.catch(() => {
      // Only this read's own entry: a newer one may have replaced it meanwhile.
      if (this.#entries.get(key) === entry) this.#entries.delete(key);
    });
    this.#entries.delete(key);
    this.#entries.set(key, entry);
    while (this.#entries.size > this.#max) this.#entries.delete(this.#entries.keys().next().value!);
    return entry.value;
  }
}
