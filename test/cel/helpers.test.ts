import { test } from 'node:test';
import assert from 'node:assert/strict';
import { compileCondition, evaluateCondition, HELPER_NAMES } from '../../src/cel/index.ts';

const NOW = new Date('2026-11-27T12:00:00Z');

/** Evaluates to the boolean, or to the error message. */
function run(expression: string, input: unknown = {}): boolean | string {
  const compiled = compileCondition(expression, { variables: [{ name: 'input' }] });
  if (!compiled.ok) return `compile: ${compiled.errors.map((e) => e.message).join('; ')}`;
  const result = evaluateCondition(compiled.program, { input }, { now: NOW, deadlineMs: 60_000 });
  return result.ok ? result.value : result.error.replace(/^condition `.*`: /, '');
}

test('the helpers are the documented ones', () => {
  assert.deepEqual([...HELPER_NAMES].sort(), [
    'isWithin',
    'semver.compare',
    'semver.isValid',
    'semver.satisfies',
    'sum',
  ]);
});

test('isWithin: RFC 3339 strings and CEL durations, relative to the decision time', () => {
  assert.equal(run("isWithin('2026-11-20T12:00:00Z', '168h')"), true, 'exactly 7 days ago is within 7 days');
  assert.equal(run("isWithin('2026-11-20T11:59:59Z', '168h')"), false);
  assert.equal(run("isWithin('2026-11-27T12:00:00Z', '0s')"), true, 'now itself');
  assert.equal(run("isWithin('2026-11-27T13:00:00+01:00', '1m')"), true, 'offsets are honoured');
  assert.equal(run("isWithin('2026-11-27T11:30:00.5Z', '30m')"), true, 'fractional seconds');
  assert.equal(run("isWithin('2026-11-27T11:29:59.999Z', '30m')"), false);
  assert.equal(
    run("isWithin('2026-11-27T12:00:01Z', '168h')"),
    false,
    'a time in the future is not within the last 7 days',
  );
  assert.equal(run("isWithin('2026-09-01T00:00:00Z', '2160h')"), true, '90 days');
  assert.equal(run("isWithin('2026-08-28T00:00:00Z', '2160h')"), false);
  assert.equal(run("isWithin('2026-11-27T11:00:00Z', '1h30m')"), true, 'compound durations');
});

test('isWithin: timestamp and duration values too', () => {
  assert.equal(run("isWithin(timestamp('2026-11-25T00:00:00Z'), duration('72h'))"), true);
  assert.equal(run("isWithin(timestamp('2026-11-25T00:00:00Z'), '24h')"), false);
  assert.equal(run("isWithin('2026-11-25T00:00:00Z', duration('72h'))"), true);
  assert.equal(run("isWithin(now - duration('1h'), '2h')"), true);
});

test('isWithin: bad times and durations are errors, not false', () => {
  assert.equal(
    run("isWithin('2026-11-25', '168h')"),
    '"2026-11-25" is not an RFC 3339 timestamp (line 1, column 1)',
  );
  assert.equal(
    run("isWithin('yesterday', '168h')"),
    '"yesterday" is not an RFC 3339 timestamp (line 1, column 1)',
  );
  assert.equal(
    run("isWithin('2026-11-25T00:00:00Z', '7d')"),
    '"7d" is not a duration like "168h" or "30m" (line 1, column 1)',
  );
  assert.equal(
    run("isWithin('2026-11-25T00:00:00Z', '-1h')"),
    'isWithin: the duration must not be negative (line 1, column 1)',
  );
  assert.match(
    String(run("isWithin(input.t, '1h')", { t: 1764000000 })),
    /^found no matching overload for 'isWithin' applied to '\(int, string\)'/,
  );
});

test('standard timestamp() and duration() work on RFC 3339 strings from predicates', () => {
  const input = { finished: '2026-11-25T10:00:00.123456789Z', started: '2026-11-25T09:58:10+00:00' };
  assert.equal(run('timestamp(input.finished) > timestamp(input.started)', input), true);
  assert.equal(run("timestamp(input.finished) - timestamp(input.started) < duration('2m')", input), true);
  assert.equal(run("now - timestamp(input.finished) < duration('168h')", input), true);
  assert.equal(run("timestamp(input.finished) + duration('72h') < now", input), false);
  assert.equal(run('timestamp(input.finished).getFullYear() == 2026', input), true);
  assert.match(String(run("timestamp('2026-11-25 10:00:00') < now")), /^Failed to parse timestamp/);
});

