/**
 * Evidence gathered once per digest for the length of one run (one `portcullis audit`, later one
 * controller resync): two tags of one digest, a tag and its digest reference, or one image decided in
 * several admission contexts share the signatures, attestations and image content fetched for that digest,
 * so the second decision makes no registry request beyond its own tag resolution.
 *
 * What is shared is what the providers gathered (digest-checked, bounded), never a verdict: the engine,
 * signature verification included, still runs for every decision against that decision's rules, so a tag
 * rule still reads the reference as written, and a policy requiring key A is judged by key A whatever
 * another policy asked for. A key holds everything a fact depends on (see `EvidenceKey`), never a tag.
 *
 * Not a cache across time: a fact that was unavailable (registry down) stays so for the rest of the run,
 * and nothing outlives the memo; make a new one per run. Bounded: the oldest entries are forgotten first.
 */

/** Entries kept by default: far more than the distinct digests of a 50,000-workload inventory need. */
export const EVIDENCE_MEMO_MAX_ENTRIES = 10_000;

export type EvidenceKind = 'signatures' | 'attestations' | 'content';

/** Everything a fact depends on, written out; two requests share a fact only when all of it is equal. */
export interface EvidenceKey {
  readonly kind: EvidenceKind;
  readonly registry: string;
  readonly repository: string;
  /** `sha256:<hex>`: the digest the fact is about (resolved or written), never a tag. */
  readonly digest: string;
  /**
   * Where the fact is read from and with what: the registry client, offline or not, the content
   * source's location. Strings, so they compare exactly.
   */
  readonly scope: readonly string[];
  /** What was asked, exactly (signature sources and formats, attestation sources, base entries). */
  readonly asked: unknown;
}

export interface EvidenceMemoOptions {
  /** Default EVIDENCE_MEMO_MAX_ENTRIES. */
  readonly maxEntries?: number;
}

export interface EvidenceMemoStats {
  /** Facts gathered (registry work done). */
  readonly gathered: number;
  /** Facts reused from an earlier decision of the run. */
  readonly reused: number;
  /** Distinct digests some fact was gathered for. */
  readonly digests: number;
  /** Entries held now. */
  readonly size: number;
}

export class EvidenceMemoError extends Error {
  readonly code = 'EVIDENCE_MEMO';
}

export class EvidenceMemo {
  readonly #max: number;
  readonly #entries = new Map<string, Promise<unknown>>();
  // Bounded like the entries: counted for the report, never used to share anything.
  readonly #digests = new Set<string>();
  #gathered = 0;
  #reused = 0;

  constructor(options: EvidenceMemoOptions = {}) {
    const max = options.maxEntries ?? EVIDENCE_MEMO_MAX_ENTRIES;
    if (!Number.isInteger(max) || max < 1)
      throw new EvidenceMemoError(`maxEntries must be a whole number, at least 1 (got ${String(max)})`);
    this.#max = max;
  }

  /** The exact string a key compares as (JSON of every part, in a fixed order). */
  static keyOf(key: EvidenceKey): string {
    return JSON.stringify([key.kind, key.registry, key.repository, key.digest, key.scope, key.asked]);
  }

  /**
   * The fact for `key`: the one already gathered (or being gathered) in this run, else `gather()`'s.
   * A gather that rejects is forgotten (the error goes to its callers; the next asks again), and so is one
   * that settles after `signal` aborted: a fact cut short by one decision's deadline is not handed to
   * later decisions with deadlines of their own.
   */
  fact<T>(key: EvidenceKey, gather: () => Promise<T>, signal?: AbortSignal): Promise<T> {
    const id = EvidenceMemo.keyOf(key);
    const found = this.#entries.get(id);
    if (found) {
      this.#reused++;
      return found as Promise<T>;
    }
    this.#gathered++;
    if (this.#digests.size < this.#max) this.#digests.add(`${key.registry}/${key.repository}@${key.digest}`);
    const promise = gather();
    this.#entries.set(id, promise);
    const forget = () => {
      if (this.#entries.get(id) === promise) this.#entries.delete(id);
    };
    promise.then(() => {
      if (signal?.aborted) forget();
    }, forget);
    while (this.#entries.size > this.#max) {
      const oldest = this.#entries.keys().next().value as string;
      this.#entries.delete(oldest);
    }
    return promise;
  }

  get size(): number {
    return this.#entries.size;
  }

  stats(): EvidenceMemoStats {
    return {
      gathered: this.#gathered,
      reused: this.#reused,
      digests: this.#digests.size,
      size: this.#entries.size,
    };
  }
}

const ids = new WeakMap<object, number>();
let nextId = 0;

/**
 * A number for an object, the same for the object's lifetime: how a key names a registry client or a
 * compiled policy entry by identity, where identity is what the fact depends on.
 */
export function identityOf(object: object): number {
  let id = ids.get(object);
  if (id === undefined) {
    id = ++nextId;
    ids.set(object, id);
  }
  return id;
}
