/**
 * The policy CRDs: structural (what the API server demands of an openAPIV3Schema), and the example
 * policies validate against the schema the API server will apply, as kubectl would send them.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { parseAllDocuments } from 'yaml';
import { Ajv } from 'ajv';
import { policyCrds, policyOpenApiSchema, structuralProblems } from '../../src/install/index.ts';
import { toStructural } from '../../src/install/structural.ts';

const EXAMPLES = 'examples/policies';

function crdValidator() {
  // The API server validates with the openAPIV3Schema; ajv stands in, told about the x-kubernetes keywords.
  const ajv = new Ajv({ allErrors: true, strict: true, strictRequired: false });
  for (const keyword of ['x-kubernetes-int-or-string', 'x-kubernetes-preserve-unknown-fields'])
    ajv.addKeyword({ keyword, schemaType: 'boolean' });
  return ajv.compile(policyOpenApiSchema());
}

async function examplePolicies(): Promise<{ file: string; doc: Record<string, unknown> }[]> {
  const out = [];
  for (const file of (await readdir(EXAMPLES)).sort()) {
    const text = await readFile(join(EXAMPLES, file), 'utf8');
    for (const d of parseAllDocuments(text) as ReturnType<typeof parseAllDocuments> & unknown[]) {
      const doc = (d as { toJS(): Record<string, unknown> }).toJS();
      if (doc.kind === 'ImagePolicy') out.push({ file, doc });
    }
  }
  return out;
}

test('two CRDs: ImagePolicy cluster-scoped, NamespacedImagePolicy namespaced, same schema', () => {
  const crds = policyCrds() as unknown as {
    metadata: { name: string };
    spec: {
      group: string;
      scope: string;
      names: { kind: string };
      versions: { name: string; served: boolean; storage: boolean; schema: unknown }[];
    };
  }[];
  assert.deepEqual(
    crds.map((c) => [c.metadata.name, c.spec.group, c.spec.scope, c.spec.names.kind]),
    [
      ['imagepolicies.portcullis.dev', 'portcullis.dev', 'Cluster', 'ImagePolicy'],
      ['namespacedimagepolicies.portcullis.dev', 'portcullis.dev', 'Namespaced', 'NamespacedImagePolicy'],
    ],
  );
  for (const c of crds) {
    assert.equal(c.spec.versions.length, 1);
    const v = c.spec.versions[0]!;
    assert.deepEqual([v.name, v.served, v.storage], ['v1alpha1', true, true]);
    assert.deepEqual(v.schema, { openAPIV3Schema: policyOpenApiSchema() });
  }
});

test('the CRD schema is structural', () => {
  const schema = policyOpenApiSchema();
  assert.deepEqual(structuralProblems(schema), []);
  // No $ref, no additionalProperties beside properties anywhere (checked directly, not only by the checker).
  const text = JSON.stringify(schema);
  assert.doesNotMatch(text, /"\$ref"|"\$schema"|"\$id"/);
  const walk = (n: unknown): void => {
    if (Array.isArray(n)) return n.forEach(walk);
    if (typeof n !== 'object' || n === null) return;
    const o = n as Record<string, unknown>;
    assert.ok(
      !(
        o.properties &&
        typeof o.properties === 'object' &&
        'additionalProperties' in o &&
        typeof o.type === 'string'
      ),
    );
    Object.values(o).forEach(walk);
  };
  walk(schema);
});

test('the example policies validate against the CRD schema', async () => {
  const validate = crdValidator();
  const examples = await examplePolicies();
  assert.ok(examples.length >= 3);
  for (const { file, doc } of examples)
    assert.equal(validate(doc), true, `${file}: ${JSON.stringify(validate.errors)}`);
});

test('the CRD schema refuses what the policy language refuses', async () => {
  const validate = crdValidator();
  const found = (await examplePolicies()).find((e) => e.file === 'production.yaml');
  assert.ok(found);
  const doc = found.doc;
  const spec = doc.spec as Record<string, unknown>;
  const bad: [string, Record<string, unknown>][] = [
    ['mode loud', { ...doc, spec: { ...spec, mode: 'loud' } }],
    ['no images', { ...doc, spec: JSON.parse(JSON.stringify({ ...spec, images: undefined })) }],
    [
      'rule with two kinds',
      { ...doc, spec: { ...spec, rules: [{ name: 'x', tags: { forbid: ['a'] }, digests: { deny: [] } }] } },
    ],
    ['no spec', { apiVersion: doc.apiVersion, kind: doc.kind, metadata: doc.metadata }],
  ];
  for (const [what, value] of bad) assert.equal(validate(value), false, what);
});

test('structuralProblems names each violation', () => {
  assert.deepEqual(
    structuralProblems({
      type: 'object',
      properties: {
        a: { properties: { b: { type: 'string' } } },
        c: { type: ['string', 'integer'] },
        d: { type: 'object', properties: {}, additionalProperties: false },
        e: { type: 'string', oneOf: [{ type: 'string' }, { description: 'x' }] },
        f: { type: 'array', uniqueItems: true, items: { type: 'string', pattern: '^(?!x)' } },
        g: { type: 'string', const: 'x' },
        h: { $ref: '#/x' },
      },
    }),
    [
      '.properties.a: type is missing',
      '.properties.c: type must be one of object, array, string, integer, number, boolean, not ["string","integer"]',
      '.properties.c: type is missing',
      '.properties.d: properties and additionalProperties cannot both be set',
      '.properties.e.oneOf[0]: "type" is not allowed inside allOf/anyOf/oneOf/not',
      '.properties.e.oneOf[1]: "description" is not allowed inside allOf/anyOf/oneOf/not',
      '.properties.f: uniqueItems: true is refused by the API server',
      '.properties.f.items: pattern uses look-around or a back-reference, which RE2 cannot compile',
      '.properties.g: "const" is not a CRD schema keyword',
      '.properties.h: "$ref" is not a CRD schema keyword',
      '.properties.h: type is missing',
    ],
  );
});

test('toStructural inlines $ref, turns integer-or-string into int-or-string, opens other unions', () => {
  const root = { $defs: { name: { type: 'string', maxLength: 5 } } };
  assert.deepEqual(
    toStructural(
      {
        type: 'object',
        additionalProperties: false,
        properties: {
          n: { $ref: '#/$defs/name', description: 'the name' },
          size: { type: ['string', 'integer'] },
          max: { anyOf: [{ type: 'string' }, { type: 'integer' }] },
          either: {
            description: 'one or many',
            oneOf: [{ type: 'string' }, { type: 'array', items: { type: 'string' } }],
          },
          kind: { type: 'object', oneOf: [{ required: ['a'] }, { required: ['b'] }] },
        },
      },
      root,
    ),
    {
      type: 'object',
      properties: {
        n: { type: 'string', maxLength: 5, description: 'the name' },
        size: { 'x-kubernetes-int-or-string': true },
        max: { anyOf: [{ type: 'string' }, { type: 'integer' }], 'x-kubernetes-int-or-string': true },
        either: { description: 'one or many', 'x-kubernetes-preserve-unknown-fields': true },
        kind: { type: 'object', oneOf: [{ required: ['a'] }, { required: ['b'] }] },
      },
    },
  );
  assert.throws(
    () => toStructural({ type: ['string', 'boolean'] }, {}),
    /type list \["string","boolean"\] has no CRD equivalent/,
  );
  assert.throws(() => toStructural({ $ref: '#/nowhere' }, {}), /\$ref #\/nowhere points nowhere/);
});
