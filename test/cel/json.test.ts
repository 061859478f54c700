import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  compileCondition,
  evaluateCondition,
  jsonToCel,
  CelInputError,
  JSON_INPUT_LIMITS,
} from '../../src/cel/index.ts';

const NOW = new Date('2026-11-27T12:00:00Z');

function run(expression: string, input: unknown): boolean | string {
  const compiled = compileCondition(expression, { variables: [{ name: 'input' }] });
  if (!compiled.ok) return `compile: ${compiled.errors.map((e) => e.message).join('; ')}`;
  const result = evaluateCondition(compiled.program, { input }, { now: NOW, deadlineMs: 60_000 });
  return result.ok ? result.value : result.error.replace(/^condition `.*`: /, '');
}

test('integral JSON numbers are CEL ints, others doubles', () => {
  assert.equal(run('type(input.n) == int && input.n + 1 == 4', { n: 3 }), true);
  assert.equal(run('type(input.n) == double', { n: 3.5 }), true);
  assert.equal(run('type(input.n) == int', { n: 3.0 }), true, 'JSON cannot tell 3.0 from 3');
  assert.equal(
    run('type(input.n) == double', { n: 2 ** 60 }),
    true,
    'beyond 2^53 the value was already rounded',
  );
  assert.equal(run('type(input.n) == int && input.n < 0', { n: -42 }), true);
  assert.equal(run('input.n == 3', { n: 3.0 }), true);
  assert.equal(run('input.size < 200 * 1024 * 1024', { size: 104857600 }), true);
});

test('JSON timestamps stay strings; timestamp() parses them', () => {
  assert.equal(
    run('type(input.created) == string && timestamp(input.created) < now', {
      created: '2026-01-01T00:00:00Z',
    }),
    true,
  );
});

test('objects become maps: keys such as $typeName or __proto__ are plain keys', () => {
  const attack = JSON.parse(
    '{"$typeName": "google.protobuf.Timestamp", "seconds": 1, "__proto__": {"x": 1}}',
  ) as unknown;
  assert.equal(
    run("input['$typeName'] == 'google.protobuf.Timestamp' && input['__proto__'].x == 1", attack),
    true,
  );
  assert.equal(run('type(input) == map', attack), true);
});

test('null, booleans, nested lists and maps convert', () => {
  assert.equal(
    run('input.a == null && input.b && input.c[1][0] == "x" && input.d.e.f == false', {
      a: null,
      b: true,
      c: [[], ['x']],
      d: { e: { f: false } },
    }),
    true,
  );
});

test('undefined members are dropped as JSON.stringify would', () => {
  assert.equal(run('!has(input.gone) && input.kept == 1', { gone: undefined, kept: 1 }), true);
});

test('bounds: depth, string length, array length, object keys, total values', () => {
  const limits = { maxDepth: 3, maxStringLength: 8, maxArrayLength: 4, maxObjectKeys: 2, maxTotalValues: 20 };
  const error = (value: unknown): string => {
    try {
      jsonToCel(value, 'predicate', limits);
    } catch (e) {
      assert.ok(e instanceof CelInputError);
      return `${e.code} ${e.message}`;
    }
    return 'no error';
  };
  assert.equal(
    error({ a: { b: { c: { d: 1 } } } }),
    'CEL_INPUT_TOO_LARGE predicate.a.b.c.d: nested deeper than 3 levels',
  );
  assert.equal(
    error({ s: 'x'.repeat(9) }),
    'CEL_INPUT_TOO_LARGE predicate.s: string of 9 characters; the limit is 8',
  );
  assert.equal(error([1, 2, 3, 4, 5]), 'CEL_INPUT_TOO_LARGE predicate: array of 5 elements; the limit is 4');
  assert.equal(
    error({ a: 1, b: 2, c: 3 }),
    'CEL_INPUT_TOO_LARGE predicate: object with 3 keys; the limit is 2',
  );
  assert.equal(
    error([
      [1, 2, 3, 4],
      [1, 2, 3, 4],
      [1, 2, 3, 4],
      [1, 2, 3, 4],
    ]),
    'CEL_INPUT_TOO_LARGE predicate: more than 20 values',
  );
  assert.equal(
    error({ 'odd key': [{ 'x.y': 'toolongvalue' }] }),
    'CEL_INPUT_TOO_LARGE predicate["odd key"][0]["x.y"]: string of 12 characters; the limit is 8',
  );
  assert.equal(error({ a: 'ok' }), 'no error');
});

test('a cycle ends at the depth bound rather than looping', () => {
  const cyclic: Record<string, unknown> = {};
  cyclic.self = cyclic;
  assert.throws(() => jsonToCel(cyclic, 'x'), { code: 'CEL_INPUT_TOO_LARGE' });
});

test('non-JSON values are refused by kind', () => {
  const kinds: [unknown, string][] = [
    [undefined, 'undefined is not a JSON value'],
    [() => 1, 'function is not a JSON value'],
    [new Map(), 'Map is not a JSON value'],
    [Infinity, 'Infinity is not a JSON number'],
    [10n, 'bigint is not a JSON value'],
  ];
  for (const [value, message] of kinds) {
    assert.throws(() => jsonToCel(value, 'v'), { code: 'CEL_INPUT_INVALID', message: `v: ${message}` });
  }
});

test('the default limits are generous enough for a large vulnerability report', () => {
  const vulns = Array.from({ length: 5000 }, (_, i) => ({
    id: `CVE-2026-${i}`,
    severity: 'LOW',
    package: { name: 'p', version: '1.0.0' },
  }));
  assert.doesNotThrow(() =>
    jsonToCel({ scanner: { result: { vulnerabilities: vulns } } }, 'predicate', JSON_INPUT_LIMITS),
  );
});
