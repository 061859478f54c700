/**
 * Where a syntax error is.
 *
 * The parser reports where its top-level expression stopped, which can be far before the mistake:
 * for `f(x ==)` it reports the start of `f`. The mistake is where the text stops being the beginning
 * of some valid expression. This finds that point by binary search over prefixes, asking the parser
 * whether each prefix, closed with the brackets and quotes it leaves open and perhaps an operand,
 * parses. Used only for expressions short enough that the extra parses are cheap.
 */
import { skipString } from './source.ts';

export const LOCATE_MAX_LENGTH = 2_000;

const CLOSER: Record<string, string> = { '(': ')', '[': ']', '{': '}' };
// Whatever might be missing right at the cut: nothing, an operand, a map value, a map entry.
const FILLERS = ['', ' x', ':x', ' x:x'];

/** The text that closes what `prefix` leaves open: a string or comment, then brackets. */
function closing(prefix: string): string {
  const open: string[] = [];
  let i = 0;
  while (i < prefix.length) {
    const c = prefix[i]!;
    if (c === '/' && prefix[i + 1] === '/') {
      const end = prefix.indexOf('\n', i);
      if (end < 0) return `\n${open.reverse().join('')}`;
      i = end;
      continue;
    }
    if (c === '"' || c === "'") {
      const end = skipString(prefix, i);
      if (end < 0) {
        const triple = prefix.startsWith(c.repeat(3), i);
        return `${triple ? c.repeat(3) : c}${open.reverse().join('')}`;
      }
      i = end;
      continue;
    }
    if (c in CLOSER) open.push(CLOSER[c]!);
    else if (c === ')' || c === ']' || c === '}') open.pop();
    i++;
  }
  return open.reverse().join('');
}

/**
 * The offset of the first character that cannot continue a valid expression, at or after `from`
 * (where the parser stopped); `src.length` when the expression is merely incomplete.
 */
export function locateSyntaxError(src: string, from: number, parses: (text: string) => boolean): number {
  const viableAt = (p: number): boolean => {
    const prefix = src.slice(0, p);
    const close = closing(prefix);
    return FILLERS.some((filler) => parses(prefix + filler + close));
  };
  // A two-character operator cut in half (`=` of `==`) is not viable while its whole is: look one
  // character ahead so such a dip does not end the search early.
  const viable = (p: number): boolean => viableAt(p) || (p < src.length && viableAt(p + 1));
  let lo = Math.max(0, Math.min(from, src.length));
  let hi = src.length;
  while (lo < hi) {
    const mid = Math.ceil((lo + hi) / 2);
    if (viable(mid)) lo = mid;
    else hi = mid - 1;
  }
  // `lo` may be the first half of a two-character operator or end in spaces: the mistake is the next token.
  while (lo < src.length && viableAt(lo + 1) && !/\s/.test(src[lo]!)) lo++;
  while (lo < src.length && /\s/.test(src[lo]!)) lo++;
  return lo;
}

/** The token at `offset`, for messages: a word, a number, an operator, a string literal, or one character. */
export function tokenAt(src: string, offset: number): string {
  const c = src[offset];
  if (c === '"' || c === "'") {
    const end = skipString(src, offset);
    const literal = src.slice(offset, end < 0 ? src.length : end);
    return `string ${literal.length > 40 ? `${literal.slice(0, 40)}...` : literal}`;
  }
  const word = /^[A-Za-z_0-9]+/.exec(src.slice(offset));
  if (word !== null) return word[0].slice(0, 40);
  const op = /^(==|!=|<=|>=|&&|\|\|)/.exec(src.slice(offset));
  return op !== null ? op[0] : src.slice(offset, offset + 1);
}
