/**
 * Image patterns
 * ==============
 *
 * An image pattern is a glob over the normalized image reference. It has a name part and optional tag and
 * digest parts: `NAME[:TAG][@DIGEST]`. The digest part starts at the first `@`; the tag part starts at the
 * first `:` after the last `/` of what precedes it (a `:` before a later `/` is a registry port, so
 * `localhost:5000/app` has no tag part while `app:5000` has the tag part `5000`, as in references).
 *
 * Name part. Matched against the image's normalized `registry/repository` (`docker.io/library/nginx`):
 * - `*` matches any run of characters within one path segment (never `/`), including none;
 * - `**` matches any run of characters, `/` included, including none;
 * - every other character matches itself. Matching is anchored at both ends: the whole name must match,
 *   so `ghcr.io/foo` does not match `prefix-ghcr.io/foo`, and `.` is not a wildcard (`ghcr.io/**` does not
 *   match `ghcrxio/foo`).
 * - `**` is plain text matching, so `ghcr.io/acme/**` matches `ghcr.io/acme/app` and
 *   `ghcr.io/acme/team/app` but NOT the repository `ghcr.io/acme` itself (the `/` is literal; list
 *   `ghcr.io/acme` as well to include it); likewise `ghcr.io/**` + `/app` needs both of its `/`, so it
 *   matches `ghcr.io/x/app` but not `ghcr.io/app`. `ghcr.io/acme**` also matches `ghcr.io/acme-other/app`:
 *   end a namespace with `/**`.
 *
 * Normalization. A pattern is written like a reference and normalized like one, unless its first segment
 * (the text before the first `/`) contains a wildcard:
 * - first segment with a wildcard (`*` / `**`, `*.example.com/**`, `*:5000/app`): used as written, and
 *   matched against `registry/repository`, so its first segment meets the registry host;
 * - first segment that is a host (contains `.` or `:` or is `localhost`, and is followed by `/`): the
 *   host is lower-cased, `index.docker.io` and `registry-1.docker.io` become
 *   `docker.io`, and a bracketed IPv6 address is written in its short form;
 * - otherwise the pattern is on Docker Hub: `nginx` is `docker.io/library/nginx`, `acme/app` is
 *   `docker.io/acme/app`, `acme/*` is `docker.io/acme/*`;
 * - on Docker Hub a one-segment repository without `**` gets `library/`, exactly as references do:
 *   `docker.io/nginx*` is `docker.io/library/nginx*`, `docker.io/*` is `docker.io/library/*` (the official
 *   images), while `docker.io/**` is every Docker Hub image.
 * A pattern that could never match is an error: one without `/` or `**` after normalization (every image
 * name has a registry and a repository; `*` alone is refused, write `**` for every image).
 *
 * Tag part. If present, the image must have a tag matching it, where `*` (or `**`) matches any run of
 * characters. An image written with neither tag nor digest is pulled as `latest`, so it has the tag
 * `latest` here. An image written with only a digest has no tag, and a pattern with a tag part does not
 * match it. Tags are case-sensitive.
 *
 * Digest part. If present, the image must be written with a digest matching it; `*` matches any run of
 * characters (`@sha256:*` means "pinned by a sha256 digest"). A digest part without a wildcard must be a
 * valid sha256/sha512 digest. A pattern without tag or digest part matches any tag and any digest.
 *
 * Alphabet. Name parts may use lower-case letters, digits, `.`, `_`, `-`, `/`, a `:port` in the host, a
 * leading bracketed IPv6 host, and `*`; upper case only in a host. Anything else is an error with its
 * position: character classes (`[a-z]`), `?`, regex syntax (`.+` is a literal `.` then an invalid `+`),
 * spaces, and runs of three or more `*`. Literal path segments and hosts must be valid reference syntax;
 * a path segment with a wildcard must still not start or end with `.`, `_` or `-` (it could never match).
 *
 * Matching runs the glob as an NFA over the input (glob.ts), in time linear in the input for a given
 * pattern; no input can make it backtrack.
 *
 * String patterns (tags) and host patterns (registries) are single strings: `*` matches any run of
 * characters, everything else matches itself, anchored at both ends; `?` and character classes are not
 * supported. Host patterns are lower-cased and Docker Hub aliases folded, like registries in references,
 * so `*.example.com` matches `a.example.com` and `a.b.example.com`, but not `example.com` or
 * `a.example.com:5000`.
 */
