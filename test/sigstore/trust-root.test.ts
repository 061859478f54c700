import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { join } from 'node:path';
import { loadPublicGoodTrustRoot, loadTrustedRoot, SigstoreError } from '../../src/sigstore/index.ts';
import { clone, GO, JS_VERIFY, makeLog, PY, readJSON, readText, SIGSTORE, trustRootJSON } from './support.ts';

const PUBLIC_GOOD = join(SIGSTORE, 'public-good/trusted_root.json');

function rejects(input: unknown, pattern: RegExp): void {
  assert.throws(
    () => loadTrustedRoot(input, { name: 'test-root' }),
    (e: unknown) => e instanceof SigstoreError && e.code === 'TRUST_ROOT_INVALID' && pattern.test(e.message),
  );
}

void describe('trusted roots', () => {
  void it('loads the public-good root offline from @sigstore/tuf, identical to the fixture', () => {
    const root = loadPublicGoodTrustRoot();
    assert.equal(root.name, 'public-good');
    assert.equal(root.digest, 'sha256:6494e21ea73fa7ee769f85f57d5a3e6a08725eae1e38c755fc3517c9e6bc0b66');
    assert.equal(root.material.tlogs.length, 2);
    assert.equal(root.material.certificateAuthorities.length, 2);
    assert.equal(loadTrustedRoot(PUBLIC_GOOD).digest, root.digest);
  });

  void it('loads from a path, JSON text, bytes or an object', () => {
    const text = readText(PUBLIC_GOOD);
    assert.equal(loadTrustedRoot(text).material.ctlogs.length, 2);
    assert.equal(loadTrustedRoot(Buffer.from(text)).material.ctlogs.length, 2);
    assert.equal(loadTrustedRoot(JSON.parse(text)).material.ctlogs.length, 2);
    assert.equal(
      loadTrustedRoot(join(SIGSTORE, 'staging/trusted_root.json')).material.tlogs.length > 0,
      true,
    );
    for (const f of [
      'trusted-roots/public-good.json',
      'trusted-roots/scaffolding.json',
      'trusted-roots/public-key-validity.json',
    ]) {
      assert.ok(loadTrustedRoot(join(GO, 'pkg/testing/data', f)));
    }
  });

  void it('accepts a ClientTrustConfig for the trusted root it wraps (sigstore-python tsa/trust_config.json)', () => {
    const root = loadTrustedRoot(join(PY, 'tsa/trust_config.json'));
    assert.equal(root.material.timestampAuthorities.length, 1);
  });

  void it('rejects a log without validFor.start, naming the entry (sigstore-js test roots omit it)', () => {
    rejects(
      join(JS_VERIFY, 'trust/trustedRoot.json'),
      /tlogs\[0\] \(https:\/\/tlog\.sigstore\.dev\)\.publicKey: missing validFor/,
    );
    const json = clone(readJSON(PUBLIC_GOOD)) as {
      tlogs: { publicKey: { validFor: Record<string, unknown> } }[];
    };
    delete json.tlogs[1]?.publicKey.validFor.start;
    rejects(
      json,
      /tlogs\[1\] \(https:\/\/log2025-1\.rekor\.sigstore\.dev\)\.publicKey: validFor\.start is missing/,
    );
  });

  void it('rejects a certificate authority without validFor.start', () => {
    const json = clone(readJSON(PUBLIC_GOOD)) as {
      certificateAuthorities: { validFor: Record<string, unknown> }[];
    };
    delete json.certificateAuthorities[0]?.validFor.start;
    rejects(
      json,
      /certificateAuthorities\[0\] \(https:\/\/fulcio\.sigstore\.dev\): validFor\.start is missing/,
    );
  });

  void it('rejects a bad media type (sigstore-python trustedroot.badtype.json)', () => {
    rejects(join(PY, 'trusted_root/trustedroot.badtype.json'), /unsupported mediaType "bad-media-type"/);
  });

  void it('rejects unknown key details, keys that do not match their details, and malformed keys', () => {
    const base = trustRootJSON([makeLog()]) as { tlogs: { publicKey: Record<string, unknown> }[] };
    const unknown = clone(base);
    (unknown.tlogs[0] as { publicKey: Record<string, unknown> }).publicKey.keyDetails = 'LMS_SHA256';
    rejects(unknown, /tlogs\[0\] \(https:\/\/rekor\.test\)\.publicKey: unsupported keyDetails "LMS_SHA256"/);
    const wrongCurve = clone(base);
    (wrongCurve.tlogs[0] as { publicKey: Record<string, unknown> }).publicKey.keyDetails =
      'PKIX_ECDSA_P384_SHA_384';
    rejects(wrongCurve, /key is ec prime256v1, but keyDetails says PKIX_ECDSA_P384_SHA_384/);
    const garbage = clone(base);
    (garbage.tlogs[0] as { publicKey: Record<string, unknown> }).publicKey.rawBytes =
      Buffer.from('not a key').toString('base64');
    rejects(garbage, /rawBytes is not a SPKI public key/);
  });

  void it('rejects a malformed certificate, an empty chain, reversed validity, and non-JSON', () => {
    const json = clone(readJSON(PUBLIC_GOOD)) as {
      certificateAuthorities: {
        certChain: { certificates: { rawBytes: string }[] };
        validFor: Record<string, string>;
      }[];
    };
    const bad = clone(json);
    (bad.certificateAuthorities[1]?.certChain.certificates[0] as { rawBytes: string }).rawBytes = 'AAAA';
    rejects(
      bad,
      /certificateAuthorities\[1\] \(https:\/\/fulcio\.sigstore\.dev\)\.certChain\.certificates\[0\]: not a DER X\.509/,
    );
    const empty = clone(json);
    (empty.certificateAuthorities[0] as { certChain: { certificates: unknown[] } }).certChain.certificates =
      [];
    rejects(empty, /certChain\.certificates is missing or empty/);
    const reversed = clone(json);
    (reversed.certificateAuthorities[0] as { validFor: Record<string, string> }).validFor.end =
      '2000-01-01T00:00:00Z';
    rejects(reversed, /validFor\.end is before validFor\.start/);
    rejects('{not json', /not JSON/);
    rejects(
      { mediaType: 'application/vnd.dev.sigstore.trustedroot+json;version=0.1' },
      /no transparency logs, certificate authorities/,
    );
  });

  void it('reports an unreadable path clearly', () => {
    assert.throws(
      () => loadTrustedRoot('/nonexistent/trusted_root.json'),
      (e: unknown) =>
        e instanceof SigstoreError &&
        e.code === 'TRUST_ROOT_INVALID' &&
        /cannot read trusted root \/nonexistent/.test(e.message),
    );
  });
});
