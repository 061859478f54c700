/**
 * The pieces of the distribution reference grammar (github.com/distribution/reference, regexp.go),
 * written as small scanners instead of regexes so that every rejection can name the first offending
 * character. Shared by the reference parser and the pattern compiler, which must agree exactly on what
 * a host, a path component, a tag and a digest are.
 *
 * Every scanner works on `s[start, end)` and reports positions as indexes into `s`, so callers never
 * have to translate offsets.
 */
import { isIPv6 } from 'node:net';

/** distribution's NameTotalLengthMax, applied to the normalized `registry/repository`. */
export const NAME_TOTAL_LENGTH_MAX = 255;
export const TAG_LENGTH_MAX = 128;
export const DOCKER_HUB = 'docker.io';
/**
 * Hosts that are Docker Hub under another name. distribution only folds `index.docker.io`; we also fold
 * `registry-1.docker.io` (the host Docker Hub's API is really served from), so that a policy written for
 * `docker.io` cannot be sidestepped by naming the same registry differently.
 */
export const DOCKER_HUB_ALIASES: readonly string[] = ['index.docker.io', 'registry-1.docker.io'];
export const OFFICIAL_PREFIX = 'library/';

/**
 * The digest algorithms we accept, with their hex lengths. Only algorithms we can recompute ourselves
 * (node:crypto) are accepted: a digest we cannot check proves nothing, so `blake3:` and other
 * OCI-registered or made-up algorithms are rejected rather than carried along unverified.
 */
export const DIGEST_HEX_LENGTH: ReadonlyMap<string, number> = new Map([
  ['sha256', 64],
  ['sha512', 128],
]);

export interface Problem {
  /** 0-based index into the scanned string. */
  readonly position: number;
  readonly detail: string;
}

const isDigit = (c: string) => c >= '0' && c <= '9';
const isLower = (c: string) => c >= 'a' && c <= 'z';
const isUpper = (c: string) => c >= 'A' && c <= 'Z';
const isLowerAlnum = (c: string) => isLower(c) || isDigit(c);
const isAlnum = (c: string) => isLowerAlnum(c) || isUpper(c);
const isWord = (c: string) => isAlnum(c) || c === '_';
const isHex = (c: string) => isDigit(c) || (c >= 'a' && c <= 'f');
const isPathSeparator = (c: string) => c === '.' || c === '_' || c === '-';

export { isUpper, isLowerAlnum, isAlnum, isWord, isDigit };

/** A character as a reader can see it: `'!'`, `' ' (space)`, `U+000A` for invisible ones. */
export function describeChar(s: string, index: number): string {
  const code = s.codePointAt(index) ?? 0;
  const ch = String.fromCodePoint(code);
  if (ch === ' ') return "' ' (space)";
  const invisible = code < 0x21 || (code >= 0x7f && code <= 0xa0) || (code >= 0xd800 && code <= 0xdfff);
  if (invisible || /\s/u.test(ch)) {
    return `U+${code.toString(16).toUpperCase().padStart(4, '0')}`;
  }
  return `'${ch}'`;
}

export function unexpected(s: string, index: number, where = ''): Problem {
  return { position: index, detail: `unexpected character ${describeChar(s, index)}${where}` };
}

/**
 * Whether the part before the first `/` names a registry: it contains `.` or `:`, or is `localhost`
 * (a bracketed IPv6 host always contains `:`; the `[` test only makes the intent explicit).
 *
 * Docker's splitDockerDomain also takes a first component with an upper-case letter as a host (`Foo/bar`
 * is host `Foo`). We do not: lower-cased, such a host would read back as a Docker Hub namespace, so no
 * canonical form could name it; and it is far more often a mistyped repository. It is refused instead
 * ("repository name must be lowercase"), which is fail-closed whichever was meant.
 */
export function looksLikeHost(first: string): boolean {
  return first.includes('.') || first.includes(':') || first === 'localhost' || first.startsWith('[');
}

