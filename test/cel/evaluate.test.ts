import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  compileCondition,
  evaluateCondition,
  type CompiledCondition,
  type EvaluateOptions,
  type EvaluateResult,
} from '../../src/cel/index.ts';

const NOW = new Date('2026-11-27T12:00:00Z');

function compile(expression: string): CompiledCondition {
  const result = compileCondition(expression, { variables: [{ name: 'input' }, { name: 'signer' }] });
  if (!result.ok) assert.fail(`${expression}: ${JSON.stringify(result.errors)}`);
  return result.program;
}

function evaluate(
  expression: string,
  input?: unknown,
  options: Partial<EvaluateOptions> = {},
): EvaluateResult {
  return evaluateCondition(compile(expression), input === undefined ? {} : { input }, {
    now: NOW,
    // Generous: these tests are about results, not speed (the deadline test sets its own).
    deadlineMs: 60_000,
    ...options,
  });
}

function failure(result: EvaluateResult): Extract<EvaluateResult, { ok: false }> {
  if (result.ok) assert.fail(`expected an error, got ${result.value}`);
  return result;
}

const range = (n: number): number[] => Array.from({ length: n }, (_, i) => i);

test('a true and a false condition', () => {
  // Cost: one call (==) plus one unit per 10 characters of each string argument.
  assert.deepEqual(evaluate("input.os == 'linux'", { os: 'linux' }), { ok: true, value: true, cost: 3 });
  assert.deepEqual(evaluate("input.os == 'linux'", { os: 'windows' }), { ok: true, value: false, cost: 3 });
});

test('a non-boolean result is an error, never truthiness', () => {
  const e = failure(evaluate('input.user', { user: 'root' }));
  assert.equal(e.code, 'CEL_NOT_BOOLEAN');
  assert.equal(e.error, 'condition `input.user`: condition must evaluate to a boolean, got string');
  assert.equal(failure(evaluate('input.layers', { layers: [] })).error.endsWith('got list'), true);
  assert.equal(failure(evaluate('size(input.layers)', { layers: [] })).error.endsWith('got int'), true);
  assert.equal(failure(evaluate('input.x', { x: null })).error.endsWith('got null_type'), true);
});

test('a missing field is a runtime error naming the expression, the message and the position', () => {
  const e = failure(evaluate("input.config.User != 'root'", { config: { Cmd: ['/app'] } }));
  assert.deepEqual(e, {
    ok: false,
    code: 'CEL_RUNTIME_ERROR',
    error: "condition `input.config.User != 'root'`: field not found: User (line 1, column 13)",
    offset: 12,
    line: 1,
    column: 13,
    cost: 0,
  });
});

test('has() tests for a field without failing', () => {
  assert.deepEqual(evaluate("has(input.config.User) && input.config.User != 'root'", { config: {} }), {
    ok: true,
    value: false,
    cost: 0,
  });
});

test('a declared variable the caller did not bind is an error naming it', () => {
  const e = failure(evaluate("signer.issuer == 'https://accounts.google.com'"));
  assert.equal(e.code, 'CEL_RUNTIME_ERROR');
  assert.equal(
    e.error,
    "condition `signer.issuer == 'https://accounts.google.com'`: no value was given for 'signer' (line 1, column 1)",
  );
});

test('type errors and arithmetic errors are runtime errors', () => {
  assert.equal(
    failure(evaluate('input.size + 1 > 10', { size: 'big' })).error,
    "condition `input.size + 1 > 10`: found no matching overload for '_+_' applied to '(string, int)' (line 1, column 12)",
  );
  assert.equal(
    failure(evaluate('input.n / 0 == 1', { n: 4 })).error,
    'condition `input.n / 0 == 1`: int divide by zero',
  );
  assert.equal(
    failure(evaluate('input.n * input.n > 0', { n: 9007199254740991 })).error,
    'condition `input.n * input.n > 0`: int overflow during _*_',
  );
});

