/**
 * One test per signature-verification attack class of ../shared/reference/attacks.md, built with real
 * cryptography: an in-process Rekor log key signs SETs, a throw-away key signs payloads.
 */
import assert from 'node:assert/strict';
import { sign } from 'node:crypto';
import { describe, it } from 'node:test';
import { join } from 'node:path';
import { dsse } from '@sigstore/core';
import {
  ANNOTATION_BUNDLE,
  ANNOTATION_CERTIFICATE,
  ANNOTATION_RFC3161,
  ANNOTATION_SIGNATURE,
  compileAuthority,
  IN_TOTO_PAYLOAD_TYPE,
  loadTrustedRoot,
  parseBundle,
  verifyBundle,
  verifyLegacySignature,
  type Artifact,
  type SigningAuthority,
  type TrustRoot,
} from '../../src/sigstore/index.ts';
import {
  bundleEntry,
  clone,
  hashedRekordBody,
  keyBundle,
  logEntry,
  makeLog,
  makeSigner,
  PY,
  read,
  readJSON,
  rekorAnnotation,
  sha256Hex,
  signB64,
  simpleSigningPayload,
  stagingRoot,
  trustRootJSON,
  type FakeLog,
  type Signer,
  fails,
} from './support.ts';

const IMAGE = `sha256:${'ab'.repeat(32)}`;
const T0 = 1_750_000_000; // 2025-06-15

interface World {
  readonly log: FakeLog;
  readonly log2: FakeLog;
  readonly root: TrustRoot;
  readonly signer: Signer;
}

function world(): World {
  const log = makeLog('rekor-a.test');
  const log2 = makeLog('rekor-b.test');
  return {
    log,
    log2,
    root: loadTrustedRoot(trustRootJSON([log, log2]), { name: 'test root' }),
    signer: makeSigner(),
  };
}

function keyAuth(w: World, extra: Record<string, unknown> = {}): SigningAuthority {
  return compileAuthority({
    kind: 'key',
    name: 'team',
    keys: [w.signer.pem],
    tlog: { required: true },
    trustRoot: w.root,
    ...extra,
  }) as SigningAuthority;
}

/** A legacy layer signed by `signer` and logged in `log`. */
function signedLayer(w: World, payload: Buffer, index = 1) {
  const sig = signB64(w.signer, payload);
  const entry = logEntry(w.log, hashedRekordBody(sha256Hex(payload), sig, w.signer.pem), T0, index);
  return {
    payload,
    annotations: { [ANNOTATION_SIGNATURE]: sig, [ANNOTATION_BUNDLE]: rekorAnnotation(entry) },
    sig,
    entry,
  };
}

