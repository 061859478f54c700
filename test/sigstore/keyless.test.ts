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
  evaluateAuthorities,
  loadTrustedRoot,
  verifyLegacySignature,
  type KeylessAuthoritySpec,
  type SigningAuthority,
  type TrustRoot,
} from '../../src/sigstore/index.ts';
import { dsse, json } from '@sigstore/core';
import {
  hashedRekordBody,
  inclusionProof,
  logEntry,
  logEntryJSON,
  makeCtLog,
  makeLog,
  precertSct,
  rekorAnnotation,
  sctList,
  sha256Hex,
  simpleSigningPayload,
  trustRootJSON,
  type CtLog,
  type FakeLog,
  fails,
} from './support.ts';
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

function pki(intermediateOverrides: Partial<CertOptions> = {}, ctlogs: readonly CtLog[] = []): Pki {
  const root = issue({
    subject: 'Test Root',
    notBefore: at(-86400 * 365),
    notAfter: at(86400 * 3650),
    ca: true,
  });
  const intermediate = issue({
    subject: 'Test Intermediate',
    issuer: root,
    notBefore: at(-86400 * 365),
    notAfter: at(86400 * 3650),
    ca: true,
    ...intermediateOverrides,
  });
  const log = makeLog('rekor.keyless.test');
  const json = trustRootJSON([log]);
  json.certificateAuthorities = [
    {
      subject: { organization: 'portcullis.test', commonName: 'Test Intermediate' },
      uri: 'https://fulcio.test',
      certChain: {
        certificates: [
          { rawBytes: intermediate.der.toString('base64') },
          { rawBytes: root.der.toString('base64') },
        ],
      },
      validFor: { start: '2020-01-01T00:00:00Z' },
    },
  ];
  json.ctlogs = ctlogs.map((c) => logEntryJSON(c));
  return { root, intermediate, log, trust: loadTrustedRoot(json, { name: 'private sigstore' }) };
}

function leaf(p: Pki, o: Partial<CertOptions> = {}): Issued {
  return issue({
    issuer: p.intermediate,
    notBefore: at(-60),
    notAfter: at(540),
    sans: [{ uri: WORKFLOW }],
    extensions: {
      '1.3.6.1.4.1.57264.1.8': GHA,
      '1.3.6.1.4.1.57264.1.12': 'https://github.com/acme/app',
      '1.3.6.1.4.1.57264.1.14': 'refs/heads/main',
    },
    ...o,
  });
}