test('semver.compare orders by SemVer 2.0 precedence', () => {
  assert.equal(run("semver.compare('1.2.3', '1.10.0') == -1"), true, 'numerically, not as strings');
  assert.equal(run("semver.compare('v2.0.0', '2.0.0') == 0"), true, 'a leading v is accepted');
  assert.equal(
    run("semver.compare('1.0.0+build.5', '1.0.0+build.7') == 0"),
    true,
    'build metadata is ignored',
  );
  assert.equal(
    run("semver.compare('1.0.0-rc.1', '1.0.0') == -1"),
    true,
    'a pre-release precedes its release',
  );
  assert.equal(run("semver.compare('1.0.0-alpha.10', '1.0.0-alpha.9') == 1"), true);
  assert.equal(run("semver.compare('1.0.0-alpha', '1.0.0-alpha.1') == -1"), true);
  assert.equal(run("semver.compare('1.0.0-1', '1.0.0-alpha') == -1"), true, 'numeric identifiers sort first');
  assert.equal(
    run("semver.compare('1.2', '1.2.0') == 0"),
    '"1.2" is not a semantic version (MAJOR.MINOR.PATCH) (line 1, column 7)',
  );
  assert.equal(
    run("semver.compare('01.2.3', '1.2.3') == 0"),
    '"01.2.3" is not a semantic version (MAJOR.MINOR.PATCH) (line 1, column 7)',
  );
});

test('semver.satisfies: comparators, AND by spaces, OR by ||', () => {
  assert.equal(run("semver.satisfies('1.4.2', '>=1.2.0 <2')"), true);
  assert.equal(run("semver.satisfies('2.0.0', '>=1.2.0 <2')"), false);
  assert.equal(run("semver.satisfies('1.1.9', '>=1.2.0 <2')"), false);
  assert.equal(run("semver.satisfies('v3.1.0', '<2 || >=3.1')"), true);
  assert.equal(run("semver.satisfies('2.5.0', '<2 || >=3.1')"), false);
  assert.equal(run("semver.satisfies('1.2.3', '1.2.3')"), true);
  assert.equal(run("semver.satisfies('1.2.3', '=1.2.3')"), true);
  assert.equal(run("semver.satisfies('1.2.3', '>= 1.0.0')"), true, 'a space after the operator is accepted');
  assert.equal(
    run("semver.satisfies('2.0.0-rc.1', '<2')"),
    true,
    'pre-releases by precedence (no npm special case)',
  );
  assert.equal(
    run("semver.satisfies('1.2.3', '^1.2.0')"),
    'range "^1.2.0": "^1.2.0" is not a comparator like >=1.2.0 (line 1, column 7)',
  );
  assert.equal(
    run("semver.satisfies('1.2.3', '=1.2')"),
    'range "=1.2": "=1.2" needs a full MAJOR.MINOR.PATCH version (line 1, column 7)',
  );
  assert.equal(
    run("semver.satisfies('1.2.3', '>=1 ||')"),
    'range ">=1 ||" has an empty alternative (line 1, column 7)',
  );
  assert.equal(
    run("semver.satisfies('latest', '>=1')"),
    '"latest" is not a semantic version (MAJOR.MINOR.PATCH) (line 1, column 7)',
  );
});

test('semver.isValid never fails', () => {
  assert.equal(run("semver.isValid('1.2.3-rc.1+b.2')"), true);
  assert.equal(run("!semver.isValid('latest') && !semver.isValid('1.2') && !semver.isValid('')"), true);
});

test('sum adds ints exactly, and doubles when any element is one', () => {
  assert.equal(
    run('sum(input.layers.map(l, l.size)) == 31457280', { layers: [{ size: 10485760 }, { size: 20971520 }] }),
    true,
  );
  assert.equal(run('sum([]) == 0'), true);
  assert.equal(run('sum([1, 2.5]) == 3.5'), true);
  assert.equal(
    run("sum([1, 'a']) == 1"),
    'sum() takes a list of numbers; element 1 is a string (line 1, column 1)',
  );
  assert.equal(run('sum([9223372036854775807, 1]) > 0'), 'int overflow in sum() (line 1, column 1)');
});

test('the macros work: all, exists, exists_one, filter, map (two and three argument forms)', () => {
  const input = {
    vulns: [
      { id: 'CVE-1', severity: 'LOW' },
      { id: 'CVE-2', severity: 'HIGH' },
      { id: 'CVE-3', severity: 'HIGH' },
    ],
  };
  assert.equal(run("input.vulns.all(v, v.severity != 'CRITICAL')", input), true);
  assert.equal(run("input.vulns.exists(v, v.severity == 'HIGH')", input), true);
  assert.equal(run("input.vulns.exists_one(v, v.severity == 'HIGH')", input), false);
  assert.equal(run("input.vulns.exists_one(v, v.severity == 'LOW')", input), true);
  assert.equal(
    run("input.vulns.filter(v, v.severity == 'HIGH').map(v, v.id) == ['CVE-2', 'CVE-3']", input),
    true,
  );
  assert.equal(run("input.vulns.map(v, v.severity == 'HIGH', v.id) == ['CVE-2', 'CVE-3']", input), true);
  assert.equal(
    run('[].all(v, false) && ![].exists(v, true)'),
    true,
    'empty lists: all is true, exists is false',
  );
  assert.equal(run("{'a': 1, 'b': 2}.all(k, k in ['a', 'b'])"), true, 'maps iterate their keys');
});
