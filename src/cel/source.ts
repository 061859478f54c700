/**
 * A light pass over the source text before the parser sees it.
 *
 * The parser recurses on nesting and reports only where it stopped, which for an unclosed bracket
 * or string is often far from the mistake. This pass bounds nesting (so the parser cannot overflow
 * the stack) and finds unclosed strings and unbalanced brackets to report at the right place.
 */
export interface SourceProblem {
  readonly message: string;
  readonly offset: number;
}

export interface SourceScan {
  /** Nesting beyond the limit: always an error. */
  readonly tooDeep?: SourceProblem;
  /** An unclosed string or unbalanced bracket: the better report when the parser also fails. */
  readonly syntax?: SourceProblem;
}

const CLOSER: Record<string, string> = { '(': ')', '[': ']', '{': '}' };

export function scanSource(src: string, maxNesting: number): SourceScan {
  const open: { char: string; offset: number }[] = [];
  let i = 0;
  while (i < src.length) {
    const c = src[i]!;
    if (c === '/' && src[i + 1] === '/') {
      while (i < src.length && src[i] !== '\n') i++;
      continue;
    }
    if (c === '"' || c === "'") {
      const end = skipString(src, i);
      if (end < 0) return { syntax: { message: 'string literal is not closed', offset: i } };
      i = end;
      continue;
    }
    if (c in CLOSER) {
      open.push({ char: c, offset: i });
      if (open.length > maxNesting) {
        return {
          tooDeep: { message: `expression is nested more than ${maxNesting} levels deep`, offset: i },
        };
      }
    } else if (c === ')' || c === ']' || c === '}') {
      const top = open.pop();
      if (top === undefined)
        return { syntax: { message: `'${c}' has no matching opening bracket`, offset: i } };
      if (CLOSER[top.char] !== c) {
        return {
          syntax: {
            message: `'${c}' does not close '${top.char}' opened at column ${column(src, top.offset)}`,
            offset: i,
          },
        };
      }
    }
    i++;
  }
  const last = open.pop();
  if (last !== undefined) return { syntax: { message: `'${last.char}' is not closed`, offset: last.offset } };
  return {};
}

/** Returns the offset just past the string literal starting at `start`, or -1 if it is not closed. */
export function skipString(src: string, start: number): number {
  const quote = src[start]!;
  // A raw string (r'...', rb'...', br'...') has no escapes.
  let p = start;
  while (p > 0 && start - p < 2 && /[rRbB]/.test(src[p - 1]!)) p--;
  const raw = /[rR]/.test(src.slice(p, start)) && (p === 0 || !/[A-Za-z0-9_]/.test(src[p - 1]!));
  const triple = src.startsWith(quote.repeat(3), start);
  const delimiter = triple ? quote.repeat(3) : quote;
  let i = start + delimiter.length;
  while (i < src.length) {
    if (!raw && src[i] === '\\') {
      i += 2;
      continue;
    }
    if (!triple && src[i] === '\n') return -1;
    if (src.startsWith(delimiter, i)) return i + delimiter.length;
    i++;
  }
  return -1;
}

/** 1-based line and column of a 0-based offset (columns in UTF-16 code units, as JavaScript counts). */
export function lineAndColumn(src: string, offset: number): { line: number; column: number } {
  let line = 1;
  let lineStart = 0;
  for (let i = 0; i < offset && i < src.length; i++) {
    if (src[i] === '\n') {
      line++;
      lineStart = i + 1;
    }
  }
  return { line, column: offset - lineStart + 1 };
}

function column(src: string, offset: number): number {
  return lineAndColumn(src, offset).column;
}