/** A legacy `.sig` layer signed by `cert`'s key, logged with `loggedCert` (default: the same) at T0 + `time`. */
function layer(p: Pki, cert: Issued, opts: { time?: number; loggedCert?: Issued; index?: number } = {}) {
  const payload = simpleSigningPayload(IMAGE);
  const sig = sign('sha256', payload, cert.privateKey).toString('base64');
  const body = hashedRekordBody(sha256Hex(payload), sig, toPem((opts.loggedCert ?? cert).der));
  const entry = logEntry(p.log, body, T0 + (opts.time ?? 0), opts.index ?? 1);
  return {
    payload,
    annotations: {
      [ANNOTATION_SIGNATURE]: sig,
      [ANNOTATION_CERTIFICATE]: toPem(cert.der),
      [ANNOTATION_BUNDLE]: rekorAnnotation(entry),
    },
  };
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
    fails(
      () => verifyLegacySignature(layer(p, leaf(p, { sans: [{ uri: evil }] })), IMAGE, authority(p)),
      'IDENTITY_MISMATCH',
      new RegExp(
        `^identity mismatch: got ${evil.replace(/[.?/]/g, '\\$&')} from issuer ${GHA.replace(/[.:/]/g, '\\$&')}$`,
      ),
    );
  });

  void it('issuer must match too, and exact identities are not patterns', () => {
    fails(
      () =>
        verifyLegacySignature(
          layer(p, leaf(p, { extensions: { '1.3.6.1.4.1.57264.1.8': 'https://evil.example' } })),
          IMAGE,
          authority(p),
        ),
      'IDENTITY_MISMATCH',
      /from issuer https:\/\/evil\.example$/,
    );
    const exact = authority(p, {
      identities: [{ issuer: { exact: GHA }, subject: { exact: 'https://github.com/acme/.*' } }],
    });
    fails(
      () => verifyLegacySignature(layer(p, leaf(p)), IMAGE, exact),
      'IDENTITY_MISMATCH',
      /^identity mismatch: got https:\/\/github\.com\/acme\/app/,
    );
  });

  void it('the v1 issuer extension (raw bytes) and otherName usernames are understood', () => {
    const v1 = leaf(p, {
      sans: [{ username: 'foo!oidc.local' }],
      extensions: { '1.3.6.1.4.1.57264.1.1': 'https://oidc.local' },
    });
    const auth = authority(p, {
      identities: [{ issuer: { exact: 'https://oidc.local' }, subject: { exact: 'foo!oidc.local' } }],
    });
    assert.equal(
      verifyLegacySignature(layer(p, v1), IMAGE, auth).summary.startsWith(
        'foo!oidc.local from issuer https://oidc.local',
      ),
      true,
    );
  });

  void it('extension constraints by OID: exact, regexp, wrong, absent', () => {
    const ok = authority(p, {
      extensions: [
        { oid: '1.3.6.1.4.1.57264.1.12', value: { exact: 'https://github.com/acme/app' } },
        { oid: '1.3.6.1.4.1.57264.1.14', value: { regexp: 'refs/(heads/main|tags/v.*)' } },
      ],
    });
    assert.ok(verifyLegacySignature(layer(p, leaf(p)), IMAGE, ok));
    const wrong = authority(p, {
      extensions: [{ oid: '1.3.6.1.4.1.57264.1.12', value: { exact: 'https://github.com/acme/other' } }],
    });
    fails(
      () => verifyLegacySignature(layer(p, leaf(p)), IMAGE, wrong),
      'IDENTITY_MISMATCH',
      /extension 1\.3\.6\.1\.4\.1\.57264\.1\.12 is "https:\/\/github\.com\/acme\/app", expected "https:\/\/github\.com\/acme\/other"/,
    );
    const prefix = authority(p, {
      extensions: [{ oid: '1.3.6.1.4.1.57264.1.14', value: { regexp: 'refs/heads/ma' } }],
    });
    fails(
      () => verifyLegacySignature(layer(p, leaf(p)), IMAGE, prefix),
      'IDENTITY_MISMATCH',
      /expected \/refs\/heads\/ma\//,
    );
    const absent = authority(p, {
      extensions: [{ oid: '1.3.6.1.4.1.57264.1.23', value: { exact: 'production' } }],
    });
    fails(
      () => verifyLegacySignature(layer(p, leaf(p)), IMAGE, absent),
      'IDENTITY_MISMATCH',
      /1\.3\.6\.1\.4\.1\.57264\.1\.23 is absent/,
    );
  });

  void it('a leaf without the code-signing EKU, or that is a CA, is refused', () => {
    fails(
      () => verifyLegacySignature(layer(p, leaf(p, { eku: ['1.3.6.1.5.5.7.3.1'] })), IMAGE, authority(p)),
      'CERTIFICATE_INVALID',
      /not issued for code signing/,
    );
    fails(
      () =>
        verifyLegacySignature(
          layer(p, leaf(p, { ca: true, eku: ['1.3.6.1.5.5.7.3.3'] })),
          IMAGE,
          authority(p),
        ),
      'CERTIFICATE_INVALID',
      /signing certificate is a CA/,
    );
  });

  void it('signed after the leaf expired: "certificate expired at signing time"', () => {
    fails(
      () => verifyLegacySignature(layer(p, leaf(p), { time: 3600 }), IMAGE, authority(p)),
      'CERTIFICATE_EXPIRED',
      new RegExp(
        `^certificate expired at signing time: valid ${at(-60).toISOString()} to ${at(540).toISOString()}, signed at ${at(3600).toISOString()}$`,
      ),
    );
  });

  void it('GHSA-wfqv-66vq-46rm: an intermediate that expired before the signing time fails', () => {
    const q = pki({ notAfter: at(-3600) });
    fails(
      () => verifyLegacySignature(layer(q, leaf(q)), IMAGE, authority(q)),
      'CERTIFICATE_EXPIRED',
      /^certificate expired at signing time: a certificate of the chain \(certificate is not valid or expired at the specified date\)$/,
    );
  });

  void it('a certificate from another CA fails, even with its chain in the chain annotation', () => {
    const other = pki();
    const rogue = leaf(other);
    const l = layer(p, rogue);
    const withChain = {
      ...l,
      annotations: {
        ...l.annotations,
        [ANNOTATION_CHAIN]: toPem(other.intermediate.der) + toPem(other.root.der),
      },
    };
    fails(
      () => verifyLegacySignature(withChain, IMAGE, authority(p)),
      'CERTIFICATE_INVALID',
      /^certificate invalid: Failed to verify certificate chain/,
    );
    // The reason names the root it was checked against and why no path reached it.
    fails(
      () => verifyLegacySignature(withChain, IMAGE, authority(p)),
      'CERTIFICATE_INVALID',
      /^certificate invalid: Failed to verify certificate chain to trust root private sigstore \(no valid certificate path found\)$/,
    );
  });

  void it('a log entry holding another certificate for the same key fails (GHSA-whqx class)', () => {
    const good = leaf(p);
    const other = issue({
      issuer: p.intermediate,
      notBefore: at(-60),
      notAfter: at(540),
      sans: [{ uri: 'https://github.com/attacker/x' }],
      extensions: { '1.3.6.1.4.1.57264.1.8': GHA },
      keyPair: { privateKey: good.privateKey, publicKey: good.publicKey },
    });
    fails(
      () => verifyLegacySignature(layer(p, good, { loggedCert: other }), IMAGE, authority(p)),
      'TLOG_MISMATCH',
      /holds a different certificate than the signature/,
    );
  });

  void it('keyless requires a log entry by default', () => {
    const l = layer(p, leaf(p));
    const { [ANNOTATION_BUNDLE]: _dropped, ...noLog } = l.annotations;
    fails(
      () => verifyLegacySignature({ payload: l.payload, annotations: noLog }, IMAGE, authority(p)),
      'TLOG_MISSING',
      /^not in transparency log$/,
    );
  });
});

