import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { stringify } from 'yaml';
import { loadPolicySet } from '../../src/policy/load.ts';
import { crdSpecSchema, policySchema, validatesAgainstSchema } from '../../src/policy/schema.ts';
import { ruleKindNames } from '../../src/rules/index.ts';
import { DIGEST_PATTERN } from '../../src/rules/digests.ts';
import { HOST_PATTERN } from '../../src/rules/registries.ts';

const DIGEST = `sha256:${'d'.repeat(64)}`;

function validPolicy(): Record<string, unknown> {
  return {
    apiVersion: 'portcullis.dev/v1alpha1',
    kind: 'ImagePolicy',
    metadata: { name: 'prod', annotations: { owner: 'platform' } },
    spec: {
      description: 'd',
      mode: 'warn',
      images: [{ glob: 'ghcr.io/acme/**' }],
      exclude: [{ glob: 'ghcr.io/acme/sandbox/**' }],
      rules: [
        { name: 'hosts', registries: { allow: ['ghcr.io', '*.acme.example'], deny: ['bad.acme.example'] } },
        { repositories: { deny: ['ghcr.io/acme/old'] } },
        { tags: { forbid: ['latest'], allow: ['v*'], requireDigest: true } },
        { digests: { deny: [DIGEST] } },
      ],
    },
  };
}

void test('the schema is draft 2020-12 with one definition per document kind', () => {
  assert.equal(policySchema.$schema, 'https://json-schema.org/draft/2020-12/schema');
  const defs = policySchema.$defs as Record<string, unknown>;
  assert.ok(defs.ImagePolicy && defs.PolicySet && defs.ImagePolicySpec);
  assert.ok(validatesAgainstSchema(validPolicy()));
});

void test('the schema lists exactly the rule kinds the registry implements', () => {
  const defs = policySchema.$defs as Record<string, { properties: Record<string, unknown> }>;
  const spec = defs.ImagePolicySpec;
  assert.ok(spec);
  const items = (spec.properties.rules as { items: { properties: object; oneOf: { required: string[] }[] } })
    .items;
  assert.deepEqual(items.oneOf.map((b) => b.required[0]).sort(), ruleKindNames().sort());
  assert.deepEqual(Object.keys(items.properties).sort(), ['name', ...ruleKindNames()].sort());
});

/** Kubernetes structural-schema rules, checked on the CRD form of the spec schema. */
function structuralProblems(node: unknown, path: string, inOneOfBranch = false): string[] {
  if (typeof node !== 'object' || node === null) return [];
  const s = node as Record<string, unknown>;
  const out: string[] = [];
  for (const banned of ['$ref', '$defs', 'const', 'if', 'then', 'else', '$schema', '$id']) {
    if (banned in s) out.push(`${path}: ${banned} is not allowed`);
  }
  if (inOneOfBranch) {
    if (Object.keys(s).some((k) => k !== 'required'))
      out.push(`${path}: a oneOf branch may only list required`);
    return out;
  }
  if (typeof s.type !== 'string') out.push(`${path}: no type`);
  if (s.properties && 'additionalProperties' in s) out.push(`${path}: properties with additionalProperties`);
  for (const [k, v] of Object.entries((s.properties as object) ?? {}))
    out.push(...structuralProblems(v, `${path}.${k}`));
  if (s.items) out.push(...structuralProblems(s.items, `${path}[]`));
  if (typeof s.additionalProperties === 'object')
    out.push(...structuralProblems(s.additionalProperties, `${path}{}`));
  ((s.oneOf as unknown[]) ?? []).forEach((b, i) =>
    out.push(...structuralProblems(b, `${path}.oneOf[${i}]`, true)),
  );
  return out;
}

void test('the ImagePolicy spec schema is usable as a CRD openAPIV3Schema (structural)', () => {
  assert.deepEqual(structuralProblems(crdSpecSchema(), 'spec'), []);
  // The JSON Schema itself keeps objects closed.
  const spec = (policySchema.$defs as Record<string, Record<string, unknown>>).ImagePolicySpec;
  assert.equal(spec?.additionalProperties, false);
});

