import { test } from 'node:test';
import assert from 'node:assert/strict';
import { compileCondition, CEL_LIMITS, type ConditionError } from '../../src/cel/index.ts';

const variables = [{ name: 'predicate' }, { name: 'config' }, { name: 'image' }];

function errorsOf(expression: string): ConditionError[] {
  const result = compileCondition(expression, { variables });
  assert.equal(result.ok, false, `expected ${JSON.stringify(expression)} not to compile`);
  return result.ok ? [] : result.errors;
}

function onlyError(expression: string): ConditionError {
  const errors = errorsOf(expression);
  assert.equal(errors.length, 1, JSON.stringify(errors));
  return errors[0]!;
}

test('a well-formed condition compiles and lists the variables it may read, now included', () => {
  const result = compileCondition("predicate.builder.id == 'x' && now > timestamp('2020-01-01T00:00:00Z')", {
    variables,
  });
  assert.equal(result.ok, true);
  if (result.ok)
    assert.deepEqual([...result.program.variables].sort(), ['config', 'image', 'now', 'predicate']);
});

test('an undeclared variable is reported at its position, with the variables available', () => {
  assert.deepEqual(onlyError("predicate.x == 1 &&\n  statment.y == 'z'"), {
    code: 'CEL_UNDECLARED',
    message: "undeclared variable 'statment' (available: config, image, now, predicate)",
    offset: 22,
    line: 2,
    column: 3,
  });
});

test('comprehension variables are in scope inside the macro only', () => {
  assert.equal(compileCondition('predicate.list.all(v, v.ok)', { variables }).ok, true);
  const e = onlyError('predicate.list.all(v, v.ok) && v.ok');
  assert.equal(e.code, 'CEL_UNDECLARED');
  assert.equal(e.message.startsWith("undeclared variable 'v'"), true);
  assert.equal(e.offset, 31);
  assert.equal(e.column, 32);
});

test('an unknown function is reported at the call', () => {
  assert.deepEqual(onlyError('config.os == "linux" && isRecent(config.created)'), {
    code: 'CEL_UNKNOWN_FUNCTION',
    message: "unknown function 'isRecent'",
    offset: 24,
    line: 1,
    column: 25,
  });
});

test('an unknown function in a helper namespace is reported by its full name', () => {
  const e = onlyError("semver.greater('1.0.0', '2.0.0')");
  assert.equal(e.message, "unknown function 'semver.greater'");
  assert.equal(e.code, 'CEL_UNKNOWN_FUNCTION');
});

test('wrong argument counts and method/function confusion are reported', () => {
  assert.equal(
    onlyError("image.reference.startsWith('a', 'b')").message,
    "'startsWith' takes 1 argument(s), not 2",
  );
  assert.equal(onlyError("semver.compare('1.0.0')").message, "'semver.compare' takes 2 argument(s), not 1");
  assert.equal(
    onlyError("config.created.isWithin('1h')").message,
    "'isWithin' is a function: write isWithin(...)",
  );
});

test('macros written with the wrong arguments say how to write them', () => {
  const e = errorsOf('predicate.list.all(v)').find((x) => x.code === 'CEL_SYNTAX');
  assert.equal(e?.message, 'all() is written list.all(x, condition)');
  assert.equal(e?.offset, 14);
  assert.equal(onlyError('has(config)').message, 'has() is written has(value.field)');
});

test('an incomplete expression is reported at its end', () => {
  assert.deepEqual(onlyError('config.os == '), {
    code: 'CEL_SYNTAX',
    message: 'syntax error: the expression is incomplete',
    offset: 13,
    line: 1,
    column: 14,
  });
  assert.equal(onlyError("config.os == 'linux' ||").offset, 23);
});

test('a syntax error is reported at the first token that cannot continue the expression', () => {
  // The parser itself stops at the start of the call (offset 5); the mistake is the ')'.
  assert.deepEqual(onlyError('image.reference.startsWith(\n  "x" ==)'), {
    code: 'CEL_SYNTAX',
    message: "syntax error: unexpected ')'",
    offset: 36,
    line: 2,
    column: 9,
  });
  const cases: [string, string, number][] = [
    ["config.os == 'linux' and config.architecture == 'amd64'", "unexpected 'and'", 21],
    ["config.os = 'linux'", "unexpected '='", 10],
    ['config.os === config.os', "unexpected '='", 12],
    ['config.x && && config.y', "unexpected '&&'", 12],
    ['size(config.layers,)', "unexpected ')'", 19],
    ['[1, 2,, 3] == config.l', "unexpected ','", 6],
    ["config.os in ['linux' 'windows']", "unexpected string 'windows'", 22],
    ['config.a.b(1 2)', "unexpected '2'", 13],
    ['config.#', "unexpected '#'", 7],
    ['config.size > 1e', "unexpected 'e'", 15],
  ];
  for (const [src, message, offset] of cases) {
    const e = onlyError(src);
    assert.deepEqual([e.code, e.message, e.offset], ['CEL_SYNTAX', `syntax error: ${message}`, offset], src);
  }
});