/** `docker.io` for the Docker Hub aliases, the host unchanged otherwise (expects lower case). */
export function foldDockerHub(host: string): string {
  return DOCKER_HUB_ALIASES.includes(host) ? DOCKER_HUB : host;
}

/**
 * `host[:port]` where host is a DNS name, an IPv4 address or a bracketed IPv6 address. Returns the
 * normalized registry (lower case, IPv6 in its RFC 5952 short form, Docker Hub aliases folded) or the
 * problem. Stricter than distribution in three ways that all refuse ambiguity: the port must be
 * 1-65535 without leading zeros, and the IPv6 address must really be one; `localhost:05000` and
 * `localhost:5000` would otherwise be two spellings of one registry, and a deny-list would see only one.
 */
export function scanHost(s: string, start: number, end: number): Problem | { readonly host: string } {
  let i = start;
  let host: string;
  if (s[i] === '[') {
    const close = s.indexOf(']', i);
    if (close === -1 || close >= end)
      return { position: i, detail: "'[' without a closing ']' around an IPv6 address" };
    for (let k = i + 1; k < close; k++) {
      const c = s[k]!;
      if (!(isHex(c) || (c >= 'A' && c <= 'F') || c === ':')) return unexpected(s, k, ' in an IPv6 address');
    }
    const literal = s.slice(i + 1, close);
    if (!isIPv6(literal)) return { position: i + 1, detail: `'${literal}' is not a valid IPv6 address` };
    // The WHATWG URL parser prints IPv6 in the compressed lower-case form: one spelling per address.
    host = new URL(`http://[${literal}]/`).hostname;
    i = close + 1;
  } else {
    let componentStart = i;
    for (;;) {
      const c = i < end ? s[i]! : undefined;
      if (c === undefined || c === '.' || c === ':') {
        if (i === componentStart) {
          return { position: i, detail: i === start ? 'missing registry host' : 'empty host name component' };
        }
        if (s[i - 1] === '-') return { position: i - 1, detail: "host name component may not end with '-'" };
        if (c !== '.') break;
        componentStart = ++i;
        continue;
      }
      if (c === '-') {
        if (i === componentStart)
          return { position: i, detail: "host name component may not start with '-'" };
      } else if (!isAlnum(c)) {
        return unexpected(s, i, ' in the registry host');
      }
      i++;
    }
    host = s.slice(start, i).toLowerCase();
  }
  if (i < end) {
    if (s[i] !== ':') return unexpected(s, i, ' after the registry host');
    const portStart = i + 1;
    if (portStart === end) return { position: i, detail: "':' must be followed by a port number" };
    for (let k = portStart; k < end; k++) if (!isDigit(s[k]!)) return unexpected(s, k, ' in the port number');
    const digits = s.slice(portStart, end);
    if (digits.startsWith('0')) return { position: portStart, detail: 'port number may not start with 0' };
    if (digits.length > 5 || Number(digits) > 65535) {
      return { position: portStart, detail: `port number ${digits} is out of range (1-65535)` };
    }
    host += `:${digits}`;
  }
  return { host: foldDockerHub(host) };
}

/** One path component: `[a-z0-9]+(?:(?:[._]|__|[-]+)[a-z0-9]+)*`. */
export function pathComponentProblem(s: string, start: number, end: number): Problem | undefined {
  if (start === end) return { position: start, detail: 'empty path component' };
  let i = start;
  while (i < end) {
    const c = s[i]!;
    if (isLowerAlnum(c)) {
      i++;
    } else if (isUpper(c)) {
      return { position: i, detail: 'repository name must be lowercase' };
    } else if (isPathSeparator(c)) {
      let j = i;
      while (j < end && isPathSeparator(s[j]!)) j++;
      const run = s.slice(i, j);
      if (i === start) return { position: i, detail: `path component may not start with '${c}'` };
      if (j === end) return { position: i, detail: `path component may not end with '${run}'` };
      if (!(run === '.' || run === '_' || run === '__' || /^-+$/.test(run))) {
        return {
          position: i,
          detail: `'${run}' is not a valid separator (use '.', '_', '__' or a run of '-')`,
        };
      }
      i = j;
    } else {
      return unexpected(s, i);
    }
  }
  return undefined;
}

