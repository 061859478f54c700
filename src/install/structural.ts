/**
 * Kubernetes "structural schema" rules for CRDs (apiextensions.k8s.io/v1): what the API server refuses
 * in an openAPIV3Schema, and the one rewrite the policy JSON Schema needs to fit them. A CRD the API
 * server refuses fails `kubectl apply` halfway through an install, so `portcullis install` checks its own
 * output and fails first.
 */

type Schema = Record<string, unknown>;

/** Keywords apiextensions.k8s.io/v1 JSONSchemaProps knows; anything else is refused or dropped. */
const KNOWN = new Set([
  'description',
  'type',
  'format',
  'title',
  'default',
  'maximum',
  'exclusiveMaximum',
  'minimum',
  'exclusiveMinimum',
  'maxLength',
  'minLength',
  'pattern',
  'maxItems',
  'minItems',
  'uniqueItems',
  'multipleOf',
  'enum',
  'maxProperties',
  'minProperties',
  'required',
  'items',
  'allOf',
  'oneOf',
  'anyOf',
  'not',
  'properties',
  'additionalProperties',
  'nullable',
  'example',
  'externalDocs',
  'x-kubernetes-preserve-unknown-fields',
  'x-kubernetes-embedded-resource',
  'x-kubernetes-int-or-string',
  'x-kubernetes-list-map-keys',
  'x-kubernetes-list-type',
  'x-kubernetes-map-type',
  'x-kubernetes-validations',
]);
const JUNCTORS = ['allOf', 'anyOf', 'oneOf', 'not'] as const;
/** Not allowed anywhere under a junctor (apart from the int-or-string pattern). */
const NOT_IN_JUNCTORS = ['description', 'type', 'default', 'additionalProperties', 'nullable'];
const TYPES = new Set(['object', 'array', 'string', 'integer', 'number', 'boolean']);

const isObject = (v: unknown): v is Schema => typeof v === 'object' && v !== null && !Array.isArray(v);

/**
 * Every reason the API server would refuse this schema, each with its JSON path; empty when structural.
 * Also flags regular expressions Go's RE2 cannot compile (look-around, back-references).
 */