import type { ImagePattern, StringPattern } from '../policy/model.ts';
import type { ImageReference } from './types.ts';
import type { Problem } from './grammar.ts';
import {
  DOCKER_HUB,
  OFFICIAL_PREFIX,
  describeChar,
  digestProblem,
  isAlnum,
  isLowerAlnum,
  isUpper,
  isWord,
  looksLikeHost,
  pathComponentProblem,
  scanHost,
  tagProblem,
  DIGEST_HEX_LENGTH,
} from './grammar.ts';
import type { Matcher } from './glob.ts';
import { compileTokens, tokenize } from './glob.ts';

/** Patterns come from policy files; anything longer is a mistake, and the matcher's cost grows with it. */
export const PATTERN_LENGTH_MAX = 1024;
const QUOTED_PATTERN_MAX = 300;

export class PatternError extends Error {
  readonly code = 'PATTERN_INVALID';
  readonly pattern: string;
  /** 0-based index into `pattern`. */
  readonly position: number;
  readonly detail: string;
  constructor(pattern: string, position: number, detail: string) {
    const shown =
      pattern.length > QUOTED_PATTERN_MAX
        ? `${JSON.stringify(pattern.slice(0, QUOTED_PATTERN_MAX))}... (${pattern.length} characters)`
        : JSON.stringify(pattern);
    super(`invalid pattern ${shown}: ${detail} at position ${position + 1}`);
    this.name = 'PatternError';
    this.pattern = pattern;
    this.position = position;
    this.detail = detail;
  }
}

/** An image pattern with the normalized glob it matches by (`nginx` -> `docker.io/library/nginx`). */
export interface CompiledImagePattern extends ImagePattern {
  readonly normalized: string;
}

function fail(pattern: string, position: number, detail: string): never {
  throw new PatternError(pattern, position, detail);
}

function failWith(pattern: string, problem: Problem): never {
  throw new PatternError(pattern, problem.position, problem.detail);
}

function checkText(glob: string): void {
  if (typeof glob !== 'string') fail(String(glob), 0, `pattern must be a string, not ${typeof glob}`);
  if (glob.length === 0) fail(glob, 0, 'empty pattern');
  if (glob.length > PATTERN_LENGTH_MAX)
    fail(glob, PATTERN_LENGTH_MAX, `pattern is longer than ${PATTERN_LENGTH_MAX} characters`);
}

/** Why `glob[i]` is refused, with a hint for the usual mix-ups with other pattern languages. */
function refuse(glob: string, i: number, where: string): never {
  const c = glob[i]!;
  if (c === '?') fail(glob, i, `'?' is not a wildcard here: only '*' and '**' are`);
  if (c === '[' || c === ']' || c === '{' || c === '}') {
    fail(glob, i, `'${c}' is not allowed${where}: character classes and alternatives are not supported`);
  }
  if ('+()|^$\\'.includes(c))
    fail(glob, i, `'${c}' is not allowed${where}: patterns are globs, not regular expressions`);
  fail(glob, i, `unexpected character ${describeChar(glob, i)}${where}`);
}

