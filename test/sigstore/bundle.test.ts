/**
 * Real Sigstore bundles made by sigstore-python, sigstore-go, sigstore-js and cosign: valid ones
 * verify (with their identities), invalid ones fail with the right code and message.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { join } from 'node:path';
import {
  compileAuthority,
  COSIGN_SIGN_PREDICATE_TYPE,
  digestArtifact,
  loadPublicGoodTrustRoot,
  loadTrustedRoot,
  parseBundle,
  verifyBundle,
  type Artifact,
  type SigningAuthority,
  type TrustRoot,
  type VerifiedSignature,
} from '../../src/sigstore/index.ts';
import {
  GO,
  JS_CLIENT,
  JS_VERIFY,
  PY,
  read,
  readJSON,
  readText,
  SIGSTORE,
  sigstoreJsRoot,
  stagingRoot,
  fails,
} from './support.ts';

const keyless = (
  trustRoot: TrustRoot,
  subject: string,
  issuer: string,
  extra: Partial<{ extensions: { oid: string; value: { exact: string } }[]; ctlogThreshold: number }> = {},
): SigningAuthority =>
  compileAuthority({
    kind: 'keyless',
    name: 'signer',
    identities: [{ issuer: { exact: issuer }, subject: { exact: subject } }],
    trustRoot,
    ...extra,
  }) as SigningAuthority;

const bytes = (path: string): Artifact => ({ kind: 'bytes', bytes: read(path) });

function verify(
  bundlePath: string,
  artifact: Artifact,
  authority: SigningAuthority,
  predicateType: string | null = null,
): VerifiedSignature {
  return verifyBundle(parseBundle(read(bundlePath)), { artifact, authority, predicateType });
}

const GH_OAUTH = 'https://github.com/login/oauth';

void describe('sigstore-python bundles (staging root)', () => {
  const root = stagingRoot();
  const py = (f: string) => join(PY, f);

  void it('v0.1 bundle with certificate chain verifies for its artifact and identity', () => {
    const r = verify(
      py('bundle.txt.sigstore'),
      bytes(py('bundle.txt')),
      keyless(root, 'a@tny.town', GH_OAUTH),
    );
    assert.equal(
      r.summary,
      'a@tny.town from issuer https://github.com/login/oauth; tlog index 7390977 at 2023-04-26T00:21:09.000Z',
    );
    assert.deepEqual(r.certificate?.sans, [{ type: 'email', value: 'a@tny.town' }]);
    assert.equal(r.tlog[0]?.logIndex, '7390977');
  });

  void it('v0.3 bundles verify', () => {
    for (const f of ['bundle_v3.txt', 'bundle_v3_alt.txt']) {
      const r = verify(py(`${f}.sigstore`), bytes(py(f)), keyless(root, 'william@yossarian.net', GH_OAUTH));
      assert.match(
        r.summary,
        /^william@yossarian\.net from issuer https:\/\/github\.com\/login\/oauth; tlog index \d+ at 2024-04-02T/,
      );
    }
  });

  void it('Rekor v2 bundle (inclusion proof + RFC 3161 timestamp) verifies; its unsigned integratedTime is not reported', () => {
    const r = verify(
      py('staging-rekor-v2.txt.sigstore.json'),
      bytes(py('staging-rekor-v2.txt')),
      keyless(root, 'jku@goto.fi', GH_OAUTH),
    );
    assert.equal(r.tlog.length, 1);
    assert.equal(r.tlog[0]?.integratedTime, undefined);
    assert.equal(r.signedAt.length, 1, 'the TSA time is the only trusted time');
  });

  void it('a bundle verified against the wrong artifact fails on the message digest', () => {
    fails(
      () => verify(py('bundle.txt.sigstore'), bytes(py('a.txt')), keyless(root, 'a@tny.town', GH_OAUTH)),
      'ARTIFACT_MISMATCH',
      /^signature is for sha256:[0-9a-f]{64}, not for the artifact sha256:e248a5db/,
    );
  });

  void it('identity mismatch names what the certificate says', () => {
    fails(
      () =>
        verify(
          py('bundle.txt.sigstore'),
          bytes(py('bundle.txt')),
          keyless(root, 'someone@else.com', GH_OAUTH),
        ),
      'IDENTITY_MISMATCH',
      /^identity mismatch: got a@tny\.town from issuer https:\/\/github\.com\/login\/oauth$/,
    );
    fails(
      () =>
        verify(
          py('bundle.txt.sigstore'),
          bytes(py('bundle.txt')),
          keyless(root, 'a@tny.town', 'https://accounts.google.com'),
        ),
      'IDENTITY_MISMATCH',
      /got a@tny\.town from issuer https:\/\/github\.com\/login\/oauth/,
    );
  });

  void it('CVE-2022-36056: a bundle whose Rekor entry is not for this signature fails (staging root)', () => {
    fails(
      () =>
        verify(
          py('bundle_cve_2022_36056.txt.sigstore'),
          bytes(py('bundle_cve_2022_36056.txt')),
          keyless(root, 'william@yossarian.net', GH_OAUTH),
        ),
      'TLOG_MISMATCH',
      /^transparency log entry 1 was made with a different key/,
    );
  });

  void it('malformed bundles are refused with the reason', () => {
    fails(
      () => parseBundle(read(py('bundle_invalid_version.txt.sigstore'))),
      'BUNDLE_INVALID',
      /unsupported bundle mediaType "this is completely wrong"/,
    );
    fails(
      () => parseBundle(read(py('bundle_no_cert_v1.txt.sigstore'))),
      'BUNDLE_INVALID',
      /invalid bundle: invalid v0\.1 bundle/,
    );
    fails(
      () => parseBundle(read(py('bundle_no_checkpoint.txt.sigstore'))),
      'BUNDLE_INVALID',
      /invalid bundle: invalid v0\.2 bundle/,
    );
    fails(() => parseBundle('not json'), 'BUNDLE_INVALID', /bundle is not JSON/);
    const chainInV3 = readJSON(py('bundle_v3.txt.sigstore')) as {
      verificationMaterial: Record<string, unknown>;
    };
    chainInV3.verificationMaterial.x509CertificateChain = {
      certificates: [chainInV3.verificationMaterial.certificate],
    };
    delete chainInV3.verificationMaterial.certificate;
    fails(
      () => parseBundle(chainInV3),
      'BUNDLE_INVALID',
      /invalid bundle: invalid bundle \(verificationMaterial\.content/,
    );
    fails(() => parseBundle('[]'), 'BUNDLE_INVALID', /not a JSON object/);
  });

  void it('a bundle without a log entry is "not in transparency log"', () => {
    fails(
      () =>
        verify(
          py('bundle_no_log_entry.txt.sigstore'),
          bytes(py('bundle_no_log_entry.txt')),
          keyless(root, 'a@tny.town', GH_OAUTH),
        ),
      'TLOG_MISSING',
      /^not in transparency log$/,
    );
  });

  void it('GHSA-xgjw: a proof-only entry gives no trusted time, so the certificate cannot be checked', () => {
    fails(
      () =>
        verify(
          py('bundle_v3_no_signed_time.txt.sigstore.json'),
          bytes(py('bundle_v3_no_signed_time.txt')),
          keyless(root, 'x', 'y'),
        ),
      'TLOG_MISSING',
      /not in transparency log: no entry with a signed integration time and no RFC 3161 timestamp/,
    );
  });
});

void describe('sigstore-python timestamp-authority bundles', () => {
  const txt = bytes(join(PY, 'tsa/bundle.txt'));

  void it('a timestamp after the certificate expired: "certificate expired at signing time" (staging root)', () => {
    const late = compileAuthority({
      kind: 'keyless',
      name: 'signer',
      identities: [{ issuer: { exact: 'https://accounts.google.com' }, subject: { regexp: '.*' } }],
      trustRoot: stagingRoot(),
      tlog: { required: false },
    }) as SigningAuthority;
    fails(
      () => verify(join(PY, 'tsa/bundle.txt.late_timestamp.sigstore'), txt, late),
      'CERTIFICATE_EXPIRED',
      /^certificate expired at signing time: valid 2025-05-12T18:48:26\.000Z to 2025-05-12T18:58:26\.000Z, signed at 2025-05-12T19:00:27\.000Z$/,
    );
  });

  void it('too many timestamps are refused before any cryptography', () => {
    fails(
      () => parseBundle(read(join(PY, 'tsa/bundle.many_timestamp.sigstore'))),
      'LIMIT_EXCEEDED',
      /33 RFC 3161 timestamps \(limit 32\)/,
    );
  });
});

void describe('public-good bundles', () => {
  const pg = loadPublicGoodTrustRoot();
  const ociAttestation = join(SIGSTORE, 'cosign/pkg/cosign/testdata/oci-attestation.sigstore.json');
  const emptyImage = digestArtifact(
    'sha256:732112270d7e59418a8c080b134b24cabd67d250d0d0147a97ed95ba5c280aa4',
  );

  void it('GitHub Actions v0.2 bundle verifies from the artifact digest alone, with extension constraints', () => {
    const whl = digestArtifact(
      `sha256:${readText(join(PY, 'bundle_v3_github.whl.sha256-REMOVED.txt')).slice(0, 64)}`,
    );
    const subject =
      'https://github.com/trailofbits/rfc8785.py/.github/workflows/release.yml@refs/tags/v0.1.2';
    const issuer = 'https://token.actions.githubusercontent.com';
    const ok = keyless(pg, subject, issuer, {
      extensions: [
        { oid: '1.3.6.1.4.1.57264.1.12', value: { exact: 'https://github.com/trailofbits/rfc8785.py' } },
        { oid: '1.3.6.1.4.1.57264.1.14', value: { exact: 'refs/tags/v0.1.2' } },
      ],
    });
    const r = verify(join(PY, 'bundle_v3_github.whl.sigstore'), whl, ok);
    assert.equal(
      r.summary,
      `${subject} from issuer ${issuer}; tlog index 79605083 at 2024-03-19T22:41:16.000Z`,
    );
    // GHSA-52v5: a required extension with another value, or absent, fails.
    const wrongRef = keyless(pg, subject, issuer, {
      extensions: [{ oid: '1.3.6.1.4.1.57264.1.14', value: { exact: 'refs/heads/main' } }],
    });
    fails(
      () => verify(join(PY, 'bundle_v3_github.whl.sigstore'), whl, wrongRef),
      'IDENTITY_MISMATCH',
      /certificate extension 1\.3\.6\.1\.4\.1\.57264\.1\.14 is "refs\/tags\/v0\.1\.2", expected "refs\/heads\/main"/,
    );
    const absent = keyless(pg, subject, issuer, {
      extensions: [{ oid: '1.3.6.1.4.1.57264.1.23', value: { exact: 'production' } }],
    });
    fails(
      () => verify(join(PY, 'bundle_v3_github.whl.sigstore'), whl, absent),
      'IDENTITY_MISMATCH',
      /1\.3\.6\.1\.4\.1\.57264\.1\.23 is absent/,
    );
  });

  void it('GHSA-9vcr-p3rj-q5q6: a certificate with one public-good SCT does not meet a CT threshold of two', () => {
    const whl = digestArtifact(
      `sha256:${readText(join(PY, 'bundle_v3_github.whl.sha256-REMOVED.txt')).slice(0, 64)}`,
    );
    const subject =
      'https://github.com/trailofbits/rfc8785.py/.github/workflows/release.yml@refs/tags/v0.1.2';
    const twoLogs = keyless(pg, subject, 'https://token.actions.githubusercontent.com', {
      ctlogThreshold: 2,
    });
    fails(
      () => verify(join(PY, 'bundle_v3_github.whl.sigstore'), whl, twoLogs),
      'CERTIFICATE_INVALID',
      /^certificate invalid: expected 2 SCTs, got 1$/,
    );
  });

  void it('anchored identity regex: an org prefix without a wildcard does not match the workflow URI', () => {
    const whl = digestArtifact(
      `sha256:${readText(join(PY, 'bundle_v3_github.whl.sha256-REMOVED.txt')).slice(0, 64)}`,
    );
    const auth = (subject: string) =>
      compileAuthority({
        kind: 'keyless',
        name: 'ci',
        identities: [
          { issuer: { exact: 'https://token.actions.githubusercontent.com' }, subject: { regexp: subject } },
        ],
        trustRoot: pg,
      }) as SigningAuthority;
    assert.ok(
      verify(join(PY, 'bundle_v3_github.whl.sigstore'), whl, auth('https://github\\.com/trailofbits/.*')),
    );
    fails(
      () => verify(join(PY, 'bundle_v3_github.whl.sigstore'), whl, auth('https://github\\.com/trailofbits')),
      'IDENTITY_MISMATCH',
      /^identity mismatch: got https:\/\/github\.com\/trailofbits\/rfc8785\.py/,
    );
  });

  void it('cosign v0.3 DSSE attestation verifies for the image digest in its subject', () => {
    const r = verify(
      ociAttestation,
      emptyImage,
      keyless(pg, 'cody@soyland.com', GH_OAUTH),
      'https://cosign.sigstore.dev/attestation/v1',
    );
    assert.equal(
      r.summary,
      'cody@soyland.com from issuer https://github.com/login/oauth; tlog index 175508996 at 2025-02-28T19:18:11.000Z',
    );
  });

  void it('CVE-2022-35929: an attestation of another predicate type does not pass as an image signature', () => {
    fails(
      () =>
        verify(
          ociAttestation,
          emptyImage,
          keyless(pg, 'cody@soyland.com', GH_OAUTH),
          COSIGN_SIGN_PREDICATE_TYPE,
        ),
      'ARTIFACT_MISMATCH',
      /in-toto predicateType "https:\/\/cosign\.sigstore\.dev\/attestation\/v1" is not "https:\/\/sigstore\.dev\/cosign\/sign\/v1"/,
    );
  });

  void it('a DSSE bundle for another image fails on the in-toto subject', () => {
    fails(
      () =>
        verify(
          ociAttestation,
          digestArtifact(`sha256:${'ab'.repeat(32)}`),
          keyless(pg, 'cody@soyland.com', GH_OAUTH),
        ),
      'ARTIFACT_MISMATCH',
      /no in-toto subject has the artifact digest sha256:abab/,
    );
  });

  void it('a keyless bundle checked against a key authority fails (key mismatch)', () => {
    const key = compileAuthority({
      kind: 'key',
      name: 'k',
      keys: [readText(join(GO, 'pkg/testing/data/public-keys/public-key-validity.pem'))],
      trustRoot: pg,
      tlog: { required: true },
    }) as SigningAuthority;
    fails(
      () => verify(ociAttestation, emptyImage, key),
      'KEY_MISMATCH',
      /signed by certificate key sha256:[0-9a-f]{64}, not by a key of this authority/,
    );
  });
});

void describe('sigstore-go bundles', () => {
  void it('a DSSE envelope with two signatures is refused', () => {
    fails(
      () => parseBundle(read(join(GO, 'pkg/testing/data/bundles/dsse-2sigs.sigstore.json'))),
      'BUNDLE_INVALID',
      /exactly one signature, found 2/,
    );
  });

  void it('GHSA-wqqc: a key-signed bundle with an RFC 3161 time is checked against the key validity window', () => {
    const data = join(GO, 'pkg/testing/data');
    const pem = readText(join(data, 'public-keys/public-key-validity.pem'));
    const root = loadTrustedRoot(join(data, 'trusted-roots/public-key-validity.json'));
    const artifact = digestArtifact(
      'sha256:6ae8a75555209fd6c44157c0aed8016e763ff435a19cf186f76863140143ff72',
    );
    const auth = (validFor?: { start?: Date; end?: Date }) =>
      compileAuthority({
        kind: 'key',
        name: 'k',
        keys: [pem],
        trustRoot: root,
        ...(validFor ? { validFor } : {}),
      }) as SigningAuthority;
    const bundle = join(data, 'bundles/public-key-validity.sigstore.json');
    const r = verify(
      bundle,
      artifact,
      auth({ start: new Date('2026-06-04T00:00:00Z'), end: new Date('2026-06-05T00:00:00Z') }),
    );
    assert.deepEqual(r.signedAt, [new Date('2026-06-04T17:43:29.000Z')]);
    fails(
      () => verify(bundle, artifact, auth({ end: new Date('2026-06-04T17:00:00Z') })),
      'KEY_EXPIRED',
      /^key not valid at signing time: .*2026-06-04T17:43:29\.000Z/,
    );
    fails(
      () => verify(bundle, artifact, auth({ start: new Date('2026-06-04T18:00:00Z') })),
      'KEY_EXPIRED',
      /^key not valid at signing time/,
    );
    // Without a trust root the timestamp cannot be checked, so it is not used, and a window cannot be honoured.
    const noRoot = compileAuthority({
      kind: 'key',
      name: 'k',
      keys: [pem],
      validFor: { end: new Date('2030-01-01') },
    }) as SigningAuthority;
    fails(() => verify(bundle, artifact, noRoot), 'KEY_EXPIRED', /no trusted signing time/);
  });

  void it('a key-signed bundle is refused by a keyless authority', () => {
    const pg = loadPublicGoodTrustRoot();
    fails(
      () =>
        verify(
          join(GO, 'pkg/testing/data/bundles/public-key-validity.sigstore.json'),
          digestArtifact(`sha256:${'00'.repeat(32)}`),
          keyless(pg, 'a', 'b'),
        ),
      'KEY_MISMATCH',
      /keyless authority requires a Fulcio certificate/,
    );
  });
});

void describe('sigstore-js bundles (its test trust root, validity start added in memory)', () => {
  const root = sigstoreJsRoot(join(JS_VERIFY, 'trust/trustedRoot.json'));
  const clientRoot = sigstoreJsRoot(join(JS_CLIENT, 'trust/trustedRoot.json'));
  const artifact = bytes(join(JS_VERIFY, 'bundles/ARTIFACT.bin'));
  const brian = (r: TrustRoot) => keyless(r, 'brian@dehamer.com', GH_OAUTH);

  void it('a v0.1 message-signature bundle with a signing certificate verifies', () => {
    const r = verify(
      join(JS_VERIFY, 'bundles/V1.MESSAGE_SIGNATURE.WITH_SIGNING_CERT.json'),
      artifact,
      brian(root),
    );
    assert.match(
      r.summary,
      /^brian@dehamer\.com from issuer https:\/\/github\.com\/login\/oauth; tlog index \d+ at 2022-11-09T/,
    );
  });

  void it('a Rekor v2 hashedrekord bundle verifies', () => {
    assert.ok(
      verify(
        join(JS_VERIFY, 'bundles/V3.MESSAGE_SIGNATURE.TLOG_HASHEDREKORDV002.json'),
        artifact,
        brian(root),
      ),
    );
  });

  void it('a keyless bundle with neither log entry nor timestamp is "not in transparency log"', () => {
    fails(
      () =>
        verify(join(JS_VERIFY, 'bundles/V3.MESSAGE_SIGNATURE.WITH_SIGNING_CERT.json'), artifact, brian(root)),
      'TLOG_MISSING',
      /^not in transparency log$/,
    );
  });

  void it('a key-signed bundle verifies with the key (the bundle hint is ignored)', () => {
    const key = compileAuthority({
      kind: 'key',
      name: 'k',
      keys: [readText(join(JS_VERIFY, 'bundles/PUBLIC_KEY.txt'))],
      trustRoot: root,
      tlog: { required: true },
    }) as SigningAuthority;
    const r = verify(join(JS_VERIFY, 'bundles/V1.MESSAGE_SIGNATURE.WITH_PUBLIC_KEY.json'), artifact, key);
    assert.match(r.summary, /^key sha256:[0-9a-f]{64}; tlog index 6757503 at 2022-11-09T/);
  });

  void it('client fixtures: v0.1/v0.2/v0.3 message signatures verify; the expired certificate fails', () => {
    const art = bytes(join(JS_CLIENT, 'bundles/valid/artifact.bin'));
    for (const f of [
      'v1.messageSignature.withSigningCert.json',
      'v2.messageSignature.withSigningCert.json',
      'v3.messageSignature.withSigningCert.json',
    ]) {
      assert.ok(verify(join(JS_CLIENT, 'bundles/valid', f), art, brian(clientRoot)));
    }
    fails(
      () =>
        verify(
          join(JS_CLIENT, 'bundles/invalid/v1.messageSignature.invalidExpiredCert.json'),
          art,
          brian(clientRoot),
        ),
      'CERTIFICATE_EXPIRED',
      /^certificate expired at signing time/,
    );
  });

  void it('DSSE bundles whose payload is not an in-toto statement cannot bind an artifact and are refused', () => {
    fails(
      () =>
        verify(join(JS_VERIFY, 'bundles/V1.DSSE.WITH_SIGNING_CERT.TLOG_DSSE.json'), artifact, brian(root)),
      'BUNDLE_INVALID',
      /DSSE payloadType "text\/plain" is not application\/vnd\.in-toto\+json/,
    );
  });
});
