/**
 * Dockerfile lexical structure, following BuildKit's parser: parser directives (`# escape=`), comments,
 * line continuations with the escape character, heredocs, and positions mapped back to physical lines.
 */

export interface Segment {
  /** Offset of the segment's first character in the joined instruction text. */
  start: number;
  line: number;
  column: number;
}

export interface Instruction {
  keyword: string;
  /** The instruction text after the keyword, continuation lines joined. */
  args: string;
  /** Offset of `args` in the joined text, for `positionOf`. */
  argsOffset: number;
  segments: Segment[];
  line: number;
}

export interface LexedDockerfile {
  escape: string;
  instructions: Instruction[];
  problems: { line: number; column: number; message: string }[];
}

const DIRECTIVE = /^#[ \t]*([a-zA-Z][a-zA-Z0-9]*)[ \t]*=[ \t]*(.+?)[ \t]*$/;
const KNOWN_DIRECTIVES = new Set(['syntax', 'escape', 'check']);
const HEREDOC_WORD = /^\d*<<(-?)(["']?)([A-Za-z0-9_.-]+)\2/;
/** Real Dockerfiles stay far below this; it bounds the per-instruction position map. */
const MAX_CONTINUATION_LINES = 10_000;
const HEREDOC_INSTRUCTIONS = new Set(['RUN', 'COPY', 'ADD']);

/**
 * Only instructions that can name an image or a variable are kept, so that a huge Dockerfile of other
 * instructions costs little memory: FROM, ARG, and COPY/RUN with flags (`--from=`, `--mount=...,from=`).
 */
function isRelevant(instruction: Instruction): boolean {
  switch (instruction.keyword) {
    case 'FROM':
    case 'ARG':
      return true;
    case 'COPY':
    case 'RUN':
      return instruction.args.startsWith('--');
    default:
      return false;
  }
}

export function lexDockerfile(text: string): LexedDockerfile {
  const lines = text.replace(/^\uFEFF/, '').split(/\r?\n/);
  const problems: LexedDockerfile['problems'] = [];
  let escape = '\\';
  let index = 0;
  // Directives are only recognised before the first comment, blank line or instruction.
  for (; index < lines.length; index++) {
    const match = DIRECTIVE.exec(lines[index] ?? '');
    if (match === null || !KNOWN_DIRECTIVES.has((match[1] ?? '').toLowerCase())) break;
    if ((match[1] ?? '').toLowerCase() === 'escape') {
      const value = match[2] ?? '';
      if (value !== '\\' && value !== '`') {
        problems.push({
          line: index + 1,
          column: 1,
          message: `invalid escape directive "${value}": must be \\ or \``,
        });
      } else {
        escape = value;
      }
    }
  }
  const continuation = new RegExp(`${escape === '\\' ? '\\\\' : '`'}[ \\t]*$`);
  const instructions: Instruction[] = [];
  let joined = '';
  let segments: Segment[] = [];
  let last: Instruction | undefined;
  const finish = (): void => {
    const match = /^(\s*)(\S+)(\s*)/.exec(joined);
    last = undefined;
    if (match !== null) {
      const argsOffset = match[0].length;
      last = {
        keyword: (match[2] ?? '').toUpperCase(),
        args: joined.slice(argsOffset).trimEnd(),
        argsOffset,
        segments,
        line: segments[0]?.line ?? 1,
      };
      if (isRelevant(last)) instructions.push(last);
    }
    joined = '';
    segments = [];
  };
  for (; index < lines.length; index++) {
    const line = lines[index] ?? '';
    // Comment and blank lines are dropped everywhere, also between continuation lines (as BuildKit does).
    if (/^\s*(#|$)/.test(line)) continue;
    const cont = continuation.exec(line);
    const content = cont === null ? line : line.slice(0, cont.index);
    if (segments.length === MAX_CONTINUATION_LINES) {
      const message = `instruction starting on line ${segments[0]?.line ?? 1} continues over more than ${MAX_CONTINUATION_LINES} lines; the rest of the file was not read`;
      problems.push({ line: index + 1, column: 1, message });
      return { escape, instructions, problems };
    }
    segments.push({ start: joined.length, line: index + 1, column: 1 });
    joined += content;
    if (cont !== null) continue;
    finish();
    index = skipHeredocs(lines, index, last, problems);
  }
  if (segments.length > 0) finish();
  return { escape, instructions, problems };
}

/** Skips the bodies of `RUN <<EOF` style heredocs so that their lines are never read as instructions. */
function skipHeredocs(
  lines: string[],
  index: number,
  instruction: Instruction | undefined,
  problems: LexedDockerfile['problems'],
): number {
  if (
    instruction === undefined ||
    !HEREDOC_INSTRUCTIONS.has(instruction.keyword) ||
    !instruction.args.includes('<<')
  ) {
    return index;
  }
  const markers: { strip: boolean; name: string }[] = [];
  for (const word of instruction.args.split(/\s+/)) {
    const match = HEREDOC_WORD.exec(word);
    if (match !== null) markers.push({ strip: match[1] === '-', name: match[3] ?? '' });
  }
  let at = index;
  for (const marker of markers) {
    for (;;) {
      at++;
      if (at >= lines.length) {
        const message = `heredoc <<${marker.name} started on line ${instruction.line} is never terminated`;
        problems.push({ line: instruction.line, column: 1, message });
        return at;
      }
      const body = marker.strip ? (lines[at] ?? '').replace(/^\t+/, '') : (lines[at] ?? '');
      if (body === marker.name) break;
    }
  }
  return at;
}

/** Physical position of an offset into `args`. */
export function positionOf(instruction: Instruction, argsIndex: number): { line: number; column: number } {
  const offset = instruction.argsOffset + argsIndex;
  let segment = instruction.segments[0] ?? { start: 0, line: instruction.line, column: 1 };
  for (const candidate of instruction.segments) {
    if (candidate.start > offset) break;
    segment = candidate;
  }
  return { line: segment.line, column: segment.column + offset - segment.start };
}

export interface Word {
  text: string;
  /** Offset of the word's first character in the string it was split from. */
  offset: number;
}

/** Splits on whitespace outside quotes and `${...}`, keeping quotes and escapes for the expander. */
export function splitWords(input: string, escape: string): Word[] {
  const words: Word[] = [];
  let start = -1;
  let quote = '';
  for (let i = 0; i < input.length; i++) {
    const ch = input[i] ?? '';
    const space = ch === ' ' || ch === '\t' || ch === '\n' || ch === '\r';
    if (start < 0) {
      if (space) continue;
      start = i;
    }
    if (quote !== '') {
      if (ch === escape && quote === '"') i++;
      else if (ch === quote) quote = '';
      continue;
    }
    if (ch === escape) i++;
    else if (ch === '"' || ch === "'") quote = ch;
    else if (ch === '$' && input[i + 1] === '{') i = closingBrace(input, i + 2, escape);
    else if (space) {
      words.push({ text: input.slice(start, i), offset: start });
      start = -1;
    }
  }
  if (start >= 0) words.push({ text: input.slice(start), offset: start });
  return words;
}

/** Index of the `}` closing a `${` whose body starts at `from` (nested `${}` included), or the end. */
function closingBrace(input: string, from: number, escape: string): number {
  let depth = 1;
  for (let j = from; j < input.length; j++) {
    const c = input[j];
    if (c === escape) j++;
    else if (c === '$' && input[j + 1] === '{') {
      depth++;
      j++;
    } else if (c === '}' && --depth === 0) return j;
  }
  return input.length - 1;
}
