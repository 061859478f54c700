/**
 * The loaded, validated and compiled form of policies: what the engine evaluates.
 *
 * The YAML documents (apiVersion portcullis.dev/v1alpha1) are turned into these objects by the loader;
 * patterns are compiled once at load so evaluation does no parsing. Every object keeps the source
 * position it came from, so a decision can point back at the exact line that produced it.
 */
import type { ImageReference } from '../reference/types.ts';
import type { CompiledCondition } from '../cel/compile.ts';
import type { Authority } from '../sigstore/authority.ts';

export type Mode = 'enforce' | 'warn' | 'audit';
export type NoMatchAction = 'deny' | 'warn' | 'allow';

export interface SourcePosition {
  readonly file: string;
  /** 1-based. */
  readonly line: number;
  /** 1-based. */
  readonly column: number;
}

/** A compiled glob over the normalized reference (see docs/policy-language.md, "Image patterns"). */
export interface ImagePattern {
  readonly pattern: string;
  matches(ref: ImageReference): boolean;
}

/** A compiled glob over a single string (a tag, a host). */
export interface StringPattern {
  readonly pattern: string;
  matches(value: string): boolean;
}

interface RuleBase {
  /** Unique within its policy. Defaults to the rule kind, suffixed with its index when repeated. */
  readonly name: string;
  readonly source: SourcePosition;
}

/** Only images from these registries (exact host[:port], or `*.example.com` for subdomains). */
export interface RegistriesRule extends RuleBase {
  readonly kind: 'registries';
  readonly allow?: readonly StringPattern[];
  readonly deny?: readonly StringPattern[];
}

/** Repository allow/deny lists, as image patterns over `registry/repository`. */
export interface RepositoriesRule extends RuleBase {
  readonly kind: 'repositories';
  readonly allow?: readonly ImagePattern[];
  readonly deny?: readonly ImagePattern[];
}

export interface TagsRule extends RuleBase {
  readonly kind: 'tags';
  /** Tags that may not be used (e.g. `latest`). */
  readonly forbid?: readonly StringPattern[];
  /** When set, a tag (if one is written) must match one of these. */
  readonly allow?: readonly StringPattern[];
  /** The reference as written must carry a digest. */
  readonly requireDigest?: boolean;
}

export interface DigestsRule extends RuleBase {
  readonly kind: 'digests';
  /** `algorithm:hex`, lower-case. When set, the image digest must be one of these. */
  readonly allow?: readonly string[];
  readonly deny?: readonly string[];
}

/**
 * Where signatures are looked up: the image's own repository unless `repository` names another
 * (cosign `COSIGN_REPOSITORY`), with legacy `.sig` tags prefixed by `tagPrefix` (cosign
 * `--attachment-tag-prefix`). Where a signature is found is discovery, not trust: every signature is
 * bound to the image digest and checked against the authority.
 */
export interface SignatureSource {
  /** `registry/repository`, normalized; absent = the image's own repository. */
  readonly repository?: { readonly registry: string; readonly repository: string };
  readonly tagPrefix: string;
}

export type SignatureFormat = 'legacy' | 'bundle' | 'any';

/** A threshold of named authorities must be satisfied by signatures over the image digest. */
export interface SignaturesRule extends RuleBase {
  readonly kind: 'signatures';
  readonly authorities: readonly Authority[];
  /** Distinct authorities required, 1..authorities.length. */
  readonly threshold: number;
  /** Which signature formats count: legacy cosign `.sig` tags, Sigstore bundle referrers, or both. */
  readonly format: SignatureFormat;
  /** Distinct places the signing authorities' signatures are looked up (empty: static authorities only). */
  readonly sources: readonly SignatureSource[];
}

/** One required attestation: a verified in-toto statement of exactly `predicateType` that satisfies `condition`. */
export interface RequiredAttestation {
  /** Unique within the rule. */
  readonly name: string;
  /** For messages: the predicate type URI, or several joined by " or ". */
  readonly predicateType: string;
  /** Full predicate type URIs (short names expanded at load); a statement's type must be exactly one. */
  readonly predicateTypes: readonly string[];
  readonly authorities: readonly Authority[];
  /** Distinct authorities required, 1..authorities.length. */
  readonly threshold: number;
  /** Compiled CEL condition; absent = any verified statement of the type satisfies. */
  readonly condition?: CompiledCondition;
  /** Distinct places its signing authorities' attestations are looked up. */
  readonly sources: readonly SignatureSource[];
}

