/**
 * A small LRU of verified manifests keyed by registry, repository and digest. Content-addressed and
 * checked before insertion, so a hit can never return unverified data; it lets `resolve` fetch the
 * manifest once and the later `fetchManifest` of that digest cost no request.
 */
import type { VerifiedManifest } from './content.ts';

export class ManifestCache<T extends VerifiedManifest> {
  readonly #entries = new Map<string, T>();
  readonly #maxEntries: number;
  readonly #maxBytes: number;
  #bytes = 0;

  constructor(maxEntries = 256, maxBytes = 32 * 1024 * 1024) {
    this.#maxEntries = maxEntries;
    this.#maxBytes = maxBytes;
  }

  get(key: string): T | undefined {
    const value = this.#entries.get(key);
    if (value !== undefined) {
      this.#entries.delete(key);
      this.#entries.set(key, value);
    }
    return value;
  }

  set(key: string, value: T): void {
    if (value.bytes.length > this.#maxBytes) return;
    const previous = this.#entries.get(key);
    if (previous !== undefined) {
      this.#bytes -= previous.bytes.length;
      this.#entries.delete(key);
    }
    this.#entries.set(key, value);
    this.#bytes += value.bytes.length;
    for (const [oldest, entry] of this.#entries) {
      if (this.#entries.size <= this.#maxEntries && this.#bytes <= this.#maxBytes) break;
      this.#entries.delete(oldest);
      this.#bytes -= entry.bytes.length;
    }
  }
}
