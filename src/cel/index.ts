/**
 * CEL conditions for Portcullis policies: attestation conditions and image attributes.
 * See docs/cel.md for the language, the variables, the helpers and the bounds.
 */
export { compileCondition, NOW_VARIABLE } from './compile.ts';
export type { CompileResult, CompiledCondition, ConditionError, VariableDecl } from './compile.ts';
export { evaluateCondition } from './evaluate.ts';
export type { EvaluateOptions, EvaluateResult, EvaluationErrorCode } from './evaluate.ts';
export { CelInputError, jsonToCel } from './json.ts';
export { CEL_LIMITS, JSON_INPUT_LIMITS } from './limits.ts';
export type { JsonInputLimits } from './limits.ts';
export { ATTESTATION_VARIABLES, IMAGE_VARIABLES } from './variables.ts';
export { HELPER_NAMES } from './helpers.ts';
