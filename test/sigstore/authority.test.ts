import assert from 'node:assert/strict';
import { createHash, generateKeyPairSync, sign } from 'node:crypto';
import { describe, it } from 'node:test';
import { join } from 'node:path';
import {
  compileAuthority,
  loadPublicGoodTrustRoot,
  parsePublicKeyPem,
  SigstoreError,
  type KeylessAuthority,
} from '../../src/sigstore/index.ts';
import { compileMatcher } from '../../src/sigstore/identity/matcher.ts';
import { verifyPrehashed } from '../../src/sigstore/key/prehash.ts';
import { CONTAINERS, readText, sha256Hex, SKOPEO } from './support.ts';

const code = (c: string, re?: RegExp) => (e: unknown) =>
  e instanceof SigstoreError && e.code === c && (!re || re.test(e.message));

void describe('identity matchers', () => {
  void it('anchors regular expressions: a prefix pattern never matches a longer look-alike', () => {
    const m = compileMatcher({ regexp: 'https://github.com/acme/.*' }, 'test');
    assert.equal(
      m.matches('https://github.com/acme/app/.github/workflows/release.yml@refs/heads/main'),
      true,
    );
    const host = compileMatcher({ regexp: 'https://github\\.com/acme/[^/]+' }, 'test');
    assert.equal(host.matches('https://github.com/acme/x.evil.com/attack'), false);
    const noWildcard = compileMatcher({ regexp: 'https://github.com/acme' }, 'test');
    assert.equal(noWildcard.matches('https://github.com/acme.evil.com'), false);
    assert.equal(noWildcard.matches('https://evil.com/?https://github.com/acme'), false);
    const alternation = compileMatcher({ regexp: 'a@x.com|b@x.com' }, 'test');
    assert.equal(alternation.matches('b@x.com.evil'), false, 'alternation is grouped before anchoring');
  });

  void it('a pattern that closes the anchoring group itself is refused, not matched as a prefix', () => {
    // Wrapped as ^(?:x)|()$ these would accept anything starting with the prefix.
    for (const regexp of ['https://github\\.com/acme/.*)|(', 'x)|(?:.*']) {
      assert.throws(
        () => compileMatcher({ regexp }, 'identity 1 subject'),
        code('AUTHORITY_INVALID', /identity 1 subject: invalid regular expression/),
        regexp,
      );
    }
  });

  void it('exact values are compared as strings, not patterns', () => {
    const m = compileMatcher({ exact: 'https://github.com/acme/.*' }, 'test');
    assert.equal(m.matches('https://github.com/acme/anything'), false);
    assert.equal(m.matches('https://github.com/acme/.*'), true);
  });

  void it('bounds regex input length and rejects bad patterns', () => {
    const m = compileMatcher({ regexp: '.*' }, 'test', 100);
    assert.equal(m.matches('x'.repeat(100)), true);
    assert.equal(m.matches('x'.repeat(101)), false);
    assert.throws(
      () => compileMatcher({ regexp: '(' }, 'identity 1 subject'),
      code('AUTHORITY_INVALID', /identity 1 subject: invalid regular expression/),
    );
    assert.throws(
      () => compileMatcher({ regexp: 'a'.repeat(2000) }, 'x'),
      code('AUTHORITY_INVALID', /longer than 1024/),
    );
    assert.throws(() => compileMatcher({ exact: '' }, 'x'), code('AUTHORITY_INVALID'));
  });
});

void describe('policy keys', () => {
  void it('parses ECDSA P-256/P-384/P-521, RSA and Ed25519 keys, with a SPKI fingerprint', () => {
    const algs = [
      ['ec', { namedCurve: 'P-256' }, 'ecdsa-p256'],
      ['ec', { namedCurve: 'P-384' }, 'ecdsa-p384'],
      ['ec', { namedCurve: 'P-521' }, 'ecdsa-p521'],
      ['rsa', { modulusLength: 2048 }, 'rsa'],
      ['ed25519', {}, 'ed25519'],
    ] as const;
    for (const [type, opts, alg] of algs) {
      const { publicKey } = generateKeyPairSync(type as 'ec', opts as { namedCurve: string });
      const pem = publicKey.export({ format: 'pem', type: 'spki' }).toString();
      const key = parsePublicKeyPem(pem);
      assert.equal(key.algorithm, alg);
      assert.equal(key.fingerprint, `sha256:${sha256Hex(publicKey.export({ format: 'der', type: 'spki' }))}`);
    }
    assert.equal(parsePublicKeyPem(readText(join(SKOPEO, 'keys/k1.pub'))).algorithm, 'ecdsa-p256');
  });

  void it('rejects certificates, private keys, small RSA keys, several keys in one PEM, and garbage', () => {
    assert.throws(
      () => parsePublicKeyPem(readText(join(CONTAINERS, 'fulcio_v1.crt.pem')), 'key.pem'),
      code('KEY_INVALID', /key\.pem: expected a PEM PUBLIC KEY block, found CERTIFICATE/),
    );
    assert.throws(
      () => parsePublicKeyPem(readText(join(SKOPEO, 'keys/k1.private'))),
      code('KEY_INVALID', /found ENCRYPTED COSIGN PRIVATE KEY/),
    );
    const small = generateKeyPairSync('rsa', { modulusLength: 1024 })
      .publicKey.export({ format: 'pem', type: 'spki' })
      .toString();
    assert.throws(() => parsePublicKeyPem(small), code('KEY_INVALID', /1024 bits is too small/));
    const two = readText(join(SKOPEO, 'keys/k1.pub')) + readText(join(SKOPEO, 'keys/k2.pub'));
    assert.throws(() => parsePublicKeyPem(two), code('KEY_INVALID', /found 2 PEM blocks/));
    assert.throws(() => parsePublicKeyPem('hello'), code('KEY_INVALID', /found 0 PEM blocks/));
    const k = generateKeyPairSync('ec', { namedCurve: 'secp256k1' })
      .publicKey.export({ format: 'pem', type: 'spki' })
      .toString();
    assert.throws(() => parsePublicKeyPem(k), code('KEY_INVALID', /unsupported elliptic curve secp256k1/));
  });
});