test('an error inside a macro makes the whole condition an error', () => {
  const e = failure(
    evaluate("input.vulns.all(v, v.severity != 'CRITICAL')", { vulns: [{ severity: 'LOW' }, { id: 'x' }] }),
  );
  assert.equal(e.code, 'CEL_RUNTIME_ERROR');
  assert.equal(e.error.includes('field not found: severity'), true);
});

test('a helper failure is a runtime error with the helper message', () => {
  const e = failure(evaluate("semver.compare(input.version, '1.0.0') >= 0", { version: 'latest' }));
  assert.equal(
    e.error,
    'condition `semver.compare(input.version, \'1.0.0\') >= 0`: "latest" is not a semantic version (MAJOR.MINOR.PATCH) (line 1, column 7)',
  );
});

test('exhausting the cost budget is an error, whatever the rest of the expression says', () => {
  const input = { l: range(1000) };
  const adversarial = 'input.l.all(x, input.l.all(y, input.l.all(z, x + y + z >= 0)))';
  const e = failure(evaluate(adversarial, input, { costBudget: 10_000, deadlineMs: 60_000 }));
  assert.equal(e.code, 'CEL_COST_BUDGET_EXCEEDED');
  assert.match(e.error, /^condition `input\.l\.all\(.*`: exceeded the cost budget of 10000 \(used \d+\)$/);
  // `||` and `&&` would absorb an ordinary error on one side; exhaustion is not absorbed.
  assert.equal(
    failure(evaluate(`${adversarial} || true`, input, { costBudget: 10_000, deadlineMs: 60_000 })).code,
    'CEL_COST_BUDGET_EXCEEDED',
  );
  assert.equal(
    failure(evaluate(`${adversarial} && false`, input, { costBudget: 10_000, deadlineMs: 60_000 })).code,
    'CEL_COST_BUDGET_EXCEEDED',
  );
  assert.equal(
    failure(
      evaluate(`[1].exists(a, ${adversarial}) || true`, input, { costBudget: 10_000, deadlineMs: 60_000 }),
    ).code,
    'CEL_COST_BUDGET_EXCEEDED',
  );
});

test('the default budget stops an adversarial expression too', () => {
  const e = failure(
    evaluate(
      'input.l.all(x, input.l.all(y, input.l.all(z, true)))',
      { l: range(1000) },
      { deadlineMs: 600_000 },
    ),
  );
  assert.equal(e.code, 'CEL_COST_BUDGET_EXCEEDED');
  assert.match(e.error, /exceeded the cost budget of 1000000/);
});

test('string and list arguments cost their size', () => {
  const small = evaluate("input.s.contains('x')", { s: 'a' });
  const large = evaluate("input.s.contains('x')", { s: 'a'.repeat(100_000) });
  assert.equal(small.cost, 3);
  assert.equal(large.cost, 10_002);
  const e = failure(evaluate("input.s.contains('x')", { s: 'a'.repeat(100_000) }, { costBudget: 5_000 }));
  assert.equal(e.code, 'CEL_COST_BUDGET_EXCEEDED');
  assert.equal(evaluate('1 in input.l', { l: range(500) }).cost, 501);
  // Concatenation charges what it copies: both lists here, only the appended one inside map().
  assert.equal(evaluate('size(input.l + input.l) > 0', { l: range(500) }).cost, 1001 + 1001 + 1);
  assert.equal(
    failure(evaluate('input.l.all(x, size(input.l + input.l) > 0)', { l: range(1000) })).code,
    'CEL_COST_BUDGET_EXCEEDED',
  );
});

test('a short-circuited branch costs nothing', () => {
  assert.deepEqual(
    evaluate('true || input.l.all(x, input.l.all(y, true))', { l: range(1000) }, { costBudget: 10 }),
    {
      ok: true,
      value: true,
      cost: 0,
    },
  );
});

test('the deadline stops an evaluation the budget would allow', () => {
  const e = failure(
    evaluate(
      'input.l.all(x, input.l.all(y, input.l.all(z, true)))',
      { l: range(1000) },
      { costBudget: 1e15, deadlineMs: 1 },
    ),
  );
  assert.equal(e.code, 'CEL_DEADLINE_EXCEEDED');
  assert.match(e.error, /: exceeded the deadline of 1 ms \(used \d+\)$/);
});

