/**
 * k-of-n evaluation over an image's candidate signatures: distinct authorities, each signature
 * counted once, bounded work, and decisions that explain themselves.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { join } from 'node:path';
import {
  compileAuthority,
  DEFAULT_LIMITS,
  evaluateAuthorities,
  loadPublicGoodTrustRoot,
  mostTelling,
  parseContainersSignature,
  SigstoreError,
  type Authority,
  type SignatureCandidate,
} from '../../src/sigstore/index.ts';
import {
  CONTAINERS,
  readFixture,
  readText,
  registryDumpSignatures,
  sha256Hex,
  SIGSTORE,
  SKOPEO,
} from './support.ts';

const IMAGE_B = 'sha256:7ffece328df5fbc2268debb641e0d33e67f52dd42dab343ec6b69bd7f681174f';
const key = (name: string, file: string): Authority =>
  compileAuthority({ kind: 'key', name, keys: [readText(join(SKOPEO, 'keys', file))] });
const fp = (file: string): string =>
  `sha256:${sha256Hex(Buffer.from(readText(join(SKOPEO, 'keys', file)).replace(/-----[^-]+-----|\s/g, ''), 'base64'))}`;

function multiCandidates(): SignatureCandidate[] {
  return registryDumpSignatures('multi', IMAGE_B).map((signature, i) => ({
    kind: 'legacy',
    source: `multi .sig layer ${i}`,
    signature,
  }));
}

void describe('evaluateAuthorities', () => {
  void it('2 of 2 distinct key authorities, each satisfied by its own signature, explained by fingerprint', () => {
    const d = evaluateAuthorities({
      authorities: [key('k1', 'k1.pub'), key('k2', 'k2.pub')],
      threshold: 2,
      candidates: multiCandidates(),
      imageDigest: IMAGE_B,
    });
    assert.equal(d.satisfied, true);
    assert.equal(d.satisfiedCount, 2);
    assert.equal(
      d.reason,
      `threshold 2 of 2 met (2): k1: key ${fp('k1.pub')} (multi .sig layer 0); k2: key ${fp('k2.pub')} (multi .sig layer 1)`,
    );
    assert.equal(d.authorities[0]?.signature?.keyFingerprint, fp('k1.pub'));
  });

  void it('"threshold 2 of 3 not met (1)" with each failing authority\'s reason', () => {
    const only = multiCandidates().slice(0, 1);
    const d = evaluateAuthorities({
      authorities: [key('k1', 'k1.pub'), key('k2', 'k2.pub'), key('k3', 'k3-sigstore-pemtype.pub')],
      threshold: 2,
      candidates: only,
      imageDigest: IMAGE_B,
    });
    assert.equal(d.satisfied, false);
    assert.equal(
      d.reason,
      'threshold 2 of 3 not met (1): k2: signature invalid: signature verification failed; k3: signature invalid: signature verification failed',
    );
    assert.equal(d.authorities[1]?.code, 'SIGNATURE_INVALID');
  });

  void it('"no signatures found" for an unsigned image', () => {
    const d = evaluateAuthorities({
      authorities: [key('k1', 'k1.pub')],
      candidates: [],
      imageDigest: IMAGE_B,
    });
    assert.equal(d.satisfied, false);
    assert.equal(d.reason, 'no signatures found');
    assert.equal(d.authorities[0]?.code, 'NO_SIGNATURES');
  });

  void it('the same signature never counts twice: copies of one signature, or one key named twice', () => {
    const [one] = multiCandidates();
    assert.ok(one);
    const copies = [one, { ...one, source: 'copy' }];
    const d = evaluateAuthorities({
      authorities: [key('a', 'k1.pub'), key('b', 'k1.pub')],
      threshold: 2,
      candidates: copies,
      imageDigest: IMAGE_B,
    });
    assert.equal(d.satisfied, false);
    assert.equal(d.satisfiedCount, 1);
    assert.equal(d.authorities[1]?.code, 'SIGNATURE_ALREADY_COUNTED');
    assert.match(d.reason, /^threshold 2 of 2 not met \(1\): b: its valid signatures were already counted/);
  });

  void it('assignment is a maximum matching: authority order cannot make a satisfiable policy fail', () => {
    const either = compileAuthority({
      kind: 'key',
      name: 'either',
      keys: [readText(join(SKOPEO, 'keys/k1.pub')), readText(join(SKOPEO, 'keys/k2.pub'))],
    });
    const d = evaluateAuthorities({
      authorities: [either, key('only-k1', 'k1.pub')],
      threshold: 2,
      candidates: multiCandidates(),
      imageDigest: IMAGE_B,
    });
    assert.equal(d.satisfied, true, d.reason);
    assert.equal(d.authorities[0]?.signature?.keyFingerprint, fp('k2.pub'));
    assert.equal(d.authorities[1]?.signature?.keyFingerprint, fp('k1.pub'));
  });

  void it('static authorities pass or fail by themselves', () => {
    const pass = compileAuthority({
      kind: 'static',
      name: 'break-glass',
      action: 'pass',
      message: 'emergency override',
    });
    const fail = compileAuthority({
      kind: 'static',
      name: 'frozen',
      action: 'fail',
      message: 'deploys frozen',
    });
    assert.equal(
      evaluateAuthorities({ authorities: [pass], candidates: [], imageDigest: IMAGE_B }).reason,
      'break-glass: emergency override',
    );
    const d = evaluateAuthorities({
      authorities: [fail],
      candidates: multiCandidates(),
      imageDigest: IMAGE_B,
    });
    assert.deepEqual([d.satisfied, d.reason], [false, 'deploys frozen']);
  });

  void it('keyless identity mismatch and missing tlog show as the distinct reasons', () => {
    const pg = loadPublicGoodTrustRoot();
    const dir = join(CONTAINERS, 'dir-img-cosign-fulcio-rekor-valid');
    const digest = `sha256:${sha256Hex(readFixture(join(dir, 'manifest.json')))}`;
    const candidates: SignatureCandidate[] = [
      {
        kind: 'legacy',
        source: 'signature-1',
        signature: parseContainersSignature(readFixture(join(dir, 'signature-1'))),
      },
    ];
    const ci = compileAuthority({
      kind: 'keyless',
      name: 'ci',
      identities: [
        {
          issuer: { exact: 'https://token.actions.githubusercontent.com' },
          subject: { regexp: 'https://github\\.com/acme/.*' },
        },
      ],
      trustRoot: pg,
    });
    assert.equal(
      evaluateAuthorities({ authorities: [ci], candidates, imageDigest: digest }).reason,
      'identity mismatch: got mitr@redhat.com from issuer https://github.com/login/oauth',
    );
    const mitr = compileAuthority({
      kind: 'keyless',
      name: 'mitr',
      identities: [
        { issuer: { exact: 'https://github.com/login/oauth' }, subject: { exact: 'mitr@redhat.com' } },
      ],
      trustRoot: pg,
    });
    assert.equal(
      evaluateAuthorities({ authorities: [mitr], candidates, imageDigest: digest }).reason,
      'mitr: mitr@redhat.com from issuer https://github.com/login/oauth; tlog index 11605770 at 2023-01-20T20:51:33.000Z (signature-1)',
    );
    const valid = join(CONTAINERS, 'dir-img-cosign-valid');
    const keyTlog = compileAuthority({
      kind: 'key',
      name: 'k',
      keys: [readText(join(CONTAINERS, 'cosign.pub'))],
      tlog: { required: true },
      trustRoot: pg,
    });
    const d = evaluateAuthorities({
      authorities: [keyTlog],
      candidates: [
        {
          kind: 'legacy',
          source: 's',
          signature: parseContainersSignature(readFixture(join(valid, 'signature-1'))),
        },
      ],
      imageDigest: `sha256:${sha256Hex(readFixture(join(valid, 'manifest.json')))}`,
    });
    assert.equal(d.reason, 'not in transparency log');
  });

  void it('bundle candidates: an attestation does not count as an image signature (predicate type)', () => {
    const pg = loadPublicGoodTrustRoot();
    const bundle = readFixture(join(SIGSTORE, 'cosign/pkg/cosign/testdata/oci-attestation.sigstore.json'));
    const cody = compileAuthority({
      kind: 'keyless',
      name: 'cody',
      identities: [
        { issuer: { exact: 'https://github.com/login/oauth' }, subject: { exact: 'cody@soyland.com' } },
      ],
      trustRoot: pg,
    });
    const digest = 'sha256:732112270d7e59418a8c080b134b24cabd67d250d0d0147a97ed95ba5c280aa4';
    const candidates: SignatureCandidate[] = [{ kind: 'bundle', source: 'referrer sha256:…', bundle }];
    const asSignature = evaluateAuthorities({ authorities: [cody], candidates, imageDigest: digest });
    assert.match(
      asSignature.reason,
      /^in-toto predicateType "https:\/\/cosign\.sigstore\.dev\/attestation\/v1" is not "https:\/\/sigstore\.dev\/cosign\/sign\/v1"$/,
    );
    const asAttestation = evaluateAuthorities({
      authorities: [cody],
      candidates,
      imageDigest: digest,
      predicateType: 'https://cosign.sigstore.dev/attestation/v1',
    });
    assert.equal(asAttestation.satisfied, true);
    const garbage = evaluateAuthorities({
      authorities: [cody],
      candidates: [{ kind: 'bundle', source: 'x', bundle: '{' }],
      imageDigest: digest,
    });
    assert.match(garbage.reason, /^bundle is not JSON/);
  });

  void it('GHSA-vfp6-jrw2-99g9: candidates and attempts are bounded, and the decision says so', () => {
    const [one] = multiCandidates();
    assert.ok(one);
    const many = Array.from({ length: 100 }, (_, i) => ({ ...one, source: `layer ${i}` }));
    const d = evaluateAuthorities({
      authorities: [key('k2', 'k2.pub')],
      candidates: many,
      imageDigest: IMAGE_B,
    });
    assert.equal(d.ignoredCandidates, 36);
    assert.match(
      d.reason,
      /signature invalid: signature verification failed \(64 signatures checked\) \(36 signatures beyond the limit of 64 were not checked\)$/,
    );
    const tight = evaluateAuthorities({
      authorities: [key('k2', 'k2.pub'), key('k1', 'k1.pub')],
      candidates: many.slice(0, 4),
      imageDigest: IMAGE_B,
      limits: { ...DEFAULT_LIMITS, maxAttempts: 3 },
    });
    assert.equal(tight.satisfied, false);
    assert.equal(tight.authorities[1]?.code, 'NOT_CHECKED');
    assert.match(tight.reason, /k1: not checked: verification attempt limit reached/);
  });

  void it('bad thresholds and authority sets are refused', () => {
    const isInvalid = (re: RegExp) => (e: unknown) =>
      e instanceof SigstoreError && e.code === 'AUTHORITY_INVALID' && re.test(e.message);
    assert.throws(
      () =>
        evaluateAuthorities({
          authorities: [key('k1', 'k1.pub')],
          threshold: 2,
          candidates: [],
          imageDigest: IMAGE_B,
        }),
      isInvalid(/threshold must be an integer from 1 to 1, got 2/),
    );
    assert.throws(
      () => evaluateAuthorities({ authorities: [], candidates: [], imageDigest: IMAGE_B }),
      isInvalid(/no authorities/),
    );
    assert.throws(
      () =>
        evaluateAuthorities({
          authorities: [key('a', 'k1.pub'), key('a', 'k2.pub')],
          candidates: [],
          imageDigest: IMAGE_B,
        }),
      isInvalid(/names must be distinct/),
    );
    assert.throws(
      () => evaluateAuthorities({ authorities: [key('a', 'k1.pub')], candidates: [], imageDigest: 'latest' }),
      (e: unknown) => e instanceof SigstoreError && /invalid digest "latest"/.test(e.message),
    );
  });
});

void describe('mostTelling (shared with the attestations rule)', () => {
  void it('picks the reason a user can act on; the first on a tie; unknown codes last', () => {
    const e = (code: string, message: string) => ({ code, message });
    const pick = (items: { code: string; message: string }[]) => mostTelling(items, (i) => i.code).message;
    assert.equal(
      pick([e('BUNDLE_INVALID', 'b'), e('SIGNATURE_INVALID', 's'), e('IDENTITY_MISMATCH', 'i')]),
      'i',
    );
    assert.equal(pick([e('TLOG_MISSING', 't1'), e('TLOG_MISSING', 't2')]), 't1');
    assert.equal(pick([e('CONDITION_FALSE', 'c'), e('UNSUPPORTED', 'u')]), 'u');
  });
});