void describe('attack classes (signatures)', () => {
  const w = world();

  void it('baseline: a signed, logged legacy signature verifies with its tlog evidence', () => {
    const layer = signedLayer(w, simpleSigningPayload(IMAGE));
    const r = verifyLegacySignature(layer, IMAGE, keyAuth(w));
    assert.equal(r.tlog[0]?.logIndex, '1');
    assert.equal(r.tlog[0]?.integratedTime?.toISOString(), new Date(T0 * 1000).toISOString());
  });

  void it('GHSA-ccxc-vr6p-4858: a valid Rekor bundle annotation moved onto another signature fails', () => {
    const a = signedLayer(w, simpleSigningPayload(IMAGE, 'registry.test/a'));
    const b = signedLayer(w, simpleSigningPayload(IMAGE, 'registry.test/b'), 2);
    const moved = {
      payload: b.payload,
      annotations: { ...b.annotations, [ANNOTATION_BUNDLE]: a.annotations[ANNOTATION_BUNDLE] },
    };
    fails(
      () => verifyLegacySignature(moved, IMAGE, keyAuth(w)),
      'TLOG_MISMATCH',
      /does not match the signature: signature mismatch/,
    );
  });

  void it('GHSA-whqx-f9j3-ch6m: an entry spliced from a second signing of the same payload fails', () => {
    const payload = simpleSigningPayload(IMAGE);
    const first = signedLayer(w, payload, 10);
    const second = signedLayer(w, payload, 11);
    assert.notEqual(first.sig, second.sig, 'ECDSA signatures differ between signings');
    const spliced = {
      payload,
      annotations: { ...second.annotations, [ANNOTATION_BUNDLE]: first.annotations[ANNOTATION_BUNDLE] },
    };
    fails(() => verifyLegacySignature(spliced, IMAGE, keyAuth(w)), 'TLOG_MISMATCH', /signature mismatch/);
  });

  void it('GHSA-whqx-f9j3-ch6m: a logged entry naming another key (same signature and digest) fails', () => {
    const payload = simpleSigningPayload(IMAGE);
    const sig = signB64(w.signer, payload);
    const attacker = makeSigner();
    const entry = logEntry(w.log, hashedRekordBody(sha256Hex(payload), sig, attacker.pem), T0, 12);
    const layer = {
      payload,
      annotations: { [ANNOTATION_SIGNATURE]: sig, [ANNOTATION_BUNDLE]: rekorAnnotation(entry) },
    };
    fails(
      () => verifyLegacySignature(layer, IMAGE, keyAuth(w)),
      'TLOG_MISMATCH',
      /transparency log entry 1 was made with a different key/,
    );
  });

  void it('GHSA-9vcr-p3rj-q5q6: two entries from one log do not satisfy a threshold of two logs', () => {
    const payload = simpleSigningPayload(IMAGE);
    const sig = signB64(w.signer, payload);
    const body = hashedRekordBody(sha256Hex(payload), sig, w.signer.pem);
    const twoLogs = keyAuth(w, { tlog: { required: true, threshold: 2 } });
    // Same key, PEM written differently: two distinct bodies in one log.
    const body2 = hashedRekordBody(sha256Hex(payload), sig, `${w.signer.pem}\n`);
    const sameLog = keyBundle(payload, sig, [
      logEntry(w.log, body, T0, 20),
      logEntry(w.log, body2, T0 + 5, 21),
    ]);
    const artifact: Artifact = { kind: 'bytes', bytes: payload };
    fails(
      () => verifyBundle(parseBundle(sameLog), { artifact, authority: twoLogs, predicateType: null }),
      'TLOG_MISSING',
      /not in enough transparency logs: 1 distinct log\(s\), 2 required/,
    );
    const distinct = keyBundle(payload, sig, [logEntry(w.log, body, T0, 20), logEntry(w.log2, body, T0, 7)]);
    const r = verifyBundle(parseBundle(distinct), { artifact, authority: twoLogs, predicateType: null });
    assert.equal(r.tlog.length, 2);
    const duplicate = keyBundle(payload, sig, [logEntry(w.log, body, T0, 20), logEntry(w.log, body, T0, 20)]);
    fails(
      () => verifyBundle(parseBundle(duplicate), { artifact, authority: keyAuth(w), predicateType: null }),
      'TLOG_INVALID',
      /duplicate transparency log entry/,
    );
  });

  void it('GHSA-cq38-jh5f-37mq: thousands of tlog entries are refused before any cryptography', () => {
    const payload = simpleSigningPayload(IMAGE);
    const sig = signB64(w.signer, payload);
    const entry = logEntry(w.log, hashedRekordBody(sha256Hex(payload), sig, w.signer.pem), T0, 1);
    const json = keyBundle(payload, sig, []);
    (json.verificationMaterial as { tlogEntries: unknown[] }).tlogEntries = Array.from({ length: 5000 }, () =>
      bundleEntry(entry),
    );
    fails(() => parseBundle(json), 'LIMIT_EXCEEDED', /5000 transparency log entries \(limit 32\)/);
  });

  void it('GHSA-cq38-jh5f-37mq: an in-toto statement with too many subjects is refused before verifying', () => {
    const statement = {
      _type: 'https://in-toto.io/Statement/v1',
      predicateType: 'https://sigstore.dev/cosign/sign/v1',
      predicate: {},
      subject: Array.from({ length: 2000 }, (_, i) => ({ digest: { sha256: sha256Hex(String(i)) } })),
    };
    fails(
      () =>
        verifyBundle(
          parseBundle(dsseKeyBundle(w.signer, IN_TOTO_PAYLOAD_TYPE, Buffer.from(JSON.stringify(statement)))),
          { artifact: imageArtifact(), authority: noTlogKey(w), predicateType: null },
        ),
      'LIMIT_EXCEEDED',
      /more than 1024 subjects/,
    );
  });

  void it('GHSA-wqqc-jjcq-vfxm: a key used outside its validity window is refused', () => {
    const layer = signedLayer(w, simpleSigningPayload(IMAGE), 30);
    const expired = keyAuth(w, { validFor: { end: new Date((T0 - 3600) * 1000) } });
    fails(() => verifyLegacySignature(layer, IMAGE, expired), 'KEY_EXPIRED', /key not valid at signing time/);
    const notYet = keyAuth(w, { validFor: { start: new Date((T0 + 3600) * 1000) } });
    fails(() => verifyLegacySignature(layer, IMAGE, notYet), 'KEY_EXPIRED', /key not valid at signing time/);
    const inside = keyAuth(w, {
      validFor: { start: new Date((T0 - 3600) * 1000), end: new Date((T0 + 3600) * 1000) },
    });
    assert.ok(verifyLegacySignature(layer, IMAGE, inside));
    const noTime = compileAuthority({
      kind: 'key',
      name: 'team',
      keys: [w.signer.pem],
      validFor: { end: new Date() },
    }) as SigningAuthority;
    fails(
      () =>
        verifyLegacySignature(
          { payload: layer.payload, annotations: { [ANNOTATION_SIGNATURE]: layer.sig } },
          IMAGE,
          noTime,
        ),
      'KEY_EXPIRED',
      /no trusted signing time/,
    );
  });

  void it('GHSA-xgjw-pm74-86q4: integratedTime of a proof-only entry is not a trusted time', () => {
    const json = readJSON(join(PY, 'bundle_v3.txt.sigstore')) as {
      verificationMaterial: { tlogEntries: Record<string, unknown>[] };
    };
    const auth = compileAuthority({
      kind: 'keyless',
      name: 'w',
      identities: [
        { issuer: { exact: 'https://github.com/login/oauth' }, subject: { exact: 'william@yossarian.net' } },
      ],
      trustRoot: stagingRoot(),
    }) as SigningAuthority;
    const artifact: Artifact = { kind: 'bytes', bytes: read(join(PY, 'bundle_v3.txt')) };
    assert.ok(verifyBundle(parseBundle(json), { artifact, authority: auth, predicateType: null }));
    const proofOnly = clone(json);
    const entry = proofOnly.verificationMaterial.tlogEntries[0] as Record<string, unknown>;
    delete entry.inclusionPromise;
    fails(
      () => verifyBundle(parseBundle(proofOnly), { artifact, authority: auth, predicateType: null }),
      'TLOG_MISSING',
      /no entry with a signed integration time/,
    );
  });

  void it('GHSA-jfc7-64v2-mr8c: a payloadType with U+01xx look-alikes is another type', () => {
    const lookalike = [...IN_TOTO_PAYLOAD_TYPE]
      .map((c) => String.fromCharCode(c.charCodeAt(0) + 0x100))
      .join('');
    assert.equal(
      Buffer.from(lookalike, 'latin1').toString('latin1'),
      IN_TOTO_PAYLOAD_TYPE,
      'latin1 would confuse them',
    );
    const payload = Buffer.from('{}');
    assert.notDeepEqual(
      dsse.preAuthEncoding(lookalike, payload),
      dsse.preAuthEncoding(IN_TOTO_PAYLOAD_TYPE, payload),
    );
    const statement = Buffer.from(
      JSON.stringify({
        _type: 'https://in-toto.io/Statement/v1',
        predicateType: 'x',
        predicate: {},
        subject: [{ digest: { sha256: IMAGE.slice(7) } }],
      }),
    );
    const json = dsseKeyBundle(w.signer, IN_TOTO_PAYLOAD_TYPE, statement);
    assert.ok(
      verifyBundle(parseBundle(json), {
        artifact: imageArtifact(),
        authority: noTlogKey(w),
        predicateType: null,
      }),
    );
    (json.dsseEnvelope as { payloadType: string }).payloadType = lookalike;
    fails(
      () =>
        verifyBundle(parseBundle(json), {
          artifact: imageArtifact(),
          authority: noTlogKey(w),
          predicateType: null,
        }),
      'BUNDLE_INVALID',
      /DSSE payloadType .* is not application\/vnd\.in-toto\+json/,
    );
  });

  void it('GHSA-w6c6-c85g-mmv6: a garbage DSSE payload fails, never "verified"', () => {
    const json = dsseKeyBundle(w.signer, IN_TOTO_PAYLOAD_TYPE, Buffer.from('not json at all'));
    fails(
      () =>
        verifyBundle(parseBundle(json), {
          artifact: imageArtifact(),
          authority: noTlogKey(w),
          predicateType: null,
        }),
      'BUNDLE_INVALID',
      /not a JSON in-toto statement/,
    );
  });

  void it('GHSA-fx35-mq7g-6g98: a bare public key in a bundle certificate field is refused', () => {
    const payload = simpleSigningPayload(IMAGE);
    const json = keyBundle(payload, signB64(w.signer, payload), []);
    const vm = json.verificationMaterial as Record<string, unknown>;
    delete vm.publicKey;
    vm.x509CertificateChain = {
      certificates: [
        { rawBytes: w.signer.publicKey.export({ format: 'der', type: 'spki' }).toString('base64') },
      ],
    };
    const keyless = compileAuthority({
      kind: 'keyless',
      name: 'any',
      identities: [{ issuer: { regexp: '.*' }, subject: { regexp: '.*' } }],
      trustRoot: stagingRoot(),
    }) as SigningAuthority;
    for (const authority of [keyless, noTlogKey(w)]) {
      fails(
        () =>
          verifyBundle(parseBundle(json), {
            artifact: { kind: 'bytes', bytes: payload },
            authority,
            predicateType: null,
          }),
        'CERTIFICATE_INVALID',
        /certificate field holds a bare public key/,
      );
    }
    const legacy = {
      payload,
      annotations: {
        [ANNOTATION_SIGNATURE]: signB64(w.signer, payload),
        [ANNOTATION_CERTIFICATE]: w.signer.pem,
      },
    };
    fails(() => verifyLegacySignature(legacy, IMAGE, noTlogKey(w)), 'CERTIFICATE_INVALID', /bare public key/);
  });

  void it('an unsupported Rekor kind (rekord) is refused, not skipped', () => {
    const payload = simpleSigningPayload(IMAGE);
    const sig = signB64(w.signer, payload);
    const body = Buffer.from(JSON.stringify({ apiVersion: '0.0.1', kind: 'rekord', spec: {} })).toString(
      'base64',
    );
    const entry = logEntry(w.log, body, T0, 40);
    const layer = {
      payload,
      annotations: { [ANNOTATION_SIGNATURE]: sig, [ANNOTATION_BUNDLE]: rekorAnnotation(entry) },
    };
    fails(
      () => verifyLegacySignature(layer, IMAGE, keyAuth(w)),
      'UNSUPPORTED',
      /unsupported Rekor entry kind rekord 0\.0\.1/,
    );
  });

  void it('malformed Rekor bundle and RFC 3161 annotations are refused with the reason', () => {
    const layer = signedLayer(w, simpleSigningPayload(IMAGE), 50);
    const withTs = {
      ...layer,
      annotations: {
        ...layer.annotations,
        [ANNOTATION_RFC3161]: JSON.stringify({ SignedRFC3161Timestamp: 'AAAA' }),
      },
    };
    fails(
      () => verifyLegacySignature(withTs, IMAGE, keyAuth(w)),
      'TIMESTAMP_INVALID',
      /timestamp or certificate does not parse/,
    );
    const notJson = { ...layer, annotations: { ...layer.annotations, [ANNOTATION_BUNDLE]: '{' } };
    fails(
      () => verifyLegacySignature(notJson, IMAGE, keyAuth(w)),
      'TLOG_INVALID',
      /Rekor bundle annotation is not JSON/,
    );
    const badTime = JSON.parse(layer.annotations[ANNOTATION_BUNDLE]) as {
      Payload: { integratedTime: unknown };
    };
    badTime.Payload.integratedTime = '1750000000';
    fails(
      () =>
        verifyLegacySignature(
          { ...layer, annotations: { ...layer.annotations, [ANNOTATION_BUNDLE]: JSON.stringify(badTime) } },
          IMAGE,
          keyAuth(w),
        ),
      'TLOG_INVALID',
      /integratedTime is not a positive integer/,
    );
  });

  void it('oversized payloads and annotations are refused before parsing', () => {
    const big = Buffer.alloc(2 * 1024 * 1024, 0x20);
    fails(
      () => verifyLegacySignature({ payload: big, annotations: {} }, IMAGE, noTlogKey(w)),
      'LIMIT_EXCEEDED',
      /payload larger than/,
    );
    const payload = simpleSigningPayload(IMAGE);
    fails(
      () =>
        verifyLegacySignature(
          { payload, annotations: { [ANNOTATION_CERTIFICATE]: 'x'.repeat(300 * 1024) } },
          IMAGE,
          noTlogKey(w),
        ),
      'LIMIT_EXCEEDED',
      /annotation dev\.sigstore\.cosign\/certificate larger than/,
    );
    fails(() => parseBundle(Buffer.alloc(2 * 1024 * 1024, 0x20)), 'LIMIT_EXCEEDED', /bundle larger than/);
  });

  void it('simple-signing payload claims: wrong type and ambiguous keys are refused', () => {
    const wrongType = Buffer.from(
      JSON.stringify({
        critical: {
          identity: {},
          image: { 'docker-manifest-digest': IMAGE },
          type: 'atomic container signature',
        },
      }),
    );
    fails(
      () =>
        verifyLegacySignature(
          { payload: wrongType, annotations: { [ANNOTATION_SIGNATURE]: signB64(w.signer, wrongType) } },
          IMAGE,
          noTlogKey(w),
        ),
      'ARTIFACT_MISMATCH',
      /critical\.type is "atomic container signature"/,
    );
    const ambiguous = Buffer.from(
      `{"critical":{"image":{"docker-manifest-digest":"${IMAGE}"},"type":"cosign container image signature"},"Critical":{"image":{"docker-manifest-digest":"sha256:${'00'.repeat(32)}"}}}`,
    );
    fails(
      () =>
        verifyLegacySignature(
          { payload: ambiguous, annotations: { [ANNOTATION_SIGNATURE]: signB64(w.signer, ambiguous) } },
          IMAGE,
          noTlogKey(w),
        ),
      'BUNDLE_INVALID',
      /ambiguous keys critical, Critical/,
    );
    const oldStyle = Buffer.from(
      `{"Critical":{"Identity":{"docker-reference":"r"},"Image":{"Docker-manifest-digest":"${IMAGE}"},"Type":"cosign container image signature"},"Optional":null}`,
    );
    assert.ok(
      verifyLegacySignature(
        { payload: oldStyle, annotations: { [ANNOTATION_SIGNATURE]: signB64(w.signer, oldStyle) } },
        IMAGE,
        noTlogKey(w),
      ),
    );
  });
});

const imageArtifact = (): Artifact => ({
  kind: 'digest',
  algorithm: 'sha256',
  digest: Buffer.from(IMAGE.slice(7), 'hex'),
});
const noTlogKey = (w: World): SigningAuthority =>
  compileAuthority({ kind: 'key', name: 'team', keys: [w.signer.pem] }) as SigningAuthority;

/** A v0.1 DSSE bundle signed by a key, without log entries. */
function dsseKeyBundle(signer: Signer, payloadType: string, payload: Buffer): Record<string, unknown> {
  const sig = sign('sha256', dsse.preAuthEncoding(payloadType, payload), signer.privateKey);
  return {
    mediaType: 'application/vnd.dev.sigstore.bundle+json;version=0.1',
    verificationMaterial: { publicKey: { hint: '' }, tlogEntries: [] },
    dsseEnvelope: {
      payload: payload.toString('base64'),
      payloadType,
      signatures: [{ sig: sig.toString('base64'), keyid: '' }],
    },
  };
}
