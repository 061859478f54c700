/**
 * The JSON Schema of the policy language (schema/policy.v1alpha1.schema.json), compiled once.
 * The loader validates every document against it first, so the schema and the loader cannot drift:
 * the loader only adds checks a schema cannot express (patterns, contradictions, uniqueness).
 */
import { Ajv2020 } from 'ajv/dist/2020.js';
import type { ErrorObject, ValidateFunction } from 'ajv/dist/2020.js';
import schemaJson from '../../schema/policy.v1alpha1.schema.json' with { type: 'json' };

export const API_VERSION = 'portcullis.dev/v1alpha1';
export const DOCUMENT_KINDS = ['ImagePolicy', 'PolicySet'] as const;
export type DocumentKind = (typeof DOCUMENT_KINDS)[number];

export const policySchema: Readonly<Record<string, unknown>> = schemaJson;
const SCHEMA_ID = schemaJson.$id;

// strictRequired is off because "exactly one rule kind" is written as oneOf branches that only name
// `required` properties declared next to them (the structural-schema way), which ajv's strict mode flags.
const ajv = new Ajv2020({ allErrors: true, verbose: true, strict: true, strictRequired: false });
ajv.addSchema(schemaJson);

function validator(ref: string): ValidateFunction {
  const v = ajv.getSchema(`${SCHEMA_ID}${ref}`);
  if (!v) throw new Error(`schema ${ref} is missing from ${SCHEMA_ID}`);
  return v;
}

const byKind: Record<DocumentKind, ValidateFunction> = {
  ImagePolicy: validator('#/$defs/ImagePolicy'),
  PolicySet: validator('#/$defs/PolicySet'),
};
const whole = validator('');

/** Validates a document of a known kind; returns ajv's errors (empty when valid). */
export function schemaErrors(kind: DocumentKind, data: unknown): ErrorObject[] {
  const validate = byKind[kind];
  return validate(data) ? [] : [...(validate.errors ?? [])];
}

/** Validates against the root schema, as an editor or `kubectl`-side tool would. */
export function validatesAgainstSchema(data: unknown): boolean {
  return whole(data) === true;
}

/**
 * The ImagePolicy `spec` schema in the form a CRD's openAPIV3Schema accepts: Kubernetes structural
 * schemas forbid `additionalProperties` next to `properties` (the API server prunes unknown fields
 * instead, and `kubectl --validate=strict` reports them) and do not know `$schema`/`$id`.
 */
export function crdSpecSchema(): Record<string, unknown> {
  const spec = (schemaJson.$defs as Record<string, unknown>).ImagePolicySpec;
  return strip(structuredClone(spec)) as Record<string, unknown>;
}

function strip(node: unknown): unknown {
  if (Array.isArray(node)) return node.map(strip);
  if (typeof node !== 'object' || node === null) return node;
  const out: Record<string, unknown> = {};
  const obj = node as Record<string, unknown>;
  for (const [key, value] of Object.entries(obj)) {
    if (key === '$schema' || key === '$id' || key === '$comment') continue;
    if (key === 'additionalProperties' && value === false && obj.properties) continue;
    out[key] = strip(value);
  }
  return out;
}