/** A cosign v3 image signature: a v0.3 bundle with a DSSE in-toto statement, logged with SET and proof. */
function imageBundle(
  p: Pki,
  cert: Issued,
  opts: { digest?: string; predicateType?: string; index?: number } = {},
): Record<string, unknown> {
  const statement = {
    _type: 'https://in-toto.io/Statement/v1',
    subject: [{ digest: { sha256: (opts.digest ?? IMAGE).slice(7) } }],
    predicateType: opts.predicateType ?? 'https://sigstore.dev/cosign/sign/v1',
    predicate: {},
  };
  const payload = Buffer.from(JSON.stringify(statement));
  const payloadType = 'application/vnd.in-toto+json';
  const sig = sign('sha256', dsse.preAuthEncoding(payloadType, payload), cert.privateKey).toString('base64');
  const envelope = { payload: payload.toString('base64'), payloadType, signatures: [{ sig, keyid: '' }] };
  const body = Buffer.from(
    json.canonicalize({
      apiVersion: '0.0.1',
      kind: 'dsse',
      spec: {
        envelopeHash: { algorithm: 'sha256', value: sha256Hex(JSON.stringify(envelope)) },
        payloadHash: { algorithm: 'sha256', value: sha256Hex(payload) },
        signatures: [{ signature: sig, verifier: Buffer.from(toPem(cert.der)).toString('base64') }],
      },
    }),
  ).toString('base64');
  const index = opts.index ?? 5;
  const entry = logEntry(p.log, body, T0, index);
  return {
    mediaType: 'application/vnd.dev.sigstore.bundle.v0.3+json',
    verificationMaterial: {
      certificate: { rawBytes: cert.der.toString('base64') },
      tlogEntries: [
        {
          logIndex: String(index),
          logId: { keyId: p.log.logId.toString('base64') },
          kindVersion: { kind: 'dsse', version: '0.0.1' },
          integratedTime: String(T0),
          inclusionPromise: { signedEntryTimestamp: entry.set },
          inclusionProof: inclusionProof(p.log, body),
          canonicalizedBody: body,
        },
      ],
    },
    dsseEnvelope: envelope,
  };
}

