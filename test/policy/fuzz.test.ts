import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { loadPolicySet } from '../../src/policy/load.ts';
import { formatDiagnostic } from '../../src/policy/format-diagnostic.ts';
import { policy } from './helpers.ts';

function assertWellFormed(text: string): void {
  const result = loadPolicySet([{ path: 'f.yaml', text }]);
  const list = result.ok ? result.warnings : result.diagnostics;
  for (const d of list) {
    assert.equal(typeof d.message, 'string');
    assert.ok(d.message.length > 0);
    assert.ok(Number.isInteger(d.line) && d.line >= 0 && Number.isInteger(d.column) && d.column >= 0);
    assert.doesNotMatch(formatDiagnostic(d), /\n/);
    assert.doesNotMatch(d.message, /internal error/);
  }
  assert.ok(list.length <= 101);
}

void test('random text never throws and always yields well-formed diagnostics', () => {
  fc.assert(fc.property(fc.string({ maxLength: 400, unit: 'binary' }), assertWellFormed), {
    numRuns: 500,
    seed: 7,
  });
});

void test('random YAML-ish text never throws', () => {
  const token = fc.constantFrom(
    'apiVersion: portcullis.dev/v1alpha1\n',
    'kind: ImagePolicy\n',
    'kind: PolicySet\n',
    'metadata:\n',
    '  name: x\n',
    'spec:\n',
    '  images:\n',
    '    - glob: "**"\n',
    '  rules:\n',
    '    - tags: {forbid: [latest]}\n',
    '---\n',
    '&a ',
    '*a',
    '[',
    ']',
    '{',
    '}',
    ': ',
    '- ',
    '"',
    "'",
    '|\n',
    '>\n',
    '!!binary ',
    '!tag ',
    '<<: ',
    '? ',
    '#',
    '\t',
    '\n',
    '  ',
    '%YAML 1.2\n',
    '...\n',
    '\u0000',
    '\uFEFF',
  );
  fc.assert(
    fc.property(fc.array(token, { maxLength: 60 }), (parts) => assertWellFormed(parts.join(''))),
    { numRuns: 1000, seed: 11 },
  );
});

void test('mutated valid policies never throw', () => {
  const base = policy(
    'prod',
    '    - tags: { forbid: [latest], allow: ["v*"] }\n    - registries: { allow: [ghcr.io] }\n',
  );
  fc.assert(
    fc.property(
      fc.nat({ max: base.length }),
      fc.nat({ max: 20 }),
      fc.string({ maxLength: 10 }),
      (at, cut, insert) => assertWellFormed(base.slice(0, at) + insert + base.slice(at + cut)),
    ),
    { numRuns: 300, seed: 13 },
  );
});

void test('hostile shapes are bounded: deep nesting, many documents, long lines', () => {
  assertWellFormed('['.repeat(100_000));
  assertWellFormed(`${'a:\n '.repeat(5_000)}x`);
  assertWellFormed('---\na: 1\n'.repeat(5_000));
  assertWellFormed(`apiVersion: ${'x'.repeat(1_000_000)}\n`);
  assertWellFormed(policy('p', `    - tags: { forbid: [${'a,'.repeat(20_000)}b] }\n`));
});

void test('a 10 MB garbage file is refused by size, without parsing', () => {
  const garbage = Buffer.alloc(10 * 1024 * 1024, 'a{[:-\n').toString('latin1');
  const result = loadPolicySet([{ path: 'g.yaml', text: garbage }]);
  assert.equal(result.ok, false);
  assert.deepEqual(result.ok ? [] : result.diagnostics.map(formatDiagnostic), [
    'g.yaml:1:1: error: file is 10.0 MiB; policy files are limited to 1.0 MiB',
  ]);
});
