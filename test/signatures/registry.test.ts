/**
 * "Only signed images run", end to end: the skopeo-signed images (real third-party cosign `.sig`
 * attachments) replayed into Debian's docker-registry, policies loaded by the real loader, decisions
 * made by the real decider. Every failure is a denial with the reason a person can act on.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createDecider } from '../../src/app/decide.ts';
import type { Decision } from '../../src/engine/decision.ts';
import type { RegistryClientOptions } from '../../src/registry/client.ts';
import type { PolicySet } from '../../src/policy/model.ts';
import { startFaultProxy } from '../harness/fault-proxy.ts';
import { replayRegistryDump } from '../harness/fixtures.ts';
import { startRegistry } from '../harness/registry.ts';
import { buildImage, pushBuilt } from '../harness/images.ts';
import {
  copySignature,
  decider,
  key,
  IMG_A,
  IMG_B,
  INDEX,
  INDEX_ARM64,
  keyAuthorities,
  sigTag,
  signaturePolicy,
} from './support.ts';

let registry: Awaited<ReturnType<typeof startRegistry>>;
let proxy: Awaited<ReturnType<typeof startFaultProxy>>;
let host: string;
let dump: Awaited<ReturnType<typeof replayRegistryDump>>;

before(async () => {
  registry = await startRegistry();
  host = registry.host;
  proxy = await startFaultProxy(registry.url);
  dump = await replayRegistryDump(host);
  // Signatures stored elsewhere: another repository (cosign COSIGN_REPOSITORY) and a tag prefix.
  await copySignature(host, 'test/multi', IMG_B, 'signatures/store', sigTag(IMG_B));
  await copySignature(host, 'test/multi', IMG_B, 'test/unsigned', sigTag(IMG_B, 'signed-'));
  // A moved tag: test/mover:v1 now points at an image that was never signed, while the signature of
  // the old digest stays; and an attacker's copy of img-a's signature under img-b's tag.
  await copySignature(host, 'test/app', IMG_A, 'test/mover', sigTag(IMG_A));
  await pushBuilt(host, 'test/mover', buildImage({ seed: 'moved-tag' }), 'v1');
  await copySignature(host, 'test/app', IMG_A, 'test/swapped', sigTag(IMG_B));
});

after(async () => {
  await proxy?.stop();
  await registry?.stop();
});

async function decide(set: PolicySet, image: string, options: RegistryClientOptions = {}): Promise<Decision> {
  const d = decider(set, [host, proxy.host], options);
  try {
    return await d.decider.decide(image);
  } finally {
    await d.close();
  }
}

const ruleOf = (d: Decision) => {
  const rule = d.policies[0]?.rules[0];
  assert.ok(rule, JSON.stringify(d));
  return rule;
};

function denied(d: Decision, reason: RegExp): void {
  assert.equal(d.outcome, 'deny', JSON.stringify(d, null, 1));
  assert.match(ruleOf(d).reason, reason);
}

function allowed(d: Decision, reason: RegExp): void {
  assert.equal(d.outcome, 'allow', JSON.stringify(d, null, 1));
  assert.match(ruleOf(d).reason, reason);
}

const K1_FP = /^k1: key sha256:[0-9a-f]{64} \(/;

void describe('one key', () => {
  void test('an image signed by the key is allowed, naming the key fingerprint and where the signature was', async () => {
    const set = await signaturePolicy(keyAuthorities('k1'));
    const d = await decide(set, `${host}/test/app:v1`);
    allowed(d, K1_FP);
    assert.equal(d.digest, IMG_A);
    const evidence = ruleOf(d).evidence?.signatures;
    assert.ok(evidence);
    assert.equal(evidence.digest, IMG_A);
    assert.equal(evidence.satisfiedCount, 1);
    assert.equal(evidence.authorities[0]?.name, 'k1');
    assert.equal(evidence.authorities[0]?.signature?.source, `${host}/test/app:${sigTag(IMG_A)}`);
    assert.match(evidence.authorities[0]?.signature?.keyFingerprint ?? '', /^sha256:[0-9a-f]{64}$/);
  });

  void test('signed by another key: denied, signature invalid', async () => {
    const d = await decide(await signaturePolicy(keyAuthorities('k2')), `${host}/test/app:v1`);
    denied(d, /^k2: signature invalid/);
    assert.equal(ruleOf(d).evidence?.signatures?.authorities[0]?.code, 'SIGNATURE_INVALID');
  });

  void test('an unsigned image is denied: no signatures found, saying where we looked', async () => {
    const d = await decide(await signaturePolicy(keyAuthorities('k1')), `${host}/test/unsigned:v1`);
    denied(
      d,
      new RegExp(
        `^k1: no signatures found \\(looked for signatures of ${IMG_B} in ${host}/test/unsigned\\)$`,
      ),
    );
    assert.deepEqual(d.reasons, [`policy signed, rule signed: ${ruleOf(d).reason}`]);
  });

  void test('the digest pinned in the reference is what is checked, tag or not', async () => {
    const set = await signaturePolicy(keyAuthorities('k1'));
    allowed(await decide(set, `${host}/test/app@${IMG_A}`), K1_FP);
    allowed(await decide(set, `${host}/test/app:v1@${IMG_A}`), K1_FP);
  });
});

void describe('identity in the payload: what cosign checks, and we do too (the digest, not the name)', () => {
  // The simple-signing payload names a docker-reference (127.0.0.1:5055/test/app:v1 when signed). Like
  // cosign (and unlike containers/image policy.json signedIdentity), the name is not compared: the
  // signature binds the digest, and mirrors and re-tags of a signed digest stay signed.
  void test('a cosign-style signature whose identity has no tag', async () => {
    allowed(await decide(await signaturePolicy(keyAuthorities('k1')), `${host}/test/cosignstyle:v1`), K1_FP);
  });

  void test('a re-tagged copy (:v2, signature says :v1) and a mirrored copy (another repository)', async () => {
    const set = await signaturePolicy(keyAuthorities('k1'));
    allowed(await decide(set, `${host}/test/app:v2`), K1_FP);
    allowed(await decide(set, `${host}/test/mirror:v1`), K1_FP);
  });
});

void describe('thresholds', () => {
  void test('two keys, 2 of 2: both signatures count', async () => {
    const d = await decide(
      await signaturePolicy(`threshold: 2\n${keyAuthorities('k1', 'k2')}`),
      `${host}/test/multi:v1`,
    );
    allowed(d, /^threshold 2 of 2 met \(2\): k1: key sha256:[0-9a-f]{64} .*; k2: key sha256:[0-9a-f]{64} /);
  });

  void test('2 of 3 with one valid signature: denied with the count and each failure', async () => {
    const d = await decide(
      await signaturePolicy(`threshold: 2\n${keyAuthorities('k1', 'k2', 'gen')}`),
      `${host}/test/app:v1`,
    );
    denied(d, /^threshold 2 of 3 not met \(1\): k2: signature invalid.*; gen: signature invalid/);
    assert.equal(ruleOf(d).evidence?.signatures?.satisfiedCount, 1);
  });

  void test('1 of 2 is met by either key', async () => {
    allowed(
      await decide(await signaturePolicy(keyAuthorities('k2', 'k1')), `${host}/test/app:v1`),
      /threshold 1 of 2 met \(1\): k1: key/,
    );
  });

  void test('a static authority counts toward the threshold; a failing one explains itself', async () => {
    const rule = `threshold: 2\nauthorities:\n  - {name: k1, key: {path: "${key('k1')}"}}\n  - {name: break-glass, static: {action: fail, message: "break-glass is closed"}}`;
    const d = await decide(await signaturePolicy(rule), `${host}/test/app:v1`);
    denied(d, /^threshold 2 of 2 not met \(1\): break-glass: break-glass is closed$/);
  });
});

void describe('indexes', () => {
  void test('an index signed only at the top: the index is allowed, a child digest has no signature', async () => {
    const set = await signaturePolicy(keyAuthorities('k1'));
    const top = await decide(set, `${host}/test/multiarch-idxonly:v1`);
    allowed(top, K1_FP);
    assert.equal(top.digest, INDEX);
    denied(await decide(set, `${host}/test/multiarch-idxonly@${INDEX_ARM64}`), /^k1: no signatures found/);
  });

  void test('skopeo --all signs the index and each instance', async () => {
    const set = await signaturePolicy(keyAuthorities('k1'));
    allowed(await decide(set, `${host}/test/multiarch-skopeo@${INDEX_ARM64}`), K1_FP);
  });
});

void describe('signature sources', () => {
  void test('another repository (COSIGN_REPOSITORY): found there, and not beside the image', async () => {
    const rule = `threshold: 2\nauthorities:\n${['k1', 'k2']
      .map(
        (n) => `  - {name: ${n}, key: {path: "${key(n)}"}, source: {repository: "${host}/signatures/store"}}`,
      )
      .join('\n')}`;
    const d = await decide(await signaturePolicy(rule), `${host}/test/unsigned:v1`);
    allowed(
      d,
      new RegExp(`threshold 2 of 2 met \\(2\\): k1: key .*\\(${host}/signatures/store:${sigTag(IMG_B)}\\)`),
    );
  });

  void test('a tag prefix (--attachment-tag-prefix)', async () => {
    const rule = `authorities:\n  - {name: k1, key: {path: "${key('k1')}"}, source: {tagPrefix: signed-}}`;
    allowed(
      await decide(await signaturePolicy(rule), `${host}/test/unsigned:v1`),
      new RegExp(`\\(${host}/test/unsigned:signed-${sigTag(IMG_B)}\\)`),
    );
    const unprefixed = `authorities:\n  - {name: k1, key: {path: "${key('k1')}"}, source: {tagPrefix: other-}}`;
    denied(
      await decide(await signaturePolicy(unprefixed), `${host}/test/unsigned:v1`),
      /no signatures found .* \(tag prefix "other-"\)/,
    );
  });
});

void describe('attacks', () => {
  void test('a moved tag: the signature of the old digest does not admit the new one', async () => {
    const d = await decide(await signaturePolicy(keyAuthorities('k1')), `${host}/test/mover:v1`);
    assert.notEqual(d.digest, IMG_A);
    denied(d, /^k1: no signatures found/);
  });

  void test("another image's signature copied under this digest's tag: the payload digest does not match", async () => {
    // img-a's signature stored as the signature of img-b (in a signature repository, so img-b's own is untouched).
    const rule = `authorities:\n  - {name: k1, key: {path: "${key('k1')}"}, source: {repository: "${host}/test/swapped"}}`;
    const d = await decide(await signaturePolicy(rule), `${host}/test/unsigned:v1`);
    denied(d, new RegExp(`^k1: signature is for ${IMG_A}, not for the image ${IMG_B}$`));
    assert.notEqual(ruleOf(d).evidence?.signatures?.authorities[0]?.code, 'NO_SIGNATURES');
  });

  void test('too many signature layers: a bounded error, denied before any layer is fetched', async () => {
    const d = await decide(await signaturePolicy(keyAuthorities('k1')), `${host}/test/multi:v1`, {
      limits: { signatureLayers: 1 },
    });
    denied(
      d,
      new RegExp(
        `could not fetch signatures from ${host}/test/multi: .*has 2 layers, more than the limit of 1`,
      ),
    );
  });

  void test('an oversize signature payload: denied with the size limit', async () => {
    const d = await decide(await signaturePolicy(keyAuthorities('k1')), `${host}/test/app:v1`, {
      limits: { blob: { signaturePayload: 100 } },
    });
    denied(d, new RegExp(`could not fetch signatures from ${host}/test/app: .*100`));
  });

  void test('a registry error while fetching signatures: denied with the registry message, never "no signatures"', async () => {
    const sigManifest = dump['test/app']?.[sigTag(IMG_A)] ?? '';
    proxy.setFaults([
      { method: 'GET', path: new RegExp(`/manifests/${sigManifest}$`), fault: 'status', status: 500 },
    ]);
    try {
      const set = await signaturePolicy(keyAuthorities('k1'));
      const d = await decide(set, `${proxy.host}/test/app:v1`, { timeouts: { attempts: 1 } });
      denied(
        d,
        new RegExp(
          `^could not fetch signatures from ${proxy.host}/test/app: registry ${proxy.host}/test/app.*500`,
        ),
      );
    } finally {
      proxy.setFaults([]);
    }
  });

  void test('a registry that fails the .sig tag lookup: denied, not "no signatures found"', async () => {
    proxy.setFaults([{ path: /\/manifests\/sha256-[0-9a-f]{64}\.sig$/, fault: 'status', status: 503 }]);
    try {
      const d = await decide(await signaturePolicy(keyAuthorities('k1')), `${proxy.host}/test/unsigned:v1`, {
        timeouts: { attempts: 1 },
      });
      denied(d, /^could not fetch signatures from .*503/);
    } finally {
      proxy.setFaults([]);
    }
  });
});

void describe('fetching only what is needed', () => {
  void test('no signatures rule applies: no signature request is made', async () => {
    const set = await signaturePolicy(keyAuthorities('k1'), `${host}/elsewhere/**`);
    proxy.clearRequests();
    const d = decider(set, [proxy.host]);
    try {
      await d.decider.decide(`${proxy.host}/test/app:v1`);
    } finally {
      await d.close();
    }
    assert.deepEqual(
      proxy.requests.filter((r) => r.path.includes('.sig') || r.path.includes('referrers')),
      [],
    );
  });

  void test('the tag is resolved once; signatures are fetched by the resolved digest', async () => {
    const set = await signaturePolicy(keyAuthorities('k1'));
    proxy.clearRequests();
    const d = decider(set, [proxy.host]);
    try {
      allowed(await d.decider.decide(`${proxy.host}/test/app:v1`), K1_FP);
    } finally {
      await d.close();
    }
    assert.equal(proxy.requests.filter((r) => r.path.endsWith('/manifests/v1')).length, 1);
  });

  void test('offline: a signatures rule cannot be satisfied, and says why', async () => {
    const set = await signaturePolicy(keyAuthorities('k1'));
    const d = await createDecider(set, { offline: true, timeoutMs: 1000 }).decide(
      `${host}/test/app@${IMG_A}`,
    );
    denied(d, /^signatures are stored in the registry, and --offline prevents fetching them$/);
  });
});