/** A path: components separated by `/`. */
export function pathProblem(s: string, start: number, end: number): Problem | undefined {
  let componentStart = start;
  for (let i = start; i <= end; i++) {
    if (i === end || s[i] === '/') {
      const problem = pathComponentProblem(s, componentStart, i);
      if (problem) return problem;
      componentStart = i + 1;
    }
  }
  return undefined;
}

/** A tag: `[\w][\w.-]{0,127}`. `start === end` is the caller's to report (it knows where the `:` is). */
export function tagProblem(s: string, start: number, end: number): Problem | undefined {
  for (let i = start; i < end; i++) {
    const c = s[i]!;
    if (i - start >= TAG_LENGTH_MAX)
      return { position: i, detail: `tag is longer than ${TAG_LENGTH_MAX} characters` };
    if (isWord(c)) continue;
    if (c === '.' || c === '-') {
      if (i === start) return { position: i, detail: `tag may not start with '${c}'` };
      continue;
    }
    return unexpected(s, i, ' in the tag');
  }
  return undefined;
}

/**
 * A digest, `algorithm:hex`. The algorithm is first checked against the OCI image-spec grammar
 * (`[a-z0-9]+(?:[+._-][a-z0-9]+)*`) so a typo and an unsupported algorithm get different messages;
 * then only sha256 (64 hex) and sha512 (128 hex) are accepted, lower-case hex only, as go-digest requires.
 */
export function digestProblem(s: string, start: number, end: number): Problem | undefined {
  let colon = -1;
  for (let i = start; i < end; i++) {
    if (s[i] === ':') {
      colon = i;
      break;
    }
  }
  if (colon === -1) {
    return {
      position: start,
      detail: 'digest must be written as algorithm:hex, e.g. sha256:<64 hex characters>',
    };
  }
  if (colon === start) return { position: start, detail: "missing digest algorithm before ':'" };
  for (let i = start; i < colon; i++) {
    const c = s[i]!;
    if (isUpper(c)) return { position: i, detail: 'digest algorithm must be lowercase' };
    if (!(isLowerAlnum(c) || c === '+' || c === '.' || c === '_' || c === '-'))
      return unexpected(s, i, ' in the digest');
  }
  const algorithm = s.slice(start, colon);
  if (!/^[a-z0-9]+(?:[+._-][a-z0-9]+)*$/.test(algorithm)) {
    return { position: start, detail: `'${algorithm}' is not a valid digest algorithm name` };
  }
  const expected = DIGEST_HEX_LENGTH.get(algorithm);
  if (expected === undefined) {
    return {
      position: start,
      detail: `unsupported digest algorithm '${algorithm}' (supported: sha256, sha512)`,
    };
  }
  const hexStart = colon + 1;
  const found = end - hexStart;
  const wrongLength = `digest ${algorithm} must have ${expected} hex characters, found ${found}`;
  for (let i = hexStart; i < end; i++) {
    if (i - hexStart >= expected) return { position: i, detail: wrongLength };
    const c = s[i]!;
    if (isHex(c)) continue;
    if (c >= 'A' && c <= 'F') return { position: i, detail: 'digest hex must be lowercase' };
    return unexpected(s, i, ' in the digest');
  }
  if (found < expected) return { position: hexStart, detail: wrongLength };
  return undefined;
}

/** The problem with a digest written on its own (a policy's digest list), or undefined when it is valid. */
export function checkDigest(digest: string): Problem | undefined {
  if (digest.length === 0) return { position: 0, detail: 'empty digest' };
  return digestProblem(digest, 0, digest.length);
}
