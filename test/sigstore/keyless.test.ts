/**
 * Keyless verification end to end without Sigstore's servers: a private Fulcio-like CA, an
 * in-process Rekor, and a trusted root naming both. Covers identity anchoring, extension
 * constraints, the code-signing EKU, CA leaves, and certificate time checks on the whole chain.
 */
import assert from 'node:assert/strict';
import { sign } from 'node:crypto';
import { describe, it } from 'node:test';
import {
  ANNOTATION_BUNDLE,
  ANNOTATION_CERTIFICATE,
  ANNOTATION_CHAIN,
  ANNOTATION_SIGNATURE,
  compileAuthority,
  loadTrustedRoot,
  SigstoreError,
  verifyLegacySignature,
  type KeylessAuthoritySpec,
  type SigningAuthority,
  type TrustRoot,
} from '../../src/sigstore/index.ts';
import { hashedRekordBody, logEntry, makeLog, rekorAnnotation, sha256Hex, simpleSigningPayload, trustRootJSON, type FakeLog } from './support.ts';
import { issue, toPem, type CertOptions, type Issued } from './x509.ts';

const IMAGE = `sha256:${'cd'.repeat(32)}`;
const T0 = 1_760_000_000; // 2025-10-09
const at = (s: number) => new Date((T0 + s) * 1000);
const GHA = 'https://token.actions.githubusercontent.com';
const WORKFLOW = 'https://github.com/acme/app/.github/workflows/release.yml@refs/heads/main';

interface Pki {
  readonly root: Issued;
  readonly intermediate: Issued;
  readonly log: FakeLog;
  readonly trust: TrustRoot;
}

function pki(intermediateOverrides: Partial<CertOptions> = {}): Pki {
  const root = issue({ subject: 'Test Root', notBefore: at(-86400 * 365), notAfter: at(86400 * 3650), ca: true });
  const intermediate = issue({ subject: 'Test Intermediate', issuer: root, notBefore: at(-86400 * 365), notAfter: at(86400 * 3650), ca: true, ...intermediateOverrides });
  const log = makeLog('rekor.keyless.test');
  const json = trustRootJSON([log]);
  json.certificateAuthorities = [
    {
      subject: { organization: 'portcullis.test', commonName: 'Test Intermediate' },
      uri: 'https://fulcio.test',
      certChain: { certificates: [{ rawBytes: intermediate.der.toString('base64') }, { rawBytes: root.der.toString('base64') }] },
      validFor: { start: '2020-01-01T00:00:00Z' },
    },
  ];
  return { root, intermediate, log, trust: loadTrustedRoot(json, { name: 'private sigstore' }) };
}

function leaf(p: Pki, o: Partial<CertOptions> = {}): Issued {
  return issue({
    issuer: p.intermediate,
    notBefore: at(-60),
    notAfter: at(540),
    sans: [{ uri: WORKFLOW }],
    extensions: { '1.3.6.1.4.1.57264.1.8': GHA, '1.3.6.1.4.1.57264.1.12': 'https://github.com/acme/app', '1.3.6.1.4.1.57264.1.14': 'refs/heads/main' },
    ...o,
  });
}

/** A legacy `.sig` layer signed by `cert`'s key, logged with `loggedCert` (default: the same) at T0 + `time`. */
function layer(p: Pki, cert: Issued, opts: { time?: number; loggedCert?: Issued; index?: number } = {}) {
  const payload = simpleSigningPayload(IMAGE);
  const sig = sign('sha256', payload, cert.privateKey).toString('base64');
  const body = hashedRekordBody(sha256Hex(payload), sig, toPem((opts.loggedCert ?? cert).der));
  const entry = logEntry(p.log, body, T0 + (opts.time ?? 0), opts.index ?? 1);
  return { payload, annotations: { [ANNOTATION_SIGNATURE]: sig, [ANNOTATION_CERTIFICATE]: toPem(cert.der), [ANNOTATION_BUNDLE]: rekorAnnotation(entry) } };
}

