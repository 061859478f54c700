import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { compileCondition, evaluateCondition, jsonToCel, CelInputError } from '../../src/cel/index.ts';

const NOW = new Date('2026-11-27T12:00:00Z');
const variables = [{ name: 'input' }];

// Fragments of CEL, glued at random: mostly nonsense, sometimes valid, never a crash.
const token = fc.constantFrom(
  'input',
  '.',
  'a',
  'b',
  'l',
  '(',
  ')',
  '[',
  ']',
  '{',
  '}',
  ',',
  ':',
  '?',
  '!',
  '-',
  '+',
  '*',
  '/',
  '%',
  '==',
  '!=',
  '<',
  '>=',
  '&&',
  '||',
  ' in ',
  '1',
  '0',
  '2.5',
  '1u',
  "'x'",
  '"y"',
  "b'z'",
  'true',
  'null',
  'size',
  'has',
  'all',
  'exists',
  'map',
  'filter',
  'x',
  'isWithin',
  'semver.compare',
  'sum',
  'timestamp',
  'duration',
  "'168h'",
  "'2026-11-20T00:00:00Z'",
  'now',
  ' ',
  '\n',
  '//c\n',
  "'",
  '"',
  '\\',
);
const expression = fc.oneof(
  fc.string({ maxLength: 200 }),
  fc.array(token, { maxLength: 40 }).map((t) => t.join('')),
);

test('compileCondition never throws, and every error has a position inside the expression', () => {
  fc.assert(
    fc.property(expression, (src) => {
      const result = compileCondition(src, { variables });
      if (!result.ok) {
        assert.ok(result.errors.length > 0);
        for (const e of result.errors) {
          assert.ok(e.offset >= 0 && e.offset <= src.length, `${e.offset} in ${JSON.stringify(src)}`);
          assert.ok(e.line >= 1 && e.column >= 1);
          assert.equal(typeof e.message, 'string');
        }
      }
    }),
    { numRuns: 3000 },
  );
});

test('evaluateCondition never throws and yields a boolean or an error', () => {
  const input = fc.jsonValue({ maxDepth: 4 });
  fc.assert(
    fc.property(expression, input, (src, value) => {
      const compiled = compileCondition(src, { variables });
      if (!compiled.ok) return;
      const result = evaluateCondition(compiled.program, { input: value }, { now: NOW, costBudget: 10_000 });
      if (result.ok) assert.equal(typeof result.value, 'boolean');
      else assert.ok(result.error.startsWith('condition `'), result.error);
    }),
    { numRuns: 3000 },
  );
});

test('jsonToCel accepts any JSON value or throws CelInputError', () => {
  fc.assert(
    fc.property(fc.jsonValue(), (value) => {
      try {
        jsonToCel(value, 'v');
      } catch (e) {
        assert.ok(e instanceof CelInputError);
      }
    }),
  );
});
