/**
 * Key passwords: environment first (PORTCULLIS_PASSWORD, then cosign's COSIGN_PASSWORD; empty counts),
 * a no-echo prompt only on a terminal, and never a prompt otherwise.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { PassThrough } from 'node:stream';
import { PasswordUnavailableError, readPassword } from '../../src/signing/password.ts';

/** A fake terminal: what is typed arrives as data; raw mode is recorded. */
function terminal(typed: string[]): {
  input: NodeJS.ReadStream;
  output: PassThrough;
  written: () => string;
  rawModes: boolean[];
} {
  const stream = new PassThrough();
  const rawModes: boolean[] = [];
  const input = Object.assign(stream, {
    isTTY: true,
    isRaw: false,
    setRawMode(mode: boolean) {
      rawModes.push(mode);
      return input;
    },
  }) as unknown as NodeJS.ReadStream;
  const output = new PassThrough();
  let text = '';
  output.on('data', (c: Buffer) => (text += c.toString('utf8')));
  // Each answer is typed once the prompt has started listening.
  let next = 0;
  stream.on('newListener', (event) => {
    if (event !== 'data' || next >= typed.length) return;
    const answer = typed[next++] as string;
    setImmediate(() => stream.write(answer));
  });
  return { input, output, written: () => text, rawModes };
}

test('the environment wins: PORTCULLIS_PASSWORD, then COSIGN_PASSWORD; empty is a password', async () => {
  assert.equal(
    await readPassword('p', false, { env: { PORTCULLIS_PASSWORD: 'a', COSIGN_PASSWORD: 'b' } }),
    'a',
  );
  assert.equal(await readPassword('p', false, { env: { COSIGN_PASSWORD: 'b' } }), 'b');
  assert.equal(await readPassword('p', true, { env: { PORTCULLIS_PASSWORD: '' } }), '');
});

test('without a terminal there is no prompt, only a clear error', async () => {
  const input = Object.assign(new PassThrough(), { isTTY: false }) as unknown as NodeJS.ReadStream;
  await assert.rejects(readPassword('p', false, { env: {}, input }), (e: unknown) => {
    assert.ok(e instanceof PasswordUnavailableError);
    assert.equal(
      e.message,
      'no password: set PORTCULLIS_PASSWORD (or COSIGN_PASSWORD), or run on a terminal to be prompted',
    );
    return true;
  });
});

test('on a terminal: prompted without echo (raw mode, restored), backspace edits', async () => {
  const t = terminal(['se\u007fecret\r']);
  const password = await readPassword('Password: ', false, { env: {}, input: t.input, output: t.output });
  assert.equal(password, 'secret');
  assert.equal(t.written(), 'Password: \n', 'nothing typed is echoed');
  assert.deepEqual(t.rawModes, [true, false]);
});

test('a new key asks twice; different answers and Ctrl-C are refused', async () => {
  const same = terminal(['pw\r', 'pw\r']);
  assert.equal(await readPassword('New: ', true, { env: {}, input: same.input, output: same.output }), 'pw');
  const differ = terminal(['pw\r', 'pX\r']);
  await assert.rejects(
    readPassword('New: ', true, { env: {}, input: differ.input, output: differ.output }),
    /the passwords do not match/,
  );
  const cancelled = terminal(['pw\u0003']);
  await assert.rejects(
    readPassword('New: ', false, { env: {}, input: cancelled.input, output: cancelled.output }),
    /password entry cancelled/,
  );
});
