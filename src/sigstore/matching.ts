/**
 * Counting distinct signers for thresholds: each authority counts once and each signature (by its id) at
 * most once, assigned by a maximum bipartite matching (Kuhn's augmenting paths), so the order in which
 * authorities are listed can never make a satisfiable threshold fail.
 */
export function maximumMatching<A>(
  names: Iterable<string>,
  candidates: ReadonlyMap<string, readonly A[]>,
  signatureId: (attempt: A) => string,
): Map<string, A> {
  const owner = new Map<string, string>(); // signature id -> authority name
  const chosen = new Map<string, A>(); // authority name -> attempt
  const assign = (name: string, seen: Set<string>): boolean => {
    for (const a of candidates.get(name) ?? []) {
      const sid = signatureId(a);
      if (seen.has(sid)) continue;
      seen.add(sid);
      const current = owner.get(sid);
      if (current === undefined || assign(current, seen)) {
        owner.set(sid, name);
        chosen.set(name, a);
        return true;
      }
    }
    return false;
  };
  for (const name of names) assign(name, new Set());
  return chosen;
}
