/**
 * A content source for the length of one decision: the referrers of a digest are listed once, however
 * many rules (signatures, attestations) read them. Only the listing is shared, within one decision, so
 * nothing outlives the decision that asked; manifests and blobs are already cached by digest in the client.
 */
import type { ContentSource, Descriptor, ReferrersOptions } from './content.ts';

export function forOneDecision<S extends ContentSource>(source: S): S {
  const listed = new Map<string, Promise<readonly Descriptor[]>>();
  const referrers = (digest: string, options: ReferrersOptions = {}) => {
    const key = `${digest} ${options.artifactType ?? ''}`;
    let found = listed.get(key);
    if (!found) {
      found = source.referrers(digest, options);
      // A failed listing is not remembered: the next reader asks again (and fails closed on its own).
      found.catch(() => listed.delete(key));
      listed.set(key, found);
    }
    return found;
  };
  return new Proxy(source, {
    get(target, property, receiver) {
      if (property === 'referrers') return referrers;
      const value: unknown = Reflect.get(target, property, receiver);
      return typeof value === 'function' ? (value as (...a: unknown[]) => unknown).bind(target) : value;
    },
  });
}