void describe('verification from a digest (no artifact bytes)', () => {
  for (const [curve, hash] of [
    ['P-256', 'sha256'],
    ['P-384', 'sha384'],
    ['P-521', 'sha512'],
    ['P-256', 'sha512'],
  ] as const) {
    void it(`ECDSA ${curve} over a ${hash} digest`, () => {
      const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: curve });
      const msg = Buffer.from(`message for ${curve}`);
      const sig = sign(hash, msg, privateKey);
      const digest = sha(hash, msg);
      assert.equal(verifyPrehashed(publicKey, digest, sig, hash), true);
      const other = Buffer.from(digest);
      other[0] = (other[0] as number) ^ 1;
      assert.equal(verifyPrehashed(publicKey, other, sig, hash), false);
      const badSig = Buffer.from(sig);
      badSig[badSig.length - 1] = (badSig[badSig.length - 1] as number) ^ 1;
      assert.equal(verifyPrehashed(publicKey, digest, badSig, hash), false);
      assert.equal(verifyPrehashed(publicKey, digest, Buffer.from('garbage'), hash), false);
    });
  }

  void it('RSA PKCS#1 v1.5 over a digest; Ed25519 cannot be verified from a digest', () => {
    const rsa = generateKeyPairSync('rsa', { modulusLength: 2048 });
    const msg = Buffer.from('rsa message');
    const sig = sign('sha256', msg, rsa.privateKey);
    assert.equal(verifyPrehashed(rsa.publicKey, sha('sha256', msg), sig, 'sha256'), true);
    assert.equal(verifyPrehashed(rsa.publicKey, sha('sha256', Buffer.from('other')), sig, 'sha256'), false);
    const ed = generateKeyPairSync('ed25519');
    assert.equal(
      verifyPrehashed(ed.publicKey, sha('sha256', msg), sign(null, msg, ed.privateKey), 'sha256'),
      false,
    );
  });
});

function sha(alg: string, b: Buffer): Buffer {
  return createHash(alg).update(b).digest();
}

void describe('authorities', () => {
  const pg = loadPublicGoodTrustRoot();
  const k1 = readText(join(SKOPEO, 'keys/k1.pub'));

  void it('compiles key, keyless and static authorities with defaults', () => {
    const key = compileAuthority({ kind: 'key', name: 'team', keys: [k1] });
    assert.equal(key.kind, 'key');
    assert.deepEqual(key.kind === 'key' && key.tlog, { required: false, threshold: 1 });
    assert.equal(key.kind === 'key' && key.hashAlgorithm, 'sha256');
    const keyless = compileAuthority({
      kind: 'keyless',
      name: 'ci',
      identities: [
        {
          issuer: { exact: 'https://token.actions.githubusercontent.com' },
          subject: { regexp: 'https://github\\.com/acme/.*' },
        },
      ],
      extensions: [{ oid: '1.3.6.1.4.1.57264.1.12', value: { exact: 'https://github.com/acme/app' } }],
      trustRoot: pg,
    }) as KeylessAuthority;
    assert.deepEqual(keyless.tlog, { required: true, threshold: 1 });
    assert.equal(keyless.ctlogThreshold, 1);
    assert.equal(
      compileAuthority({ kind: 'static', name: 'deny-all', action: 'fail', message: 'frozen' }).kind,
      'static',
    );
  });

  void it('rejects inconsistent authorities with messages naming them', () => {
    assert.throws(
      () => compileAuthority({ kind: 'key', name: 'team', keys: [] }),
      code('AUTHORITY_INVALID', /authority "team": needs 1 to 32 public keys/),
    );
    assert.throws(
      () => compileAuthority({ kind: 'key', name: 'team', keys: ['nope'] }),
      code('KEY_INVALID', /authority "team" key 1/),
    );
    assert.throws(
      () => compileAuthority({ kind: 'key', name: 'team', keys: [k1], tlog: { required: true } }),
      code('AUTHORITY_INVALID', /transparency log required but no trust root/),
    );
    assert.throws(
      () =>
        compileAuthority({
          kind: 'keyless',
          name: 'ci',
          identities: [{ issuer: { exact: 'x' } } as never],
          trustRoot: pg,
        }),
      code('AUTHORITY_INVALID', /identity 1: needs both issuer and subject/),
    );
    assert.throws(
      () =>
        compileAuthority({
          kind: 'keyless',
          name: 'ci',
          identities: [{ issuer: { exact: 'x' }, subject: { exact: 'y' } }],
          extensions: [{ oid: 'source-repo', value: { exact: 'x' } }],
          trustRoot: pg,
        }),
      code('AUTHORITY_INVALID', /"source-repo" is not a dotted OID/),
    );
    assert.throws(
      () => compileAuthority({ kind: 'key', name: 'team', keys: [k1], tlog: { threshold: 0 } }),
      code('AUTHORITY_INVALID', /tlog threshold/),
    );
  });
});
