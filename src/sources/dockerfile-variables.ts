/**
 * Dockerfile variable substitution for the values that name images (`FROM`, `COPY --from`, `RUN --mount from=`),
 * following BuildKit's shell lexer: `$X`, `${X}`, `${X:-word}`, `${X-word}`, `${X:+word}`, `${X+word}`,
 * `${X:?message}`, `${X?message}`, quotes and the escape character.
 *
 * A variable with no value makes the result unresolvable: BuildKit would substitute an empty string and
 * build something else than what is written, so we refuse to guess and report why instead.
 */

export interface ArgValue {
  /** undefined: declared without a default and not passed as a build arg. */
  value: string | undefined;
  origin: 'default' | 'build-arg';
  notes: string[];
  unresolved: string[];
}

export type Scope = Map<string, ArgValue>;

export interface Expansion {
  value: string;
  notes: string[];
  /** Human-readable reasons why the value cannot be known statically; empty when resolved. */
  unresolved: string[];
}

/** Set by BuildKit for each build; usable in FROM without declaring them. */
export const PLATFORM_ARGS = new Set([
  'TARGETPLATFORM',
  'TARGETOS',
  'TARGETARCH',
  'TARGETVARIANT',
  'BUILDPLATFORM',
  'BUILDOS',
  'BUILDARCH',
  'BUILDVARIANT',
]);

export interface ScopeInfo {
  scope: Scope;
  /** Where an undeclared variable would have had to be declared, for the message. */
  declaredWhere: string;
  buildArgs: Readonly<Record<string, string>>;
  platformArgsVisible: boolean;
}

export function expand(word: string, escape: string, info: ScopeInfo): Expansion {
  const result: Expansion = { value: '', notes: [], unresolved: [] };
  let i = 0;
  const n = word.length;
  while (i < n) {
    const ch = word[i] ?? '';
    if (ch === escape) {
      result.value += word[i + 1] ?? escape;
      i += 2;
    } else if (ch === "'") {
      const end = word.indexOf("'", i + 1);
      const stop = end < 0 ? n : end;
      result.value += word.slice(i + 1, stop);
      i = stop + 1;
    } else if (ch === '"') {
      i++;
      while (i < n && word[i] !== '"') {
        const c = word[i] ?? '';
        if (c === escape && (word[i + 1] === '"' || word[i + 1] === '$' || word[i + 1] === escape)) {
          result.value += word[i + 1] ?? '';
          i += 2;
        } else if (c === '$') {
          i = dollar(word, i, escape, info, result);
        } else {
          result.value += c;
          i++;
        }
      }
      i++;
    } else if (ch === '$') {
      i = dollar(word, i, escape, info, result);
    } else {
      result.value += ch;
      i++;
    }
  }
  return result;
}

/** Expands the `$...` at `i` into `out`; returns the index after it. */
function dollar(word: string, i: number, escape: string, info: ScopeInfo, out: Expansion): number {
  const simple = /^[A-Za-z_][A-Za-z0-9_]*/.exec(word.slice(i + 1));
  if (simple !== null) {
    substitute(simple[0], '', '', escape, info, out);
    return i + 1 + simple[0].length;
  }
  if (word[i + 1] !== '{') {
    out.value += '$';
    return i + 1;
  }
  const close = matchingBrace(word, i + 2, escape);
  const body = word.slice(i + 2, close < 0 ? word.length : close);
  const next = close < 0 ? word.length : close + 1;
  if (close < 0) {
    out.unresolved.push(`unterminated variable "\${${body}"`);
    return next;
  }
  const match = /^([A-Za-z_][A-Za-z0-9_]*)(?:(:?[-+?])([\s\S]*))?$/.exec(body);
  if (match === null) {
    out.unresolved.push(`unsupported substitution "\${${body}}"`);
    return next;
  }
  substitute(match[1] ?? '', match[2] ?? '', match[3] ?? '', escape, info, out);
  return next;
}

function matchingBrace(word: string, from: number, escape: string): number {
  let depth = 1;
  for (let j = from; j < word.length; j++) {
    const c = word[j];
    if (c === escape) j++;
    else if (c === '$' && word[j + 1] === '{') {
      depth++;
      j++;
    } else if (c === '}' && --depth === 0) return j;
  }
  return -1;
}

function substitute(
  name: string,
  modifier: string,
  operand: string,
  escape: string,
  info: ScopeInfo,
  out: Expansion,
): void {
  const arg = lookup(name, info);
  const set = arg !== undefined && arg.value !== undefined;
  const nonEmpty = set && arg.value !== '';
  const expression = modifier === '' ? `$${name}` : `\${${name}${modifier}${operand}}`;
  const useOperand = (): void => {
    const inner = expand(operand, escape, info);
    out.value += inner.value;
    out.notes.push(...inner.notes);
    out.unresolved.push(...inner.unresolved);
  };
  const useValue = (): void => {
    if (arg === undefined || arg.value === undefined) return;
    out.value += arg.value;
    out.notes.push(
      `ARG ${name} substituted with ${arg.origin === 'build-arg' ? 'build arg' : 'default'} ${JSON.stringify(arg.value)}`,
      ...arg.notes,
    );
    out.unresolved.push(...arg.unresolved);
  };
  switch (modifier) {
    case '':
      if (set) useValue();
      else out.unresolved.push(whyUnset(name, arg, info));
      return;
    case ':-':
    case '-':
      if (modifier === ':-' ? nonEmpty : set) return useValue();
      out.notes.push(`${expression}: ARG ${name} is ${set ? 'empty' : 'not set'}, so the fallback was used`);
      return useOperand();
    case ':+':
    case '+':
      if (modifier === ':+' ? nonEmpty : set) {
        out.notes.push(`${expression}: ARG ${name} is set, so the alternative was used`);
        useOperand();
      }
      return;
    default:
      if (modifier === ':?' ? nonEmpty : set) return useValue();
      out.unresolved.push(`ARG ${name} is required${operand === '' ? '' : ` (${operand})`}; ${passIt(name)}`);
  }
}

function lookup(name: string, info: ScopeInfo): ArgValue | undefined {
  const declared = info.scope.get(name);
  if (declared !== undefined) return declared;
  if (info.platformArgsVisible && PLATFORM_ARGS.has(name)) {
    const passed = info.buildArgs[name];
    return { value: passed, origin: 'build-arg', notes: [], unresolved: [] };
  }
  return undefined;
}

function whyUnset(name: string, arg: ArgValue | undefined, info: ScopeInfo): string {
  if (arg === undefined) return `variable ${name} is not declared by an ARG ${info.declaredWhere}`;
  if (info.platformArgsVisible && PLATFORM_ARGS.has(name) && !info.scope.has(name)) {
    return `${name} is set by the builder for each target platform; ${passIt(name)}`;
  }
  return `ARG ${name} has no default; ${passIt(name)}`;
}

function passIt(name: string): string {
  return `pass it with --build-arg ${name}=<value> or give it a default in the Dockerfile`;
}
