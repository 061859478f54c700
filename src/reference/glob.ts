/**
 * A glob matcher that cannot blow up: the glob is run as an NFA over the input, one pass, keeping the set
 * of glob positions still alive. Time is O(input × glob) whatever the input, where a backtracking regex
 * (`^a.*a.*a.*...$`) can take time exponential in the number of stars on a hostile image name.
 */

/** `*`: any run of characters other than `/` (within one segment). */
export const STAR = 1;
/** `**`: any run of characters, `/` included. */
export const DOUBLE_STAR = 2;

/** A literal character, or one of the two wildcards. */
export type GlobToken = string | typeof STAR | typeof DOUBLE_STAR;

export type Matcher = (value: string) => boolean;

/** The glob's text as literal characters and wildcards; `**` is only distinct from `*` when it may cross `/`. */
export function tokenize(text: string, doubleStarCrossesSlash: boolean): GlobToken[] {
  const tokens: GlobToken[] = [];
  for (let i = 0; i < text.length; i++) {
    if (text[i] !== '*') {
      tokens.push(text[i]!);
      continue;
    }
    let j = i;
    while (j < text.length && text[j] === '*') j++;
    // A run of stars is one wildcard: `**` where it may cross `/`, else the same as `*`.
    tokens.push(doubleStarCrossesSlash && j - i >= 2 ? DOUBLE_STAR : STAR);
    i = j - 1;
  }
  return tokens;
}

/** The anchored matcher for `tokens`: the whole value must be consumed by the whole glob. */
export function compileTokens(tokens: readonly GlobToken[]): Matcher {
  if (tokens.every((t) => typeof t === 'string')) {
    const literal = tokens.join('');
    return (value) => value === literal;
  }
  const n = tokens.length;
  // Skipping a wildcard (matching it empty) is the only epsilon move, always from i to i + 1.
  const close = (set: Uint8Array) => {
    for (let i = 0; i < n; i++) if (set[i] === 1 && typeof tokens[i] !== 'string') set[i + 1] = 1;
  };
  return (value) => {
    let current = new Uint8Array(n + 1);
    let next = new Uint8Array(n + 1);
    current[0] = 1;
    close(current);
    for (let k = 0; k < value.length; k++) {
      const c = value[k];
      next.fill(0);
      let alive = false;
      for (let i = 0; i < n; i++) {
        if (current[i] !== 1) continue;
        const t = tokens[i];
        if (typeof t === 'string') {
          if (t === c) {
            next[i + 1] = 1;
            alive = true;
          }
        } else if (t === DOUBLE_STAR || c !== '/') {
          next[i] = 1;
          alive = true;
        }
      }
      if (!alive) return false;
      close(next);
      [current, next] = [next, current];
    }
    return current[n] === 1;
  };
}
