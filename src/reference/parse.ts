/**
 * Parsing image references the way Docker and containerd do (distribution/reference's
 * ParseNormalizedNamed), so that the image we judge is the image the runtime will pull.
 *
 *   reference := name [ ':' tag ] [ '@' digest ]
 *   name      := [ host [ ':' port ] '/' ] path        total length <= 255 once normalized
 *   path      := component ( '/' component )*,  component := [a-z0-9]+ ( ( [._] | '__' | '-'+ ) [a-z0-9]+ )*
 *   tag       := [\w][\w.-]{0,127}
 *   digest    := 'sha256:' 64 lower-case hex | 'sha512:' 128 lower-case hex
 *
 * Normalization:
 * - The part before the first `/` is a registry host iff it contains `.` or `:` or is `localhost`;
 *   otherwise the registry is `docker.io`. (Docker also takes an upper-case first component as a host;
 *   we refuse it as an upper-case repository, see looksLikeHost in grammar.ts.)
 *   So `x:5000` is repository `library/x` with tag `5000` on Docker Hub, while `x:5000/y` is on host `x:5000`.
 * - Hosts are case-insensitive, so the registry is lower-cased; IPv6 hosts are written in their short form.
 * - `index.docker.io` and `registry-1.docker.io` are Docker Hub and become `docker.io`.
 * - A one-component Docker Hub repository gets `library/` (`nginx` is `docker.io/library/nginx`).
 * - Tag and digest are both kept when both are written (`name:tag@sha256:...`); no tag is invented here.
 * - The name length limit applies to the normalized `registry/repository`, as in distribution.
 *
 * Stricter than distribution, refusing rather than guessing: only sha256/sha512 digests (see grammar.ts),
 * ports 1-65535 without leading zeros, real IPv6 addresses, no upper-case first component without a host
 * marker, and a bare 64-hex string is refused as an image ID (as Docker does).
 */
import type { ImageReference } from './types.ts';
import { ReferenceParseError } from './types.ts';
import type { Problem } from './grammar.ts';
import {
  DOCKER_HUB,
  NAME_TOTAL_LENGTH_MAX,
  OFFICIAL_PREFIX,
  digestProblem,
  looksLikeHost,
  pathProblem,
  scanHost,
  tagProblem,
} from './grammar.ts';

/** Inputs longer than this are quoted cut short in error messages, which end up in logs and reports. */
const QUOTED_INPUT_MAX = 300;

/**
 * The ReferenceParseError for `problem`, its message bounded in size: the input is whatever a manifest or
 * a request said, and a megabyte-long image name must not become a megabyte-long log line.
 */
export function referenceError(input: string, problem: Problem): ReferenceParseError {
  const error = new ReferenceParseError(input, problem.position, problem.detail);
  if (input.length > QUOTED_INPUT_MAX) {
    const shown = JSON.stringify(input.slice(0, QUOTED_INPUT_MAX));
    error.message =
      `invalid image reference ${shown}... (${input.length} characters): ` +
      `${problem.detail} at position ${problem.position + 1}`;
  }
  return error;
}

function fail(input: string, position: number, detail: string): never {
  throw referenceError(input, { position, detail });
}

export function parseReference(input: string): ImageReference {
  if (typeof input !== 'string') fail(String(input), 0, `reference must be a string, not ${typeof input}`);
  if (input.length === 0) fail(input, 0, 'empty reference');
  if (/^[a-f0-9]{64}$/.test(input)) {
    fail(input, 0, 'a 64-character hexadecimal string is an image ID, not a reference');
  }

  // Name and tag cannot contain '@', so the first one starts the digest; the tag starts at the first ':'
  // after the last '/' (earlier ones belong to a host:port).
  const at = input.indexOf('@');
  const nameTagEnd = at === -1 ? input.length : at;
  const lastSlash = nameTagEnd === 0 ? -1 : input.lastIndexOf('/', nameTagEnd - 1);
  let colon = input.indexOf(':', lastSlash + 1);
  if (colon >= nameTagEnd) colon = -1;
  const nameEnd = colon === -1 ? nameTagEnd : colon;
  if (nameEnd === 0) fail(input, 0, 'missing repository name');

  const firstSlash = input.indexOf('/');
  const hasHost = firstSlash !== -1 && firstSlash < nameEnd && looksLikeHost(input.slice(0, firstSlash));
  let registry = DOCKER_HUB;
  let pathStart = 0;
  let problem: Problem | undefined;
  if (hasHost) {
    const scanned = scanHost(input, 0, firstSlash);
    if ('host' in scanned) registry = scanned.host;
    else problem = scanned;
    pathStart = firstSlash + 1;
  }
  problem ??= pathProblem(input, pathStart, nameEnd);

  const path = input.slice(pathStart, nameEnd);
  const repository = registry === DOCKER_HUB && !path.includes('/') ? OFFICIAL_PREFIX + path : path;
  const lengthProblem = nameLengthProblem(
    input,
    registry,
    repository,
    pathStart,
    nameEnd,
    problem !== undefined,
  );
  if (lengthProblem && (!problem || lengthProblem.position < problem.position)) problem = lengthProblem;
  if (problem) throw referenceError(input, problem);

  let tag: string | undefined;
  if (colon !== -1) {
    if (colon + 1 === nameTagEnd) fail(input, colon, "':' must be followed by a tag");
    const p = tagProblem(input, colon + 1, nameTagEnd);
    if (p) throw referenceError(input, p);
    tag = input.slice(colon + 1, nameTagEnd);
  }

  let digest: string | undefined;
  if (at !== -1) {
    if (at + 1 === input.length) fail(input, at, "'@' must be followed by a digest");
    const p = digestProblem(input, at + 1, input.length);
    if (p) throw referenceError(input, p);
    digest = input.slice(at + 1);
  }

  return Object.freeze({
    original: input,
    registry,
    repository,
    ...(tag === undefined ? {} : { tag }),
    ...(digest === undefined ? {} : { digest }),
  });
}

/**
 * The name is too long when the normalized `registry/repository` is over 255 characters; the position is
 * the input character that crosses the limit (fewer characters were written when `docker.io/library/`
 * is implied, more when an alias was folded). When the host could not be read, the written length is used.
 */
function nameLengthProblem(
  input: string,
  registry: string,
  repository: string,
  pathStart: number,
  nameEnd: number,
  hostUnreadable: boolean,
): Problem | undefined {
  const limit = NAME_TOTAL_LENGTH_MAX;
  if (hostUnreadable) {
    return nameEnd > limit
      ? { position: limit, detail: `name is longer than ${limit} characters` }
      : undefined;
  }
  const normalized = registry.length + 1 + repository.length;
  if (normalized <= limit) return undefined;
  // Offset of the written path inside the normalized name.
  const pathOffset = normalized - (nameEnd - pathStart);
  const position = pathOffset <= limit ? pathStart + (limit - pathOffset) : limit;
  const prefix = `${registry}/${repository}`.slice(0, pathOffset);
  const implied = nameEnd === normalized ? '' : ` (${normalized} once normalized to ${prefix}...)`;
  return { position, detail: `name is longer than ${limit} characters${implied}` };
}