/** Every listed attestation is required (AND). */
export interface AttestationsRule extends RuleBase {
  readonly kind: 'attestations';
  readonly attestations: readonly RequiredAttestation[];
}

/**
 * Image attributes over the verified manifest and config (every platform of an index): a CEL condition
 * and/or shorthands, all ANDed.
 */
export interface AttributesRule extends RuleBase {
  readonly kind: 'attributes';
  /** Variables config, manifest, image, now (docs/cel.md). */
  readonly condition?: CompiledCondition;
  /** Shown when the condition is false. */
  readonly message?: string;
  /** `os/architecture[/variant]`; the image platform must be one of these. */
  readonly platforms?: readonly string[];
  readonly nonRoot?: boolean;
  readonly maxSizeBytes?: number;
  readonly maxAgeSeconds?: number;
  readonly requiredLabels?: readonly string[];
}

/** One approved base: a pattern, and the reference itself when the entry names one concrete image. */
export interface BaseImageEntry {
  readonly pattern: ImagePattern;
  /** A tag or digest reference with no wildcard: resolved from the registry directly. */
  readonly reference?: ImageReference;
}

/** The image's layers must start with the layers of an approved base (layer lineage). */
export interface BaseImageRule extends RuleBase {
  readonly kind: 'baseImage';
  readonly allowed: readonly BaseImageEntry[];
}

/**
 * Every rule kind. Later kinds (signatures, attestations, attributes, baseImage) are added here,
 * with a module under src/rules/ that compiles and evaluates them; nothing else changes shape.
 */
export type Rule =
  | RegistriesRule
  | RepositoriesRule
  | TagsRule
  | DigestsRule
  | SignaturesRule
  | AttestationsRule
  | AttributesRule
  | BaseImageRule;
export type RuleKind = Rule['kind'];

/** One Kubernetes label selector requirement; `matchLabels` entries become `In` with one value. */
export interface LabelRequirement {
  readonly key: string;
  readonly operator: 'In' | 'NotIn' | 'Exists' | 'DoesNotExist';
  /** Empty for Exists and DoesNotExist. */
  readonly values: readonly string[];
}

/** A compiled Kubernetes LabelSelector: every requirement must hold (Kubernetes semantics). */
export interface LabelSelector {
  readonly requirements: readonly LabelRequirement[];
}

/**
 * `spec.match`: which admitted objects the policy applies to (src/policy/match.ts). Every field that is
 * set must match (AND); a field whose context is unknown counts as matching, so a restriction is never
 * dropped for want of information (docs/policy-language.md, "spec.match").
 */
export interface PolicyMatch {
  /** Namespace name globs (`*` only); any one matches. */
  readonly namespaces?: readonly StringPattern[];
  readonly namespaceSelector?: LabelSelector;
  /** Object kinds, exactly as Kubernetes spells them (`Pod`, `Deployment`, ...). */
  readonly kinds?: readonly string[];
  /** Over the admitted object's own `metadata.labels`. */
  readonly objectSelector?: LabelSelector;
  readonly source: SourcePosition;
}

export interface Policy {
  readonly name: string;
  readonly mode: Mode;
  readonly description?: string;
  /** The policy applies to an image matching any of these... */
  readonly images: readonly ImagePattern[];
  /** ...and none of these. */
  readonly exclude: readonly ImagePattern[];
  /** Kubernetes selectors; absent = the policy applies to images wherever they appear. */
  readonly match?: PolicyMatch;
  /** ANDed. A policy with no rules that matches an image denies it (no verdict is not a pass). */
  readonly rules: readonly Rule[];
  readonly source: SourcePosition;
  /** `sha256:` of the canonical JSON of the document; recorded with every decision. */
  readonly version: string;
  /**
   * Set only for a namespaced ImagePolicy resource: the policy applies only to admission requests in
   * this namespace (src/kubernetes/policy-crd.ts `forNamespace` leaves it out everywhere else).
   */
  readonly namespace?: string;
}

export interface PolicySet {
  readonly policies: readonly Policy[];
  /** What happens to an image no policy matches. Default `deny`. */
  readonly noMatch: NoMatchAction;
  /** `sha256:` over the policy versions and settings, in order. */
  readonly version: string;
}