void test('schema and loader agree: what the schema refuses, the loader refuses; what the loader accepts, the schema accepts', () => {
  const junk = fc.oneof(
    fc.constant(null),
    fc.boolean(),
    fc.integer(),
    fc.string({ maxLength: 12 }),
    fc.constantFrom('latest', 'ghcr.io', '**', DIGEST, 'enforce', 'deny'),
    fc.array(fc.string({ maxLength: 6 }), { maxLength: 3 }),
    fc.dictionary(
      fc.constantFrom('allow', 'deny', 'forbid', 'glob', 'x'),
      fc.constantFrom('latest', 'ghcr.io'),
    ),
  );
  const mutation = fc.record({
    path: fc.array(fc.nat({ max: 8 }), { minLength: 1, maxLength: 6 }),
    op: fc.constantFrom('delete', 'set', 'add'),
    value: junk,
    key: fc.constantFrom(
      'extra',
      'allow',
      'deny',
      'forbid',
      'requireDigest',
      'name',
      'mode',
      'glob',
      'tags',
      'digests',
    ),
  });
  fc.assert(
    fc.property(fc.array(mutation, { minLength: 1, maxLength: 3 }), (mutations) => {
      const doc = validPolicy();
      for (const m of mutations) mutate(doc, m.path, m.op, m.value, m.key);
      const schemaOk = validatesAgainstSchema(doc);
      const result = loadPolicySet([{ path: 'p.yaml', text: stringify(doc) }]);
      if (!schemaOk)
        assert.equal(result.ok, false, `schema refused but loader accepted: ${JSON.stringify(doc)}`);
      if (result.ok) assert.ok(schemaOk);
    }),
    { numRuns: 400, seed: 20261127 },
  );
});

/** Walks `path` (indexes into the keys or items met on the way) and changes what it reaches. */
function mutate(
  root: Record<string, unknown>,
  path: number[],
  op: string,
  value: unknown,
  key: string,
): void {
  let node: unknown = root;
  for (let i = 0; i < path.length - 1; i++) {
    const next = childAt(node, path[i] as number);
    if (next === undefined || typeof next.value !== 'object' || next.value === null) break;
    node = next.value;
  }
  if (typeof node !== 'object' || node === null) return;
  const target = childAt(node, path[path.length - 1] as number);
  if (op === 'add' && !Array.isArray(node)) (node as Record<string, unknown>)[key] = value;
  else if (target && op === 'delete') {
    if (Array.isArray(node)) node.splice(target.key as number, 1);
    else delete (node as Record<string, unknown>)[target.key as string];
  } else if (target) (node as Record<string | number, unknown>)[target.key] = value;
}

function childAt(node: unknown, index: number): { key: string | number; value: unknown } | undefined {
  if (Array.isArray(node))
    return node.length ? { key: index % node.length, value: node[index % node.length] } : undefined;
  if (typeof node !== 'object' || node === null) return undefined;
  const keys = Object.keys(node);
  if (!keys.length) return undefined;
  const key = keys[index % keys.length] as string;
  return { key, value: (node as Record<string, unknown>)[key] };
}

void test('semantic checks are the only things the loader adds on top of the schema', () => {
  // Valid for the schema, refused by the loader: a bad glob, a contradiction.
  const badGlob = validPolicy();
  (badGlob.spec as { images: unknown[] }).images = [{ glob: 'ghcr.io/[abc]' }];
  const contradiction = validPolicy();
  (contradiction.spec as { rules: unknown[] }).rules = [{ tags: { forbid: ['v1'], allow: ['v1'] } }];
  for (const doc of [badGlob, contradiction]) {
    assert.ok(validatesAgainstSchema(doc));
    assert.equal(loadPolicySet([{ path: 'p.yaml', text: stringify(doc) }]).ok, false);
  }
  assert.ok(loadPolicySet([{ path: 'p.yaml', text: stringify(validPolicy()) }]).ok);
});

void test('the schema and the rule kinds use the same expressions for registries and digests', () => {
  const defs = policySchema.$defs as Record<string, { properties: Record<string, unknown> }>;
  type Items = { properties: Record<string, { properties: Record<string, { items: { pattern: string } }> }> };
  const kinds = (defs.ImagePolicySpec?.properties.rules as { items: Items }).items.properties;
  for (const list of ['allow', 'deny']) {
    assert.equal(kinds.registries?.properties[list]?.items.pattern, HOST_PATTERN.source);
    assert.equal(kinds.digests?.properties[list]?.items.pattern, DIGEST_PATTERN.source);
  }
});