export function structuralProblems(schema: unknown): string[] {
  const problems: string[] = [];
  const visit = (node: unknown, path: string, underJunctor: boolean): void => {
    if (!isObject(node)) {
      problems.push(`${path}: a schema must be an object`);
      return;
    }
    const intOrString = node['x-kubernetes-int-or-string'] === true;
    for (const key of Object.keys(node)) {
      if (!KNOWN.has(key)) problems.push(`${path}: "${key}" is not a CRD schema keyword`);
    }
    if (node.type !== undefined && (typeof node.type !== 'string' || !TYPES.has(node.type)))
      problems.push(
        `${path}: type must be one of ${[...TYPES].join(', ')}, not ${JSON.stringify(node.type)}`,
      );
    if (node.uniqueItems === true) problems.push(`${path}: uniqueItems: true is refused by the API server`);
    if (typeof node.pattern === 'string' && /\(\?[=!<]|\\[1-9]/.test(node.pattern))
      problems.push(`${path}: pattern uses look-around or a back-reference, which RE2 cannot compile`);
    if (underJunctor) {
      for (const key of NOT_IN_JUNCTORS) {
        if (key in node) problems.push(`${path}: "${key}" is not allowed inside allOf/anyOf/oneOf/not`);
      }
    } else {
      // Outside junctors every node that says anything must say its type (or opt out of it).
      const typed =
        typeof node.type === 'string' || intOrString || node['x-kubernetes-preserve-unknown-fields'] === true;
      if (!typed) problems.push(`${path}: type is missing`);
    }
    if (node.properties !== undefined && node.additionalProperties !== undefined)
      problems.push(`${path}: properties and additionalProperties cannot both be set`);
    if (isObject(node.properties)) {
      for (const [name, child] of Object.entries(node.properties))
        visit(child, `${path}.properties.${name}`, underJunctor);
    }
    if (node.items !== undefined) visit(node.items, `${path}.items`, underJunctor);
    if (isObject(node.additionalProperties))
      visit(node.additionalProperties, `${path}.additionalProperties`, underJunctor);
    for (const junctor of JUNCTORS) {
      const value = node[junctor];
      if (value === undefined) continue;
      const branches = junctor === 'not' ? [value] : Array.isArray(value) ? value : [value];
      branches.forEach((branch, i) => {
        const at = junctor === 'not' ? `${path}.not` : `${path}.${junctor}[${i}]`;
        // The one exception: int-or-string's anyOf [{type: integer}, {type: string}].
        if (intOrString && junctor === 'anyOf' && isObject(branch) && Object.keys(branch).includes('type')) {
          const { type, ...rest } = branch;
          if (type !== 'integer' && type !== 'string')
            problems.push(`${at}: int-or-string allows integer or string`);
          visit({ ...rest, type: 'string' }, at, false);
          return;
        }
        visit(branch, at, true);
      });
    }
  };
  visit(schema, '', false);
  return problems;
}

/**
 * Rewrites what the policy JSON Schema says in JSON Schema terms into the Kubernetes form:
 * `$ref` (refused in CRDs) is inlined from `root`, and "integer or string" (as a `type` list or an
 * `anyOf` of the two) becomes `x-kubernetes-int-or-string`.
 */
export function toStructural(node: unknown, root: Schema, depth = 0): unknown {
  if (depth > 64) throw new Error('schema nesting deeper than 64 (a $ref cycle?)');
  if (Array.isArray(node)) return node.map((n) => toStructural(n, root, depth + 1));
  if (!isObject(node)) return node;
  if (typeof node.$ref === 'string') {
    const { $ref, ...rest } = node;
    return toStructural({ ...resolvePointer(root, $ref as string), ...rest }, root, depth + 1);
  }
  const out: Schema = {};
  for (const [key, value] of Object.entries(node)) {
    if (key === '$schema' || key === '$id' || key === '$comment') continue;
    if (key === 'properties' && isObject(value)) {
      out.properties = Object.fromEntries(
        Object.entries(value).map(([name, child]) => [name, toStructural(child, root, depth + 1)]),
      );
    } else if (key === 'enum' || key === 'required' || key === 'default') {
      out[key] = value;
    } else {
      out[key] = toStructural(value, root, depth + 1);
    }
  }
  if (Array.isArray(out.type)) {
    const types = [...out.type].sort();
    if (types.length !== 2 || types[0] !== 'integer' || types[1] !== 'string')
      throw new Error(`type list ${JSON.stringify(out.type)} has no CRD equivalent`);
    delete out.type;
    out['x-kubernetes-int-or-string'] = true;
  }
  for (const junctor of ['anyOf', 'oneOf'] as const) {
    const branches = out[junctor];
    if (!Array.isArray(branches) || out.type !== undefined) continue;
    const types = branches.map((b) => (isObject(b) ? b.type : undefined));
    if (types.every((t) => t === undefined)) continue; // value validation only, e.g. oneOf of `required`
    if (junctor === 'anyOf' && types.length === 2 && [...types].sort().join() === 'integer,string') {
      out['x-kubernetes-int-or-string'] = true;
      continue;
    }
    // A value of one of several types (a string or a list of them...) has no structural form: the
    // CRD accepts any value there, and the policy loader checks it when the webhook loads the policy.
    return {
      ...(typeof out.description === 'string' ? { description: out.description } : {}),
      'x-kubernetes-preserve-unknown-fields': true,
    };
  }
  if (out.properties !== undefined && out.additionalProperties === false) delete out.additionalProperties;
  return out;
}

function resolvePointer(root: Schema, ref: string): Schema {
  if (!ref.startsWith('#/')) throw new Error(`only local $ref is supported, not ${ref}`);
  let node: unknown = root;
  for (const raw of ref.slice(2).split('/')) {
    const token = raw.replace(/~1/g, '/').replace(/~0/g, '~');
    node = isObject(node) ? node[token] : undefined;
  }
  if (!isObject(node)) throw new Error(`$ref ${ref} points nowhere`);
  return structuredClone(node);
}
