/**
 * The run's evidence memo on its own: exact keys, one gather per key, failures and deadline-cut facts
 * not kept, bounded size.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { EvidenceMemo, EvidenceMemoError, identityOf, type EvidenceKey } from '../../src/app/evidence.ts';

const key = (over: Partial<EvidenceKey> = {}): EvidenceKey => ({
  kind: 'signatures',
  registry: 'r.example',
  repository: 'acme/app',
  digest: `sha256:${'a'.repeat(64)}`,
  scope: ['client 1', 'online', 'r.example/acme/app'],
  asked: [['|', ['legacy']]],
  ...over,
});

test('one gather per exact key; every part of the key tells facts apart', async () => {
  const memo = new EvidenceMemo();
  let gathers = 0;
  const gather = (value: string) => () => {
    gathers++;
    return Promise.resolve(value);
  };
  assert.equal(await memo.fact(key(), gather('first')), 'first');
  assert.equal(await memo.fact(key(), gather('second')), 'first', 'the same key reuses the fact');
  assert.equal(gathers, 1);
  const others: Partial<EvidenceKey>[] = [
    { kind: 'attestations' },
    { registry: 'other.example' },
    { repository: 'acme/other' },
    { digest: `sha256:${'b'.repeat(64)}` },
    { scope: ['client 2', 'online', 'r.example/acme/app'] },
    { scope: ['client 1', 'offline', 'r.example/acme/app'] },
    { asked: [['|', ['bundle', 'legacy']]] },
    { asked: [['ghcr.example/sigs|', ['legacy']]] },
  ];
  for (const other of others) {
    assert.equal(await memo.fact(key(other), gather(JSON.stringify(other))), JSON.stringify(other));
  }
  assert.equal(gathers, 1 + others.length);
  assert.deepEqual(memo.stats(), { gathered: 9, reused: 1, digests: 4, size: 9 });
});

test('a gather that rejects is not kept: its callers get the error, the next caller asks again', async () => {
  const memo = new EvidenceMemo();
  await assert.rejects(
    memo.fact(key(), () => Promise.reject(new Error('boom'))),
    /boom/,
  );
  assert.equal(await memo.fact(key(), () => Promise.resolve('again')), 'again');
});

test('a fact that settles after its decision deadline passed is not handed to later decisions', async () => {
  const memo = new EvidenceMemo();
  const deadline = new AbortController();
  const cut = memo.fact(
    key(),
    () => {
      deadline.abort();
      return Promise.resolve('cut short');
    },
    deadline.signal,
  );
  assert.equal(await cut, 'cut short');
  await new Promise((r) => setImmediate(r));
  assert.equal(await memo.fact(key(), () => Promise.resolve('fresh')), 'fresh');
});

test('bounded: past maxEntries the oldest facts are forgotten first', async () => {
  const memo = new EvidenceMemo({ maxEntries: 2 });
  const digest = (c: string) => `sha256:${c.repeat(64)}`;
  for (const c of ['a', 'b', 'c']) await memo.fact(key({ digest: digest(c) }), () => Promise.resolve(c));
  assert.equal(memo.size, 2);
  assert.equal(await memo.fact(key({ digest: digest('c') }), () => Promise.resolve('new')), 'c');
  assert.equal(await memo.fact(key({ digest: digest('a') }), () => Promise.resolve('new')), 'new');
  assert.equal(memo.size, 2);
  assert.throws(() => new EvidenceMemo({ maxEntries: 0 }), EvidenceMemoError);
  assert.throws(() => new EvidenceMemo({ maxEntries: 0 }), /maxEntries must be a whole number, at least 1/);
});

test('identityOf: stable per object, different between objects', () => {
  const a = {};
  const b = {};
  assert.equal(identityOf(a), identityOf(a));
  assert.notEqual(identityOf(a), identityOf(b));
});
