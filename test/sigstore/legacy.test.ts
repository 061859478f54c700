/**
 * Legacy cosign `.sig` signatures: the public-good dangerzone signature, the containers/image cosign
 * fixtures, and the skopeo-signed images, verified by key or by Fulcio certificate + Rekor SET.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { join } from 'node:path';
import {
  ANNOTATION_BUNDLE,
  ANNOTATION_CERTIFICATE,
  compileAuthority,
  loadPublicGoodTrustRoot,
  parseContainersSignature,
  parseSimpleSigning,
  SigstoreError,
  verifyLegacySignature,
  type LegacySignature,
  type SigningAuthority,
  type TrustRoot,
} from '../../src/sigstore/index.ts';
import {
  CONTAINERS,
  DANGERZONE,
  DANGERZONE_DIGEST,
  dangerzoneLayer,
  readFixture,
  readText,
  registryDumpSignatures,
  sha256Hex,
  SKOPEO,
  stagingRoot,
  fails,
} from './support.ts';

const pg = loadPublicGoodTrustRoot();

function keyAuthority(
  pemPath: string,
  opts: { tlog?: boolean; trustRoot?: TrustRoot } = {},
): SigningAuthority {
  return compileAuthority({
    kind: 'key',
    name: 'key',
    keys: [readText(pemPath)],
    tlog: { required: opts.tlog ?? false },
    ...(opts.trustRoot ? { trustRoot: opts.trustRoot } : {}),
  }) as SigningAuthority;
}

const containers = (dir: string, n = 1): LegacySignature =>
  parseContainersSignature(readFixture(join(CONTAINERS, dir, `signature-${n}`)));
const manifestDigest = (dir: string): string =>
  `sha256:${sha256Hex(readFixture(join(CONTAINERS, dir, 'manifest.json')))}`;

void describe('public-good dangerzone signature (key + Rekor SET)', () => {
  const dz = keyAuthority(join(DANGERZONE, 'cosign.pub'), { tlog: true, trustRoot: pg });

  void it('verifies offline, with the key fingerprint and tlog evidence', () => {
    const r = verifyLegacySignature(dangerzoneLayer(), DANGERZONE_DIGEST, dz);
    assert.equal(
      r.summary,
      'key sha256:089c5e9a2c90336b87f529af528db2ec14caf36695c5ab80f14f0e735c730a1b; tlog index 929816779 at 2026-02-09T07:41:32.000Z',
    );
    assert.equal(r.tlog[0]?.logId, 'c0d23d6ad406973f9559f3ba2d1ca01f84147d8ffc5b8445c224f98b9591801d');
    assert.equal(r.payload.dockerReference, 'ghcr.io/freedomofpress/dangerzone/v1');
  });

  void it('an authority with several keys finds the one that signed', () => {
    const two = compileAuthority({
      kind: 'key',
      name: 'two',
      keys: [readText(join(SKOPEO, 'keys/k1.pub')), readText(join(DANGERZONE, 'cosign.pub'))],
      tlog: { required: true },
      trustRoot: pg,
    }) as SigningAuthority;
    assert.match(
      verifyLegacySignature(dangerzoneLayer(), DANGERZONE_DIGEST, two).summary,
      /^key sha256:089c5e9a/,
    );
    const noLog = compileAuthority({
      kind: 'key',
      name: 'two',
      keys: [readText(join(SKOPEO, 'keys/k1.pub')), readText(join(DANGERZONE, 'cosign.pub'))],
    }) as SigningAuthority;
    assert.match(
      verifyLegacySignature(dangerzoneLayer(), DANGERZONE_DIGEST, noLog).summary,
      /^key sha256:089c5e9a/,
    );
  });

  void it('verifies without the log when the authority does not require it', () => {
    const r = verifyLegacySignature(
      dangerzoneLayer(),
      DANGERZONE_DIGEST,
      keyAuthority(join(DANGERZONE, 'cosign.pub')),
    );
    assert.deepEqual(r.tlog, []);
  });

  void it('another key: "signature invalid"', () => {
    const r = () =>
      verifyLegacySignature(
        dangerzoneLayer(),
        DANGERZONE_DIGEST,
        keyAuthority(join(SKOPEO, 'keys/k1.pub'), { tlog: true, trustRoot: pg }),
      );
    // The Rekor entry names the dangerzone key, which is checked first.
    fails(r, 'TLOG_MISMATCH', /transparency log entry 1 was made with a different key \(sha256:089c5e9a/);
    fails(
      () =>
        verifyLegacySignature(
          dangerzoneLayer(),
          DANGERZONE_DIGEST,
          keyAuthority(join(SKOPEO, 'keys/k1.pub')),
        ),
      'SIGNATURE_INVALID',
      /^signature invalid: signature verification failed$/,
    );
  });

  void it('another image digest: the payload names the digest it signs', () => {
    const other = `sha256:${'1'.repeat(64)}`;
    fails(
      () => verifyLegacySignature(dangerzoneLayer(), other, dz),
      'ARTIFACT_MISMATCH',
      new RegExp(`^signature is for ${DANGERZONE_DIGEST}, not for the image ${other}$`),
    );
  });

  void it('a forged payload fails (layer digest, then log and signature)', () => {
    const layer = dangerzoneLayer();
    const forged = Buffer.from(layer.payload.toString().replace('dangerzone/v1', 'dangerzone/v2'));
    fails(
      () => verifyLegacySignature({ ...layer, payload: forged }, DANGERZONE_DIGEST, dz),
      'BUNDLE_INVALID',
      /signature payload digest is sha256:[0-9a-f]+, the layer says sha256:88b8a2ac/,
    );
    const noDigest = { payload: forged, annotations: layer.annotations };
    fails(() => verifyLegacySignature(noDigest, DANGERZONE_DIGEST, dz), 'TLOG_MISMATCH', /digest mismatch/);
    fails(
      () => verifyLegacySignature(noDigest, DANGERZONE_DIGEST, keyAuthority(join(DANGERZONE, 'cosign.pub'))),
      'SIGNATURE_INVALID',
      /signature invalid/,
    );
  });

  void it('integratedTime changed by one second: the SET no longer verifies', () => {
    const layer = dangerzoneLayer();
    const bundle = JSON.parse(layer.annotations[ANNOTATION_BUNDLE] as string) as {
      Payload: { integratedTime: number };
    };
    bundle.Payload.integratedTime += 1;
    const annotations = { ...layer.annotations, [ANNOTATION_BUNDLE]: JSON.stringify(bundle) };
    fails(
      () => verifyLegacySignature({ ...layer, annotations }, DANGERZONE_DIGEST, dz),
      'TLOG_INVALID',
      /inclusion promise could not be verified/,
    );
  });

  void it('a trust root without the log that signed the SET fails', () => {
    const staged = keyAuthority(join(DANGERZONE, 'cosign.pub'), { tlog: true, trustRoot: stagingRoot() });
    fails(
      () => verifyLegacySignature(dangerzoneLayer(), DANGERZONE_DIGEST, staged),
      'TLOG_INVALID',
      /inclusion promise could not be verified/,
    );
    // ... and says why: the public-good Rekor (its logID in the annotation) is not in that root.
    fails(
      () => verifyLegacySignature(dangerzoneLayer(), DANGERZONE_DIGEST, staged),
      'TLOG_INVALID',
      /could not be verified \(log c0d23d6ad406973f9559f3ba2d1ca01f84147d8ffc5b8445c224f98b9591801d is not in trust root .*staging\/trusted_root\.json\)$/,
    );
  });

  void it('GHSA-ccxc: the Rekor bundle annotation moved onto another signature fails', () => {
    const target = containers('dir-img-cosign-key-rekor-valid');
    const moved = {
      ...target,
      annotations: {
        ...target.annotations,
        [ANNOTATION_BUNDLE]: dangerzoneLayer().annotations[ANNOTATION_BUNDLE] as string,
      },
    };
    const auth = keyAuthority(join(CONTAINERS, 'cosign2.pub'), { tlog: true, trustRoot: pg });
    fails(
      () => verifyLegacySignature(moved, manifestDigest('dir-img-cosign-key-rekor-valid'), auth),
      'TLOG_MISMATCH',
      /made with a different key/,
    );
  });
});

void describe('containers/image cosign fixtures', () => {
  const cosignKey = keyAuthority(join(CONTAINERS, 'cosign.pub'));

  void it('key-signed signatures verify (with and without an identity tag)', () => {
    for (const dir of ['dir-img-cosign-valid', 'dir-img-cosign-valid-with-tag']) {
      const r = verifyLegacySignature(containers(dir), manifestDigest(dir), cosignKey);
      assert.equal(r.summary, 'key sha256:c87a79018f346cc02482448b77296b0bea143ef2ccab99b04776fb0f638f301f');
    }
  });

  void it('a key-signed signature without a log entry: "not in transparency log" when the log is required', () => {
    const auth = keyAuthority(join(CONTAINERS, 'cosign.pub'), { tlog: true, trustRoot: pg });
    fails(
      () =>
        verifyLegacySignature(
          containers('dir-img-cosign-valid'),
          manifestDigest('dir-img-cosign-valid'),
          auth,
        ),
      'TLOG_MISSING',
      /^not in transparency log$/,
    );
  });

  void it('key + Rekor: verifies against the public-good log', () => {
    const auth = keyAuthority(join(CONTAINERS, 'cosign2.pub'), { tlog: true, trustRoot: pg });
    const r = verifyLegacySignature(
      containers('dir-img-cosign-key-rekor-valid'),
      manifestDigest('dir-img-cosign-key-rekor-valid'),
      auth,
    );
    assert.match(r.summary, /^key sha256:[0-9a-f]{64}; tlog index 11608800 at 2023-01-20T21:57:39\.000Z$/);
  });

  void it('Fulcio + Rekor: verifies keyless against the public-good root', () => {
    const auth = compileAuthority({
      kind: 'keyless',
      name: 'mitr',
      identities: [
        { issuer: { exact: 'https://github.com/login/oauth' }, subject: { exact: 'mitr@redhat.com' } },
      ],
      trustRoot: pg,
    }) as SigningAuthority;
    const r = verifyLegacySignature(
      containers('dir-img-cosign-fulcio-rekor-valid'),
      manifestDigest('dir-img-cosign-fulcio-rekor-valid'),
      auth,
    );
    assert.equal(
      r.summary,
      'mitr@redhat.com from issuer https://github.com/login/oauth; tlog index 11605770 at 2023-01-20T20:51:33.000Z',
    );
  });

  void it('Fulcio + Rekor with another identity: "identity mismatch: got X from issuer Y"', () => {
    const auth = compileAuthority({
      kind: 'keyless',
      name: 'ci',
      identities: [
        {
          issuer: { exact: 'https://token.actions.githubusercontent.com' },
          subject: { regexp: 'https://github\\.com/acme/.*' },
        },
      ],
      trustRoot: pg,
    }) as SigningAuthority;
    fails(
      () =>
        verifyLegacySignature(
          containers('dir-img-cosign-fulcio-rekor-valid'),
          manifestDigest('dir-img-cosign-fulcio-rekor-valid'),
          auth,
        ),
      'IDENTITY_MISMATCH',
      /^identity mismatch: got mitr@redhat\.com from issuer https:\/\/github\.com\/login\/oauth$/,
    );
  });

  void it('a key-signed signature is refused by a keyless authority, and a keyless one by a key authority', () => {
    const keyless = compileAuthority({
      kind: 'keyless',
      name: 'any',
      identities: [{ issuer: { regexp: '.*' }, subject: { regexp: '.*' } }],
      trustRoot: pg,
    }) as SigningAuthority;
    fails(
      () =>
        verifyLegacySignature(
          containers('dir-img-cosign-key-rekor-valid'),
          manifestDigest('dir-img-cosign-key-rekor-valid'),
          keyless,
        ),
      'KEY_MISMATCH',
      /requires a Fulcio certificate/,
    );
    fails(
      () =>
        verifyLegacySignature(
          containers('dir-img-cosign-fulcio-rekor-valid'),
          manifestDigest('dir-img-cosign-fulcio-rekor-valid'),
          cosignKey,
        ),
      'KEY_MISMATCH',
      /not by a key of this authority/,
    );
  });

  void it('GHSA-fx35: a public key in the certificate annotation is refused, keyless or not', () => {
    const sig = containers('dir-img-cosign-fulcio-rekor-valid');
    const bare = {
      ...sig,
      annotations: { ...sig.annotations, [ANNOTATION_CERTIFICATE]: readText(join(CONTAINERS, 'cosign.pub')) },
    };
    const keyless = compileAuthority({
      kind: 'keyless',
      name: 'any',
      identities: [{ issuer: { regexp: '.*' }, subject: { regexp: '.*' } }],
      trustRoot: pg,
    }) as SigningAuthority;
    for (const auth of [keyless, cosignKey]) {
      fails(
        () => verifyLegacySignature(bare, manifestDigest('dir-img-cosign-fulcio-rekor-valid'), auth),
        'CERTIFICATE_INVALID',
        /certificate annotation holds a bare public key, not a certificate/,
      );
    }
  });

  void it('a modified manifest or another image: the signed digest does not match', () => {
    fails(
      () =>
        verifyLegacySignature(
          containers('dir-img-cosign-modified-manifest'),
          manifestDigest('dir-img-cosign-modified-manifest'),
          cosignKey,
        ),
      'ARTIFACT_MISMATCH',
      /^signature is for sha256:634a8f35/,
    );
    fails(
      () =>
        verifyLegacySignature(
          containers('dir-img-cosign-manifest-digest-error'),
          manifestDigest('dir-img-cosign-manifest-digest-error'),
          cosignKey,
        ),
      'ARTIFACT_MISMATCH',
      /^signature is for sha256:634a8f35/,
    );
  });

  void it('an attachment that is not a simple-signing payload is refused', () => {
    fails(
      () =>
        verifyLegacySignature(
          containers('dir-img-cosign-other-attachment'),
          manifestDigest('dir-img-cosign-other-attachment'),
          cosignKey,
        ),
      'BUNDLE_INVALID',
      /media type "text\/plain" is not application\/vnd\.dev\.cosign\.simplesigning\.v1\+json/,
    );
  });

  void it('a signature by an unknown key: "signature invalid"', () => {
    const sig = parseContainersSignature(readFixture(join(CONTAINERS, 'unknown-cosign-key.signature')));
    const digest = parseSimpleSigning(sig.payload).dockerManifestDigest;
    fails(() => verifyLegacySignature(sig, digest, cosignKey), 'SIGNATURE_INVALID', /^signature invalid/);
  });

  void it('non-signature files are refused clearly', () => {
    assert.throws(
      () => parseContainersSignature(readFixture(join(CONTAINERS, 'image.signature'))),
      (e: unknown) =>
        e instanceof SigstoreError &&
        e.code === 'BUNDLE_INVALID' &&
        /missing "\\0sigstore-json\\n" prefix/.test(e.message),
    );
  });
});

void describe('skopeo-signed images', () => {
  const k1 = keyAuthority(join(SKOPEO, 'keys/k1.pub'));
  const k2 = keyAuthority(join(SKOPEO, 'keys/k2.pub'));
  const imageA = 'sha256:a26b9f2187e829cdbda806d6729e554ec8534d6d856a10b33667191ab33a28c9';
  const imageB = 'sha256:7ffece328df5fbc2268debb641e0d33e67f52dd42dab343ec6b69bd7f681174f';

  void it('dir: signatures by k1 verify for the image, also re-tagged and mirrored copies (docker-reference is ignored)', () => {
    for (const dir of ['app-v1', 'app-v2', 'mirror-v1', 'cosignstyle-v1']) {
      const sig = parseContainersSignature(readFixture(join(SKOPEO, 'dir-images', dir, 'signature-1')));
      const digest = `sha256:${sha256Hex(readFixture(join(SKOPEO, 'dir-images', dir, 'manifest.json')))}`;
      assert.equal(digest, imageA);
      assert.match(verifyLegacySignature(sig, digest, k1).summary, /^key sha256:[0-9a-f]{64}$/);
      assert.throws(
        () => verifyLegacySignature(sig, digest, k2),
        (e: unknown) => e instanceof SigstoreError && e.code === 'SIGNATURE_INVALID',
      );
    }
  });

  void it('registry dump: the .sig manifest layers verify, each by its own key', () => {
    const [one] = registryDumpSignatures('app', imageA);
    assert.ok(one);
    assert.ok(verifyLegacySignature(one, imageA, k1));
    const [first, second] = registryDumpSignatures('multi', imageB);
    assert.ok(first && second);
    assert.ok(verifyLegacySignature(first, imageB, k1));
    assert.ok(verifyLegacySignature(second, imageB, k2));
    fails(() => verifyLegacySignature(second, imageB, k1), 'SIGNATURE_INVALID', /signature invalid/);
  });
});
