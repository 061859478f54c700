/**
 * Bounds on everything a policy author or an attestation author controls in a CEL condition.
 * Policy authors are trusted less than the engine and attestation authors not at all, so each of
 * these turns into a clear error (and the caller denies) rather than a slow or crashing evaluation.
 */
export const CEL_LIMITS = {
  /** Characters in one expression (UTF-16 code units, as JavaScript counts them). */
  maxExpressionLength: 10_240,
  /** Nesting of (), [] and {} in the source text; the parser recurses on it. */
  maxSourceNesting: 32,
  /** Depth of the parsed tree (operators, calls, selections, macros); planning and evaluation recurse on it. */
  maxAstDepth: 100,
  /** Default cost budget for one evaluation (the same number as Kubernetes' per-expression limit). */
  defaultCostBudget: 1_000_000,
  /** Default wall-clock deadline for one evaluation. */
  defaultDeadlineMs: 500,
} as const;

/** Bounds on JSON input converted to CEL values (statements, predicates, image configs, manifests). */
export const JSON_INPUT_LIMITS = {
  maxDepth: 64,
  /** Characters in one string value or object key. */
  maxStringLength: 1_048_576,
  /** Elements in one array. */
  maxArrayLength: 100_000,
  /** Keys in one object. */
  maxObjectKeys: 10_000,
  /** Values (of any kind, nested ones included) in one input. */
  maxTotalValues: 1_000_000,
} as const;

export type JsonInputLimits = { readonly [K in keyof typeof JSON_INPUT_LIMITS]: number };