test('a long expression with a syntax error gets the parser position (locating it would cost many parses)', () => {
  const long = `${Array.from({ length: 150 }, (_, i) => `config.a${i} == 'v${i}'`).join(' && ')} && config.x ==`;
  assert.ok(long.length > 2000);
  const e = onlyError(long);
  assert.equal(e.code, 'CEL_SYNTAX');
  assert.match(e.message, /^syntax error: found = but expecting end of input$/);
});

test('an unclosed string is reported where it starts, not where the parser gave up', () => {
  assert.deepEqual(onlyError("config.os == 'linux' &&\n  config.architecture == 'amd64"), {
    code: 'CEL_SYNTAX',
    message: 'string literal is not closed',
    offset: 49,
    line: 2,
    column: 26,
  });
});

test('unbalanced brackets are reported at the bracket', () => {
  assert.deepEqual(onlyError("(config.os == 'linux'\n  && true"), {
    code: 'CEL_SYNTAX',
    message: "'(' is not closed",
    offset: 0,
    line: 1,
    column: 1,
  });
  assert.deepEqual(onlyError("config.os in ['linux', 'windows')"), {
    code: 'CEL_SYNTAX',
    message: "')' does not close '[' opened at column 14",
    offset: 32,
    line: 1,
    column: 33,
  });
  assert.equal(onlyError('config.os == "linux")').message, "')' has no matching opening bracket");
});

test('brackets inside strings and comments do not count', () => {
  const ok = compileCondition('config.os == \'(\' && // a comment with ( [ {\n config.architecture != "]"', {
    variables,
  });
  assert.equal(ok.ok, true);
});

test('an empty or non-string condition is an error', () => {
  assert.equal(onlyError('   ').message, 'the condition is empty');
  assert.equal(
    (compileCondition(42 as unknown as string, { variables }) as { errors: ConditionError[] }).errors[0]
      ?.message,
    'the condition must be a string',
  );
});

test('an expression longer than the limit is refused before parsing', () => {
  const long = `config.os == '${'a'.repeat(CEL_LIMITS.maxExpressionLength)}'`;
  const e = onlyError(long);
  assert.equal(e.code, 'CEL_TOO_LARGE');
  assert.equal(
    e.message,
    `expression is ${long.length} characters long; the limit is ${CEL_LIMITS.maxExpressionLength}`,
  );
});

test('bracket nesting beyond the limit is refused at the first bracket too deep (the parser would overflow)', () => {
  const deep = `${'('.repeat(5000)}true${')'.repeat(5000)}`;
  assert.deepEqual(onlyError(deep), {
    code: 'CEL_TOO_LARGE',
    message: `expression is nested more than ${CEL_LIMITS.maxSourceNesting} levels deep`,
    offset: CEL_LIMITS.maxSourceNesting,
    line: 1,
    column: CEL_LIMITS.maxSourceNesting + 1,
  });
});

test('a deep tree without brackets (long operator chains) is refused once', () => {
  const chain = `${Array.from({ length: 500 }, () => '1').join(' + ')} == 500`;
  const e = onlyError(chain);
  assert.equal(e.code, 'CEL_TOO_LARGE');
  assert.equal(e.message, `expression is nested more than ${CEL_LIMITS.maxAstDepth} levels deep`);
  const shallow = `${Array.from({ length: 50 }, () => '1').join(' + ')} == 50`;
  assert.equal(compileCondition(shallow, { variables }).ok, true);
});

test('message construction is refused: there are no protobuf types to build', () => {
  assert.equal(
    onlyError('google.protobuf.Duration{seconds: 1} == duration("1s")').message,
    'message construction (google.protobuf.Duration{...}) is not supported',
  );
});

test('type names are usable as values', () => {
  assert.equal(compileCondition('type(config.created) == string', { variables }).ok, true);
  assert.equal(compileCondition('type(now) == google.protobuf.Timestamp', { variables }).ok, true);
});

test('several independent mistakes are all reported', () => {
  const errors = errorsOf('foo(1) && bar.x');
  assert.deepEqual(
    errors.map((e) => [e.code, e.offset]),
    [
      ['CEL_UNKNOWN_FUNCTION', 0],
      ['CEL_UNDECLARED', 10],
    ],
  );
});

test('the internal step function cannot be reached from an expression', () => {
  // '@' is not an identifier character, so the name cannot even be written.
  assert.equal(onlyError('@portcullis_step(true)').code, 'CEL_SYNTAX');
});