export function compileImagePattern(glob: string): CompiledImagePattern {
  checkText(glob);
  const at = glob.indexOf('@');
  const nameTagEnd = at === -1 ? glob.length : at;
  const lastSlash = nameTagEnd === 0 ? -1 : glob.lastIndexOf('/', nameTagEnd - 1);
  let colon = glob.indexOf(':', lastSlash + 1);
  if (colon >= nameTagEnd) colon = -1;
  const nameEnd = colon === -1 ? nameTagEnd : colon;
  if (nameEnd === 0) fail(glob, 0, "missing image name (write '**' for any image)");

  const name = normalizeNamePart(glob, nameEnd);
  const nameMatcher = compileTokens(tokenize(name, true));
  let normalized = name;

  let tagMatcher: Matcher | undefined;
  if (colon !== -1) {
    const tag = tagPart(glob, colon, nameTagEnd);
    tagMatcher = compileTokens(tokenize(tag, false));
    normalized += `:${tag}`;
  }
  let digestMatcher: Matcher | undefined;
  if (at !== -1) {
    const digest = digestPart(glob, at);
    digestMatcher = compileTokens(tokenize(digest, false));
    normalized += `@${digest}`;
  }

  return Object.freeze({
    pattern: glob,
    normalized,
    matches(ref: ImageReference): boolean {
      if (!nameMatcher(`${ref.registry}/${ref.repository}`)) return false;
      if (tagMatcher) {
        // What the runtime pulls: `latest` when nothing is written, no tag at all when only a digest is.
        const tag = ref.tag ?? (ref.digest === undefined ? 'latest' : undefined);
        if (tag === undefined || !tagMatcher(tag)) return false;
      }
      if (digestMatcher && (ref.digest === undefined || !digestMatcher(ref.digest))) return false;
      return true;
    },
  });
}

/** The normalized name glob for `glob[0, end)`, or a PatternError. */
function normalizeNamePart(glob: string, end: number): string {
  const slash = glob.indexOf('/');
  const hasSlash = slash !== -1 && slash < end;
  const firstEnd = hasSlash ? slash : end;
  const first = glob.slice(0, firstEnd);
  const firstIsHost = hasSlash && looksLikeHost(first);
  const ipv6 = hasSlash && glob[0] === '[';
  const closing = ipv6 ? glob.indexOf(']') : -1;

  // One left-to-right pass over the characters, so the first offending one is reported.
  for (let i = 0; i < end; i++) {
    const c = glob[i]!;
    if (c === '*') {
      let j = i;
      while (j < end && glob[j] === '*') j++;
      if (j - i > 2)
        fail(
          glob,
          i,
          `'${'*'.repeat(j - i)}' is not a wildcard: use '*' within a segment or '**' across segments`,
        );
      if (ipv6 && i < firstEnd) fail(glob, i, 'an IPv6 host cannot contain wildcards');
      i = j - 1;
    } else if (isLowerAlnum(c) || c === '.' || c === '-' || c === '_' || c === '/') {
      continue;
    } else if (isUpper(c)) {
      if (!(i < firstEnd && (firstIsHost || (hasSlash && first.includes('*'))))) {
        fail(glob, i, 'repository name must be lowercase');
      }
    } else if (c === ':') {
      if (!(hasSlash && i < firstEnd))
        fail(glob, i, "':' is only allowed in the registry host, for its port");
    } else if ((c === '[' && i === 0 && ipv6) || (c === ']' && i === closing && i < firstEnd)) {
      continue;
    } else {
      refuse(glob, i, i < firstEnd && hasSlash ? ' in the registry host' : '');
    }
  }

  if (first.includes('*')) {
    // Used as written: the first segment meets the registry host.
    for (let i = 0; i < firstEnd; i++) if (glob[i] === '_') refuse(glob, i, ' in the registry host');
    if (hasSlash) checkPathSegments(glob, firstEnd + 1, end);
    const text = first.toLowerCase() + glob.slice(firstEnd, end);
    if (!text.includes('/') && !text.includes('**')) {
      const example = text === '*' ? '' : ` or 'docker.io/library/${text}'`;
      fail(
        glob,
        0,
        "this pattern can never match: image names are matched as registry/repository, so a pattern needs a '/' " +
          `or '**' (write '**' for every image${example})`,
      );
    }
    return text;
  }

  let registry = DOCKER_HUB;
  let pathStart = 0;
  if (firstIsHost) {
    const scanned = scanHost(glob, 0, firstEnd);
    if (!('host' in scanned)) failWith(glob, scanned);
    registry = scanned.host;
    pathStart = firstEnd + 1;
  }
  checkPathSegments(glob, pathStart, end);
  const path = glob.slice(pathStart, end);
  const official = registry === DOCKER_HUB && !path.includes('/') && !path.includes('**');
  return `${registry}/${official ? OFFICIAL_PREFIX : ''}${path}`;
}

