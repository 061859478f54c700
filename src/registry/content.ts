/**
 * One content interface, served by a remote registry and by an OCI image layout alike
 * (the oras-go model), so every verifier above it is written once.
 *
 * Everything returned has been content-addressed by us: the digest of manifest and blob bytes is
 * recomputed and compared with the digest asked for; a tag is resolved once and everything after that
 * is fetched by digest. Implementations bound every size and count and honour `signal` (the decision's
 * deadline) on every operation.
 */
import type { ImageReference } from '../reference/types.ts';

export interface Platform {
  readonly architecture: string;
  readonly os: string;
  readonly variant?: string;
  readonly 'os.version'?: string;
  readonly 'os.features'?: readonly string[];
}

export interface Descriptor {
  readonly mediaType: string;
  /** `algorithm:hex`. */
  readonly digest: string;
  readonly size: number;
  readonly artifactType?: string;
  readonly annotations?: Readonly<Record<string, string>>;
  readonly platform?: Platform;
  readonly urls?: readonly string[];
}

/** A manifest whose bytes hash to `descriptor.digest` (checked), with its parsed JSON. */
export interface VerifiedManifest {
  readonly descriptor: Descriptor;
  readonly bytes: Uint8Array;
  /** The parsed JSON; structure validated enough to be safe to walk (see src/oci/). */
  readonly json: unknown;
}

export interface OperationOptions {
  /** Aborts the operation (the decision's overall deadline). Required in spirit: pass one. */
  readonly signal?: AbortSignal;
}

export interface BlobOptions extends OperationOptions {
  /** Refuse (before downloading when the descriptor says so, and while streaming) beyond this. */
  readonly maxBytes: number;
}

export interface ReferrersOptions extends OperationOptions {
  /** Filtered client-side: a registry's own filtering is never trusted. */
  readonly artifactType?: string;
}

/** Where one image's content lives: a repository in a registry, or an OCI layout directory. */
export interface ContentSource {
  /** Human-readable location for messages, e.g. `ghcr.io/acme/api` or `oci:/path/to/layout`. */
  readonly location: string;
  /**
   * Resolve a tag (or check a digest) to a descriptor. The digest is computed from the manifest bytes.
   * Called once per decision per reference; later reads go by digest.
   */
  resolve(ref: ImageReference, options?: OperationOptions): Promise<Descriptor>;
  fetchManifest(digest: string, options?: OperationOptions): Promise<VerifiedManifest>;
  fetchBlob(descriptor: Descriptor, options: BlobOptions): Promise<Uint8Array>;
  /** OCI 1.1 referrers of `digest` (API, or the `sha256-<hex>` tag-schema fallback). */
  referrers(digest: string, options?: ReferrersOptions): Promise<readonly Descriptor[]>;
  /** Resolve a tag in the same repository (e.g. cosign's `sha256-<hex>.sig`); `undefined` when absent. */
  resolveTag(tag: string, options?: OperationOptions): Promise<Descriptor | undefined>;
  listTags(options?: OperationOptions): Promise<readonly string[]>;
}
