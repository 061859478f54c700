/** Where `portcullis check` finds images: Kubernetes manifests, Compose files and Dockerfiles. */
export { extractImages } from './extract.ts';
export { extractFromPaths } from './paths.ts';
export { LIMITS } from './types.ts';
export type {
  ExtractionResult,
  ExtractOptions,
  ImageOccurrence,
  ImageSource,
  SourceFormat,
  SourceProblem,
  SourceProblemCode,
} from './types.ts';
