import { test } from 'node:test';
import assert from 'node:assert/strict';
import { known, unavailable } from '../src/engine/facts.ts';

test('facts are either known or unavailable with a reason', () => {
  assert.deepEqual(known('x'), { available: true, value: 'x' });
  assert.deepEqual(unavailable('offline'), { available: false, reason: 'offline' });
});
