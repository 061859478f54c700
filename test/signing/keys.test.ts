/**
 * cosign-compatible encrypted keys: the skopeo-signed fixture keys (made by skopeo, a Python
 * generator and Node) decrypt with their passphrase to the fixture public keys; wrong passwords and
 * damaged files fail with a clear message; our own keys round-trip and keep cosign's exact format.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { decryptPrivateKey, generateKeyPair, SigningKeyError } from '../../src/signing/keys.ts';
import { fixturePath } from '../harness/fixtures.ts';

const KEYS = fixturePath('skopeo-signed', 'keys');
const passphrase = readFileSync(join(KEYS, 'passphrase.txt'), 'utf8').trim();
const read = (name: string): string => readFileSync(join(KEYS, name), 'utf8');

async function rejects(promise: Promise<unknown>, code: string, message: RegExp): Promise<void> {
  await assert.rejects(promise, (e: unknown) => {
    assert.ok(e instanceof SigningKeyError, `expected SigningKeyError, got ${String(e)}`);
    assert.equal(e.code, code);
    assert.match(e.message, message);
    return true;
  });
}

for (const name of ['k1', 'k2', 'gen', 'k3-sigstore-pemtype']) {
  test(`fixture key ${name} decrypts with the passphrase to the fixture public key`, async () => {
    const key = await decryptPrivateKey(read(`${name}.private`), passphrase);
    assert.equal(key.publicPem, read(`${name}.pub`));
    assert.equal(key.privateKey.asymmetricKeyDetails?.namedCurve, 'prime256v1');
  });
}

test('both PEM types are read (COSIGN before cosign 2, SIGSTORE after)', () => {
  assert.match(read('k1.private'), /BEGIN ENCRYPTED COSIGN PRIVATE KEY/);
  assert.match(read('k3-sigstore-pemtype.private'), /BEGIN ENCRYPTED SIGSTORE PRIVATE KEY/);
});

test('a wrong password is "wrong password or corrupt key", not a stack', async () => {
  await rejects(
    decryptPrivateKey(read('k1.private'), 'not-the-password'),
    'KEY_PASSWORD',
    /^cannot decrypt the private key: wrong password or corrupt key$/,
  );
});

test('a damaged ciphertext is refused like a wrong password', async () => {
  const pem = read('k1.private');
  const body = pem.split('\n').slice(1, -2).join('');
  const json = JSON.parse(Buffer.from(body, 'base64').toString('utf8')) as { ciphertext: string };
  const ct = Buffer.from(json.ciphertext, 'base64');
  ct[ct.length - 1] = (ct[ct.length - 1] ?? 0) ^ 1;
  json.ciphertext = ct.toString('base64');
  const damaged = `-----BEGIN ENCRYPTED COSIGN PRIVATE KEY-----\n${Buffer.from(JSON.stringify(json)).toString('base64')}\n-----END ENCRYPTED COSIGN PRIVATE KEY-----\n`;
  await rejects(decryptPrivateKey(damaged, passphrase), 'KEY_PASSWORD', /wrong password or corrupt key/);
});

test('other scrypt parameters are refused before any work (as go-tuf does)', async () => {
  const json = {
    kdf: { name: 'scrypt', params: { N: 1 << 22, r: 8, p: 1 }, salt: 'AAAA' },
    cipher: { name: 'nacl/secretbox', nonce: Buffer.alloc(24).toString('base64') },
    ciphertext: Buffer.alloc(64).toString('base64'),
  };
  const pem = `-----BEGIN ENCRYPTED SIGSTORE PRIVATE KEY-----\n${Buffer.from(JSON.stringify(json)).toString('base64')}\n-----END ENCRYPTED SIGSTORE PRIVATE KEY-----\n`;
  await rejects(decryptPrivateKey(pem, 'x'), 'KEY_UNSUPPORTED', /unexpected kdf parameters/);
});

test('bad inputs say what is wrong', async () => {
  await rejects(decryptPrivateKey('hello', 'x'), 'KEY_FORMAT', /no PEM block found/);
  await rejects(
    decryptPrivateKey(read('k1.pub'), 'x'),
    'KEY_UNSUPPORTED',
    /unsupported PEM type "PUBLIC KEY"/,
  );
  const notJson = `-----BEGIN ENCRYPTED COSIGN PRIVATE KEY-----\n${Buffer.from('nope').toString('base64')}\n-----END ENCRYPTED COSIGN PRIVATE KEY-----\n`;
  await rejects(decryptPrivateKey(notJson, 'x'), 'KEY_FORMAT', /not JSON/);
  await rejects(decryptPrivateKey('x'.repeat(70000), 'x'), 'KEY_FORMAT', /larger than/);
});

test('generate-key-pair output decrypts to its public key, in cosign 2 format and parameters', async () => {
  const pair = await generateKeyPair('s3cret');
  assert.match(
    pair.privatePem,
    /^-----BEGIN ENCRYPTED SIGSTORE PRIVATE KEY-----\n(?:[A-Za-z0-9+/=]{64}\n)*[A-Za-z0-9+/=]{1,64}\n-----END ENCRYPTED SIGSTORE PRIVATE KEY-----\n$/,
  );
  assert.match(pair.publicPem, /^-----BEGIN PUBLIC KEY-----\n/);
  const json = JSON.parse(
    Buffer.from(pair.privatePem.split('\n').slice(1, -2).join(''), 'base64').toString('utf8'),
  ) as Record<string, unknown>;
  assert.deepEqual(Object.keys(json), ['kdf', 'cipher', 'ciphertext']);
  assert.deepEqual((json.kdf as { params: unknown }).params, { N: 32768, r: 8, p: 1 });
  assert.equal(Buffer.from((json.kdf as { salt: string }).salt, 'base64').length, 32);
  assert.equal(Buffer.from((json.cipher as { nonce: string }).nonce, 'base64').length, 24);
  const key = await decryptPrivateKey(pair.privatePem, 's3cret');
  assert.equal(key.publicPem, pair.publicPem);
  await rejects(decryptPrivateKey(pair.privatePem, 's3cret '), 'KEY_PASSWORD', /wrong password/);
});

test('an empty password is allowed (cosign allows it) and still required to match', async () => {
  const pair = await generateKeyPair('');
  assert.equal((await decryptPrivateKey(pair.privatePem, '')).publicPem, pair.publicPem);
  await rejects(decryptPrivateKey(pair.privatePem, 'x'), 'KEY_PASSWORD', /wrong password/);
});
