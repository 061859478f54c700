import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { compareSemVerStrings, parseSemVer, satisfiesSemVer, SemVerError } from '../../src/cel/semver.ts';

const num = fc.integer({ min: 0, max: 20 }).map(String);
const ident = fc.oneof(num, fc.constantFrom('alpha', 'beta', 'rc', 'x-1', 'A'));
const version = fc
  .tuple(
    num,
    num,
    num,
    fc.option(fc.array(ident, { minLength: 1, maxLength: 3 })),
    fc.option(fc.constantFrom('b.1', 'sha.abc')),
  )
  .map(
    ([a, b, c, pre, build]) => `${a}.${b}.${c}${pre ? `-${pre.join('.')}` : ''}${build ? `+${build}` : ''}`,
  );

test('compare is antisymmetric and transitive, and sorting is stable under it', () => {
  fc.assert(
    fc.property(version, version, version, (a, b, c) => {
      assert.equal(compareSemVerStrings(a, b), -compareSemVerStrings(b, a) || 0);
      if (compareSemVerStrings(a, b) <= 0 && compareSemVerStrings(b, c) <= 0)
        assert.ok(compareSemVerStrings(a, c) <= 0);
    }),
  );
});

test('the SemVer 2.0 specification example ordering', () => {
  const ordered = [
    '1.0.0-alpha',
    '1.0.0-alpha.1',
    '1.0.0-alpha.beta',
    '1.0.0-beta',
    '1.0.0-beta.2',
    '1.0.0-beta.11',
    '1.0.0-rc.1',
    '1.0.0',
    '2.0.0',
    '2.1.0',
    '2.1.1',
  ];
  for (let i = 0; i + 1 < ordered.length; i++)
    assert.equal(compareSemVerStrings(ordered[i]!, ordered[i + 1]!), -1, `${ordered[i]} < ${ordered[i + 1]}`);
});

test('a version satisfies the range made of itself, and >= and < split the line', () => {
  fc.assert(
    fc.property(version, version, (v, bound) => {
      const b = bound.replace(/\+.*$/, '');
      assert.equal(satisfiesSemVer(v, `=${b}`), compareSemVerStrings(v, b) === 0);
      assert.notEqual(satisfiesSemVer(v, `>=${b}`), satisfiesSemVer(v, `<${b}`));
    }),
  );
});

test('huge numbers compare exactly (no float rounding)', () => {
  assert.equal(compareSemVerStrings('9007199254740993.0.0', '9007199254740992.0.0'), 1);
});

test('invalid versions and oversize input are SemVerErrors', () => {
  for (const bad of [
    '',
    '1',
    '1.2',
    '1.2.3.4',
    '1.2.3-',
    '1.2.3-01',
    'v',
    ' 1.2.3',
    '1.2.3 ',
    '1.2.x',
    'x'.repeat(300),
  ]) {
    assert.throws(() => parseSemVer(bad), SemVerError, JSON.stringify(bad));
  }
});