test('an invalid decision time is refused', () => {
  const e = failure(evaluate('true', undefined, { now: new Date('nonsense') }));
  assert.equal(e.code, 'CEL_INPUT_INVALID');
  assert.equal(e.error, 'condition `true`: the decision time (now) is not a valid date');
});

test('input beyond the bounds is refused before evaluation, with where', () => {
  const deep: Record<string, unknown> = {};
  let node = deep;
  for (let i = 0; i < 100; i++) node = node.a = {} as Record<string, unknown>;
  const e = failure(evaluate('true', deep));
  assert.equal(e.code, 'CEL_INPUT_TOO_LARGE');
  assert.equal(e.error, `condition \`true\`: input input${'.a'.repeat(65)}: nested deeper than 64 levels`);
  const wide = failure(
    evaluate(
      'true',
      { l: range(10) },
      {
        inputLimits: {
          maxDepth: 8,
          maxStringLength: 10,
          maxArrayLength: 5,
          maxObjectKeys: 5,
          maxTotalValues: 100,
        },
      },
    ),
  );
  assert.equal(wide.error, 'condition `true`: input input.l: array of 10 elements; the limit is 5');
});

test('values JSON cannot hold are refused', () => {
  assert.equal(
    failure(evaluate('true', { when: new Date() })).error,
    'condition `true`: input input.when: Date is not a JSON value',
  );
  assert.equal(
    failure(evaluate('true', { n: Number.NaN })).error,
    'condition `true`: input input.n: NaN is not a JSON number',
  );
});

test('the evaluation reads no clock: now is the decision time given', () => {
  assert.equal(evaluate("now == timestamp('2026-11-27T12:00:00Z')").ok, true);
  assert.equal((evaluate("now == timestamp('2026-11-27T12:00:00Z')") as { value: boolean }).value, true);
  const at = (iso: string) =>
    evaluateCondition(compile("isWithin('2026-11-20T12:00:00Z', '168h')"), {}, { now: new Date(iso) });
  assert.equal(
    at('2026-11-27T12:00:00Z').ok && (at('2026-11-27T12:00:00Z') as { value: boolean }).value,
    true,
  );
  assert.equal(
    at('2026-11-27T12:00:01Z').ok && (at('2026-11-27T12:00:01Z') as { value: boolean }).value,
    false,
  );
});

test('a compiled program can be evaluated many times with different inputs', () => {
  const program = compile("input.os == 'linux'");
  const results = ['linux', 'windows', 'linux'].map((os) =>
    evaluateCondition(program, { input: { os } }, { now: NOW }),
  );
  assert.deepEqual(
    results.map((r) => r.ok && r.value),
    [true, false, true],
  );
});

test('map and filter over thousands of elements work (no deep lazy concatenation)', () => {
  const l = range(20_000);
  assert.equal(
    (evaluate('input.l.map(x, x * 2).all(y, y % 2 == 0)', { l }) as { value: boolean }).value,
    true,
  );
  assert.equal(
    (evaluate('input.l.filter(x, x >= 19990).size() == 10', { l }) as { value: boolean }).value,
    true,
  );
  assert.equal((evaluate('input.l.map(x, x)[19999] == 19999', { l }) as { value: boolean }).value, true);
});

test('lists stay immutable when one list is extended twice', () => {
  const r = evaluate(
    '[[1, 2].map(x, x)].all(l, l + [3] == [1, 2, 3] && l + [4] == [1, 2, 4] && l == [1, 2] && size(l) == 2)',
  );
  assert.deepEqual(r.ok && r.value, true);
  const r2 = evaluate(
    '[[1, 2].map(x, x)].all(l, [l + [3], l + [4]].map(m, m + [5]) == [[1, 2, 3, 5], [1, 2, 4, 5]])',
  );
  assert.deepEqual(r2.ok && r2.value, true);
});