/** Path segments in `[start, end)`: non-empty, and valid path components when they have no wildcard. */
function checkPathSegments(glob: string, start: number, end: number): void {
  let segmentStart = start;
  for (let i = start; i <= end; i++) {
    if (i < end && glob[i] !== '/') continue;
    const segment = glob.slice(segmentStart, i);
    if (segment.length === 0) fail(glob, segmentStart, 'empty path segment');
    if (!segment.includes('*')) {
      const problem = pathComponentProblem(glob, segmentStart, i);
      if (problem) failWith(glob, problem);
    } else {
      // A component starts and ends with a letter or digit, whatever the wildcards match in between.
      const first = segment[0]!;
      const last = segment[segment.length - 1]!;
      if ('._-'.includes(first)) fail(glob, segmentStart, `path component may not start with '${first}'`);
      if ('._-'.includes(last)) fail(glob, i - 1, `path component may not end with '${last}'`);
    }
    segmentStart = i + 1;
  }
}

function tagPart(glob: string, colon: number, end: number): string {
  if (colon + 1 === end) fail(glob, colon, "':' must be followed by a tag pattern");
  for (let i = colon + 1; i < end; i++) {
    const c = glob[i]!;
    if (!(c === '*' || isWord(c) || c === '.' || c === '-')) refuse(glob, i, ' in the tag');
  }
  const tag = glob.slice(colon + 1, end);
  if (!tag.includes('*')) {
    const problem = tagProblem(glob, colon + 1, end);
    if (problem) failWith(glob, problem);
  }
  return tag;
}

function digestPart(glob: string, at: number): string {
  const end = glob.length;
  if (at + 1 === end) fail(glob, at, "'@' must be followed by a digest pattern");
  for (let i = at + 1; i < end; i++) {
    const c = glob[i]!;
    if (isUpper(c)) fail(glob, i, 'digest must be lowercase');
    if (!(c === '*' || isLowerAlnum(c) || '+._-:'.includes(c))) refuse(glob, i, ' in the digest');
  }
  const digest = glob.slice(at + 1);
  if (!digest.includes('*')) {
    const problem = digestProblem(glob, at + 1, end);
    if (problem) failWith(glob, problem);
  } else {
    const colon = digest.indexOf(':');
    const algorithm = colon === -1 ? undefined : digest.slice(0, colon);
    if (algorithm !== undefined && !algorithm.includes('*') && !DIGEST_HEX_LENGTH.has(algorithm)) {
      fail(glob, at + 1, `unsupported digest algorithm '${algorithm}' (supported: sha256, sha512)`);
    }
  }
  return digest;
}

/** A glob over one string, such as a tag: `*` is any run of characters, case-sensitive, anchored. */
export function compileStringPattern(glob: string): StringPattern {
  checkText(glob);
  for (let i = 0; i < glob.length; i++) {
    const c = glob[i]!;
    if (!(c === '*' || isWord(c) || c === '.' || c === '-' || c === ':')) refuse(glob, i, '');
  }
  return Object.freeze({ pattern: glob, matches: compileTokens(tokenize(glob, false)) });
}

/**
 * A glob over a registry host (`ghcr.io`, `localhost:5000`, `*.example.com`), normalized like the registry
 * of a parsed reference: lower case, Docker Hub aliases folded to `docker.io`, IPv6 in short form.
 * Match it against `ref.registry`.
 */
export function compileHostPattern(glob: string): StringPattern {
  checkText(glob);
  if (!glob.includes('*')) {
    const scanned = scanHost(glob, 0, glob.length);
    if (!('host' in scanned)) failWith(glob, scanned);
    const host = scanned.host;
    return Object.freeze({ pattern: glob, matches: (value: string) => value === host });
  }
  for (let i = 0; i < glob.length; i++) {
    const c = glob[i]!;
    if (c === '[') fail(glob, i, 'an IPv6 host cannot contain wildcards');
    if (!(c === '*' || isAlnum(c) || c === '.' || c === '-' || c === ':'))
      refuse(glob, i, ' in the registry host');
  }
  return Object.freeze({ pattern: glob, matches: compileTokens(tokenize(glob.toLowerCase(), false)) });
}
