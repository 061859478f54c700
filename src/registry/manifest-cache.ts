/**
 * A small LRU of verified content (manifests, small blobs) keyed by registry, repository and digest.
 * Content-addressed and checked before insertion, so a hit can never return unverified data; it lets
 * `resolve` fetch the manifest once and the later `fetchManifest` of that digest cost no request, and a
 * signature payload already read cost nothing on the next decision. Keys include the repository, so a
 * hit never serves content the registry has not shown us in that repository.
 */
export class ManifestCache<T extends { readonly bytes: Uint8Array }> {
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
