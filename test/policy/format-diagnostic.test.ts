import { test } from 'node:test';
import assert from 'node:assert/strict';
import { formatDiagnostic } from '../../src/policy/format-diagnostic.ts';

void test('a diagnostic is one line: position, severity, message, then path, found and expected', () => {
  assert.equal(
    formatDiagnostic({
      file: 'policies/prod.yaml',
      line: 12,
      column: 9,
      path: 'spec.rules[0].tags.forbid',
      message: 'wrong type: expected a list',
      found: '"latest"',
      expected: 'a list',
      severity: 'error',
    }),
    'policies/prod.yaml:12:9: error: wrong type: expected a list (at spec.rules[0].tags.forbid; found "latest", expected a list)',
  );
  assert.equal(
    formatDiagnostic({
      file: 'p.yaml',
      line: 3,
      column: 1,
      path: '',
      message: 'duplicate key "kind"',
      severity: 'warning',
    }),
    'p.yaml:3:1: warning: duplicate key "kind"',
  );
});

void test('file-level and set-level diagnostics have no position; control characters never break the line', () => {
  assert.equal(
    formatDiagnostic({
      file: 'dir',
      line: 0,
      column: 0,
      path: '',
      message: 'no policy files',
      severity: 'error',
    }),
    'dir: error: no policy files',
  );
  assert.equal(
    formatDiagnostic({
      file: '',
      line: 0,
      column: 0,
      path: '',
      message: 'no policy files were given',
      severity: 'error',
    }),
    '(policy set): error: no policy files were given',
  );
  assert.equal(
    formatDiagnostic({
      file: 'a\nb.yaml',
      line: 1,
      column: 1,
      path: '',
      message: 'x\r\ny',
      found: '"\u0007"',
      severity: 'error',
    }),
    'a b.yaml:1:1: error: x y (found " ")',
  );
});