void describe('cosign v3 image signature bundles (DSSE, v0.3) with a private CA and log', () => {
  const p = pki();
  const candidate = (bundle: unknown, source = 'referrer') => ({
    kind: 'bundle' as const,
    source,
    bundle: JSON.stringify(bundle),
  });

  void it('verify through evaluateAuthorities, explained by identity and tlog', () => {
    const d = evaluateAuthorities({
      authorities: [authority(p)],
      candidates: [candidate(imageBundle(p, leaf(p)))],
      imageDigest: IMAGE,
    });
    assert.equal(d.satisfied, true, d.reason);
    assert.equal(
      d.reason,
      `ci: ${WORKFLOW} from issuer ${GHA}; tlog index 5 at ${at(0).toISOString()} (referrer)`,
    );
  });

  void it('an attestation (another predicate type) or a bundle for another image does not count', () => {
    const att = evaluateAuthorities({
      authorities: [authority(p)],
      candidates: [candidate(imageBundle(p, leaf(p), { predicateType: 'https://slsa.dev/provenance/v1' }))],
      imageDigest: IMAGE,
    });
    assert.match(
      att.reason,
      /^in-toto predicateType "https:\/\/slsa\.dev\/provenance\/v1" is not "https:\/\/sigstore\.dev\/cosign\/sign\/v1"$/,
    );
    const other = evaluateAuthorities({
      authorities: [authority(p)],
      candidates: [candidate(imageBundle(p, leaf(p), { digest: `sha256:${'ef'.repeat(32)}` }))],
      imageDigest: IMAGE,
    });
    assert.match(other.reason, /^no in-toto subject has the artifact digest sha256:cdcd/);
  });

  void it('GHSA-xgjw: without the SET, the integratedTime of the entry is not a signing time', () => {
    const b = imageBundle(p, leaf(p)) as { verificationMaterial: { tlogEntries: Record<string, unknown>[] } };
    delete b.verificationMaterial.tlogEntries[0]?.inclusionPromise;
    const d = evaluateAuthorities({
      authorities: [authority(p)],
      candidates: [candidate(b)],
      imageDigest: IMAGE,
    });
    assert.equal(
      d.reason,
      'not in transparency log: no entry with a signed integration time and no RFC 3161 timestamp',
    );
  });

  void it('a corrupted inclusion proof fails', () => {
    const b = imageBundle(p, leaf(p)) as {
      verificationMaterial: { tlogEntries: { inclusionProof: { hashes: string[] } }[] };
    };
    (
      b.verificationMaterial.tlogEntries[0] as { inclusionProof: { hashes: string[] } }
    ).inclusionProof.hashes = [Buffer.alloc(32, 8).toString('base64')];
    const d = evaluateAuthorities({
      authorities: [authority(p)],
      candidates: [candidate(b)],
      imageDigest: IMAGE,
    });
    assert.equal(
      d.reason,
      'transparency log entry invalid: calculated root hash does not match inclusion proof',
    );
  });

  void it('2 of 2 identities need two signatures; one bundle offered twice counts once', () => {
    const main = authority(p, { name: 'main' });
    const release = authority(p, {
      name: 'release',
      identities: [
        {
          issuer: { exact: GHA },
          subject: { exact: 'https://github.com/acme/app/.github/workflows/release.yml@refs/tags/v1' },
        },
      ],
    });
    const byMain = candidate(imageBundle(p, leaf(p)), 'main-sig');
    const byRelease = candidate(
      imageBundle(
        p,
        leaf(p, {
          sans: [{ uri: 'https://github.com/acme/app/.github/workflows/release.yml@refs/tags/v1' }],
        }),
        { index: 6 },
      ),
      'release-sig',
    );
    assert.equal(
      evaluateAuthorities({
        authorities: [main, release],
        threshold: 2,
        candidates: [byMain, byRelease],
        imageDigest: IMAGE,
      }).satisfied,
      true,
    );
    const once = evaluateAuthorities({
      authorities: [main, release],
      threshold: 2,
      candidates: [byRelease, { ...byRelease, source: 'copy' }],
      imageDigest: IMAGE,
    });
    assert.equal(once.satisfied, false);
    assert.match(
      once.reason,
      /^threshold 2 of 2 not met \(1\): (main|release): its valid signatures were already counted/,
    );
  });
});

void describe('embedded SCTs count distinct CT logs (GHSA-9vcr-p3rj-q5q6)', () => {
  const ctA = makeCtLog('ct-a.keyless.test');
  const ctB = makeCtLog('ct-b.keyless.test');
  const p = pki({}, [ctA, ctB]);
  /** A leaf with one SCT per log listed, each at its own time (so no two SCTs are byte-identical). */
  const leafWithScts = (...logs: CtLog[]): Issued =>
    leaf(p, {
      sctList: (tbs, issuerSpki) =>
        sctList(logs.map((l, i) => precertSct(l, tbs, issuerSpki, (T0 - 30 + i) * 1000))),
    });
  const twoLogs = authority(p, { ctlogThreshold: 2 });

  void it('SCTs from two logs meet a threshold of two', () => {
    const cert = leafWithScts(ctA, ctB);
    const r = verifyLegacySignature(layer(p, cert), IMAGE, twoLogs);
    assert.equal(r.certificate?.issuer, GHA);
  });

  void it('two SCTs from one log do not meet a threshold of two', () => {
    fails(
      () => verifyLegacySignature(layer(p, leafWithScts(ctA, ctA)), IMAGE, twoLogs),
      'CERTIFICATE_INVALID',
      /^certificate invalid: duplicate SCT$/,
    );
  });

  void it('one SCT does not meet a threshold of two', () => {
    fails(
      () => verifyLegacySignature(layer(p, leafWithScts(ctB)), IMAGE, twoLogs),
      'CERTIFICATE_INVALID',
      /^certificate invalid: expected 2 SCTs, got 1$/,
    );
  });
});
