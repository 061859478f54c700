/**
 * Where container images are written in the files `portcullis check` reads.
 *
 * Extraction never throws on bad input: a file that cannot be read as one of the supported formats
 * yields a `SourceProblem`, and the caller fails closed on any problem, because an image we could not
 * find is an image nobody checked.
 */

export type SourceFormat = 'kubernetes' | 'compose' | 'dockerfile';

export interface ImageSource {
  /** The path as given (joined with the relative path inside a walked directory), or '-' for stdin. */
  file: string;
  /** 1-based position of the first character of the image value as written (the opening quote if quoted). */
  line: number;
  column: number;
  format: SourceFormat;
  /** Kubernetes object fields; for Compose `name` is the service name, for Dockerfiles the stage name. */
  kind?: string;
  apiVersion?: string;
  namespace?: string;
  name?: string;
  /**
   * Kubernetes workloads: the object's own `metadata.labels`; absent when it writes none. Labels that are
   * not strings are a SourceProblem instead, never read as no labels.
   */
  labels?: Record<string, string>;
  /** Which YAML document (0-based) of the file; set for every YAML or JSON source. */
  documentIndex?: number;
  /**
   * Field path of the value:
   * Kubernetes `spec.template.spec.initContainers[0].image` (prefixed with `items[2].` inside a List),
   * Compose `services.web.image`,
   * Dockerfile `stages[1].FROM`, `stages[1].COPY --from`, `stages[1].RUN --mount from` (stages 0-based).
   */
  path: string;
  /** Container name (Kubernetes `name`, Compose `container_name`) when one is written. */
  container?: string;
}

export interface ImageOccurrence {
  /** Exactly as written, except Dockerfile variables, which are substituted (and `note` says how). */
  image: string;
  source: ImageSource;
  note?: string;
}

export type SourceProblemCode =
  | 'READ_FAILED'
  | 'TOO_LARGE'
  | 'BINARY'
  | 'NOT_UTF8'
  | 'YAML_SYNTAX'
  | 'YAML_TOO_COMPLEX'
  | 'WRONG_TYPE'
  | 'MISSING_IMAGE'
  | 'UNRESOLVED_VARIABLE'
  | 'DOCKERFILE_SYNTAX'
  | 'LIMIT_EXCEEDED';

/** Malformed or unreadable input: reported, never thrown. */
export interface SourceProblem {
  file: string;
  line?: number;
  column?: number;
  message: string;
  /** Machine-readable class of the problem (additive to the documented contract). */
  code?: SourceProblemCode;
}

export interface ExtractionResult {
  images: ImageOccurrence[];
  problems: SourceProblem[];
}

export interface ExtractOptions {
  /** Values for Dockerfile ARGs, as `docker build --build-arg NAME=value` would give them. */
  buildArgs?: Readonly<Record<string, string>>;
}

/**
 * Bounds on what one input can make us do. Files and stdin are attacker-controllable in CI
 * (a pull request adds them), and the YAML parser needs far more memory and time per token than
 * per byte, so the YAML bounds are in tokens and nesting depth, not only in bytes.
 */
export const LIMITS = {
  maxFileBytes: 16 * 1024 * 1024,
  maxYamlTokens: 500_000,
  maxYamlDocuments: 10_000,
  maxYamlDepth: 128,
  maxYamlErrorsPerFile: 20,
  /** Mapping entries looked at while following aliases and merge keys, for a whole file. */
  maxYamlWork: 5_000_000,
  maxFindingsPerFile: 100_000,
  maxFilesPerWalk: 10_000,
  maxDirectoryDepth: 64,
  maxListNesting: 4,
} as const;