function authority(p: Pki, spec: Partial<KeylessAuthoritySpec> = {}): SigningAuthority {
  return compileAuthority({
    kind: 'keyless',
    name: 'ci',
    identities: [{ issuer: { exact: GHA }, subject: { regexp: 'https://github\\.com/acme/.*' } }],
    trustRoot: p.trust,
    ctlogThreshold: 0,
    ...spec,
  }) as SigningAuthority;
}

function fails(fn: () => unknown, code: string, message: RegExp): void {
  assert.throws(fn, (e: unknown) => {
    assert.ok(e instanceof SigstoreError, `expected SigstoreError, got ${String(e)}`);
    assert.equal(e.code, code, e.message);
    assert.match(e.message, message);
    return true;
  });
}

void describe('keyless with a private CA and log', () => {
  const p = pki();

  void it('verifies: identity, issuer and tlog evidence in the explanation', () => {
    const r = verifyLegacySignature(layer(p, leaf(p)), IMAGE, authority(p));
    assert.equal(r.summary, `${WORKFLOW} from issuer ${GHA}; tlog index 1 at ${at(0).toISOString()}`);
    assert.equal(r.certificate?.issuer, GHA);
  });

  void it('anchored identity: a SAN that merely contains the pattern does not match', () => {
    const evil = 'https://evil.example/x?https://github.com/acme/app';
    assert.equal(/https:\/\/github\.com\/acme\/.*/.test(evil), true, 'an unanchored match would accept it');
    fails(() => verifyLegacySignature(layer(p, leaf(p, { sans: [{ uri: evil }] })), IMAGE, authority(p)), 'IDENTITY_MISMATCH', new RegExp(`^identity mismatch: got ${evil.replace(/[.?/]/g, '\\$&')} from issuer ${GHA.replace(/[.:/]/g, '\\$&')}$`));
  });

  void it('issuer must match too, and exact identities are not patterns', () => {
    fails(() => verifyLegacySignature(layer(p, leaf(p, { extensions: { '1.3.6.1.4.1.57264.1.8': 'https://evil.example' } })), IMAGE, authority(p)), 'IDENTITY_MISMATCH', /from issuer https:\/\/evil\.example$/);
    const exact = authority(p, { identities: [{ issuer: { exact: GHA }, subject: { exact: 'https://github.com/acme/.*' } }] });
    fails(() => verifyLegacySignature(layer(p, leaf(p)), IMAGE, exact), 'IDENTITY_MISMATCH', /^identity mismatch: got https:\/\/github\.com\/acme\/app/);
  });

  void it('the v1 issuer extension (raw bytes) and otherName usernames are understood', () => {
    const v1 = leaf(p, { sans: [{ username: 'foo!oidc.local' }], extensions: { '1.3.6.1.4.1.57264.1.1': 'https://oidc.local' } });
    const auth = authority(p, { identities: [{ issuer: { exact: 'https://oidc.local' }, subject: { exact: 'foo!oidc.local' } }] });
    assert.equal(verifyLegacySignature(layer(p, v1), IMAGE, auth).summary.startsWith('foo!oidc.local from issuer https://oidc.local'), true);
  });

  void it('extension constraints by OID: exact, regexp, wrong, absent', () => {
    const ok = authority(p, { extensions: [{ oid: '1.3.6.1.4.1.57264.1.12', value: { exact: 'https://github.com/acme/app' } }, { oid: '1.3.6.1.4.1.57264.1.14', value: { regexp: 'refs/(heads/main|tags/v.*)' } }] });
    assert.ok(verifyLegacySignature(layer(p, leaf(p)), IMAGE, ok));
    const wrong = authority(p, { extensions: [{ oid: '1.3.6.1.4.1.57264.1.12', value: { exact: 'https://github.com/acme/other' } }] });
    fails(() => verifyLegacySignature(layer(p, leaf(p)), IMAGE, wrong), 'IDENTITY_MISMATCH', /extension 1\.3\.6\.1\.4\.1\.57264\.1\.12 is "https:\/\/github\.com\/acme\/app", expected "https:\/\/github\.com\/acme\/other"/);
    const prefix = authority(p, { extensions: [{ oid: '1.3.6.1.4.1.57264.1.14', value: { regexp: 'refs/heads/ma' } }] });
    fails(() => verifyLegacySignature(layer(p, leaf(p)), IMAGE, prefix), 'IDENTITY_MISMATCH', /expected \/refs\/heads\/ma\//);
    const absent = authority(p, { extensions: [{ oid: '1.3.6.1.4.1.57264.1.23', value: { exact: 'production' } }] });
    fails(() => verifyLegacySignature(layer(p, leaf(p)), IMAGE, absent), 'IDENTITY_MISMATCH', /1\.3\.6\.1\.4\.1\.57264\.1\.23 is absent/);
  });

  void it('a leaf without the code-signing EKU, or that is a CA, is refused', () => {
    fails(() => verifyLegacySignature(layer(p, leaf(p, { eku: ['1.3.6.1.5.5.7.3.1'] })), IMAGE, authority(p)), 'CERTIFICATE_INVALID', /not issued for code signing/);
    fails(() => verifyLegacySignature(layer(p, leaf(p, { ca: true, eku: ['1.3.6.1.5.5.7.3.3'] })), IMAGE, authority(p)), 'CERTIFICATE_INVALID', /signing certificate is a CA/);
  });

  void it('signed after the leaf expired: "certificate expired at signing time"', () => {
    fails(() => verifyLegacySignature(layer(p, leaf(p), { time: 3600 }), IMAGE, authority(p)), 'CERTIFICATE_EXPIRED', new RegExp(`^certificate expired at signing time: valid ${at(-60).toISOString()} to ${at(540).toISOString()}, signed at ${at(3600).toISOString()}$`));
  });

  void it('GHSA-wfqv-66vq-46rm: an intermediate that expired before the signing time fails', () => {
    const q = pki({ notAfter: at(-3600) });
    fails(() => verifyLegacySignature(layer(q, leaf(q)), IMAGE, authority(q)), 'CERTIFICATE_EXPIRED', /^certificate expired at signing time: a certificate of the chain \(certificate is not valid or expired at the specified date\)$/);
  });

  void it('a certificate from another CA fails, even with its chain in the chain annotation', () => {
    const other = pki();
    const rogue = leaf(other);
    const l = layer(p, rogue);
    const withChain = { ...l, annotations: { ...l.annotations, [ANNOTATION_CHAIN]: toPem(other.intermediate.der) + toPem(other.root.der) } };
    fails(() => verifyLegacySignature(withChain, IMAGE, authority(p)), 'CERTIFICATE_INVALID', /^certificate invalid: Failed to verify certificate chain/);
  });

  void it('a log entry holding another certificate for the same key fails (GHSA-whqx class)', () => {
    const good = leaf(p);
    const other = issue({ issuer: p.intermediate, notBefore: at(-60), notAfter: at(540), sans: [{ uri: 'https://github.com/attacker/x' }], extensions: { '1.3.6.1.4.1.57264.1.8': GHA }, keyPair: { privateKey: good.privateKey, publicKey: good.publicKey } });
    fails(() => verifyLegacySignature(layer(p, good, { loggedCert: other }), IMAGE, authority(p)), 'TLOG_MISMATCH', /holds a different certificate than the signature/);
  });

  void it('keyless requires a log entry by default', () => {
    const l = layer(p, leaf(p));
    const { [ANNOTATION_BUNDLE]: _dropped, ...noLog } = l.annotations;
    fails(() => verifyLegacySignature({ payload: l.payload, annotations: noLog }, IMAGE, authority(p)), 'TLOG_MISSING', /^not in transparency log$/);
  });
});
