/**
 * A namespace's labels at admission, for policies with `spec.match.namespaceSelector`. Read through the
 * API and kept for NAMESPACE_LABEL_LIMITS.ttlMs, so a burst of pods in one namespace costs one read: a
 * label change applies to requests from a few seconds later.
 */
import type { KubernetesApi } from './api.ts';
import { LookupCache } from './lookup-cache.ts';

export type Labels = Readonly<Record<string, string>>;

export const NAMESPACE_LABEL_LIMITS = { ttlMs: 5_000, entries: 4096 } as const;

/**
 * The labels of a namespace (`{}` when it has none); undefined when it does not exist. Rejects when
 * the API cannot be asked (the caller then treats the labels as unknown).
 */
export function namespaceLabelReader(
  api: Pick<KubernetesApi, 'getNamespace'>,
  now?: () => number,
): (namespace: string) => Promise<Labels | undefined> {
  const cache = new LookupCache<Labels | undefined>({
    ttlMs: NAMESPACE_LABEL_LIMITS.ttlMs,
    maxEntries: NAMESPACE_LABEL_LIMITS.entries,
    ...(now ? { now } : {}),
  });
  return (namespace) =>
    cache.get(namespace, async () => {
      const found = await api.getNamespace(namespace);
      return found ? (found.metadata.labels ?? {}) : undefined;
    });
}
