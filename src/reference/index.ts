/** Image references and image patterns: the public API of this module. */
export type { ImageReference } from './types.ts';
export { ReferenceParseError } from './types.ts';
export { parseReference } from './parse.ts';
export {
  canonical,
  familiar,
  familiarName,
  repositoryName,
  withDigest,
  DigestConflictError,
} from './format.ts';
export type { CompiledImagePattern } from './pattern.ts';
export {
  compileImagePattern,
  compileStringPattern,
  compileHostPattern,
  PatternError,
  PATTERN_LENGTH_MAX,
} from './pattern.ts';
export type { Problem } from './grammar.ts';
export {
  DIGEST_HEX_LENGTH,
  DOCKER_HUB,
  NAME_TOTAL_LENGTH_MAX,
  TAG_LENGTH_MAX,
  checkDigest,
  foldDockerHub,
} from './grammar.ts';
