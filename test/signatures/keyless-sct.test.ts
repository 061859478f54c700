/**
 * Keyless end to end with certificate transparency checked, without Sigstore's servers: an in-process
 * Sigstore (test/harness/sigstore-instance.ts: CA, CT log embedding SCTs, Rekor with SETs and inclusion
 * proofs, trusted_root.json) signs images in the local registry as cosign does (legacy `.sig`, and a
 * v0.3 DSSE bundle as an OCI referrer), and `portcullis verify --policy` decides with SCTs required.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdir, mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { cli } from '../cli/run.ts';
import { buildImage, pushBuilt } from '../harness/images.ts';
import { startRegistry } from '../harness/registry.ts';
import {
  COSIGN_SIGN_PREDICATE,
  createSigstoreInstance,
  GITHUB_ISSUER,
  pushBundleReferrers,
  pushLegacySignature,
  type LegacyLayer,
  type Leaf,
} from '../harness/sigstore-instance.ts';
import {
  ANNOTATION_SIGNATURE,
  compileAuthority,
  loadTrustedRoot,
  parseBundle,
  verifyBundle,
  type SigningAuthority,
} from '../../src/sigstore/index.ts';
import { hashedRekordBody, makeCtLog, sha256Hex } from '../sigstore/support.ts';

const WORKFLOW = 'https://github.com/acme/app/.github/workflows/release.yml@refs/tags/v1.0.0';
const REPOSITORY = 'https://github.com/acme/app';
const HOUR = 3600_000;

const sigstore = createSigstoreInstance({ name: 'sct.portcullis.test' });
// Another CA behind the same logs, not in the trusted root.
const foreign = createSigstoreInstance({
  name: 'foreign.portcullis.test',
  ctLog: sigstore.ctLog,
  rekor: sigstore.rekor,
});
// A CA in the trusted root whose intermediate expired an hour before the signature was logged.
const lapsed = createSigstoreInstance({
  name: 'lapsed.portcullis.test',
  ctLog: sigstore.ctLog,
  rekor: sigstore.rekor,
  intermediate: { notBefore: new Date(Date.now() - 48 * HOUR), notAfter: new Date(Date.now() - HOUR) },
});

const release = { sans: [{ uri: WORKFLOW }], extensions: { '1.3.6.1.4.1.57264.1.12': REPOSITORY } };
const good = sigstore.issueLeaf(release);

let registry: Awaited<ReturnType<typeof startRegistry>>;
let host: string;
let dir: string;
const indexOf: Record<string, number> = {};

/** Push an image `keyless-sct/<name>` and its legacy `.sig` made by `sign` (default: the instance, by `leaf`). */
async function legacy(
  name: string,
  leaf: Leaf,
  sign = (digest: string, reference: string): LegacyLayer => sigstore.signLegacy(leaf, digest, reference),
): Promise<void> {
  const image = buildImage({ seed: `keyless-sct-${name}` });
  await pushBuilt(host, `keyless-sct/${name}`, image, 'v1');
  const layer = sign(image.digest, `${host}/keyless-sct/${name}`);
  if (layer.entry) indexOf[name] = layer.entry.logIndex;
  await pushLegacySignature(host, `keyless-sct/${name}`, image.digest, [layer]);
}

async function policy(name: string, keyless: string, trustRoot = 'trusted_root.json'): Promise<string> {
  const d = join(dir, name);
  await mkdir(d);
  await writeFile(
    join(d, 'policy.yaml'),
    `apiVersion: portcullis.dev/v1alpha1
kind: ImagePolicy
metadata: {name: ${name}}
spec:
  images: [{glob: "**"}]
  rules:
    - name: released
      signatures:
        authorities:
          - name: github-release
            trustRoot: ../${trustRoot}
            keyless:
${keyless
  .trim()
  .split('\n')
  .map((l) => `              ${l}`)
  .join('\n')}
`,
  );
  return d;
}

const IDENTITY = `identities:
  - issuer: ${GITHUB_ISSUER}
    subjectRegExp: 'https://github\\.com/acme/[^/]+/\\.github/workflows/release\\.yml@refs/tags/v.*'
extensions:
  - {oid: sourceRepositoryURI, value: "${REPOSITORY}"}`;

before(async () => {
  registry = await startRegistry();
  host = registry.host;
  dir = await mkdtemp(join(tmpdir(), 'portcullis-keyless-sct-'));
  const trust = sigstore.trustedRoot();
  (trust.certificateAuthorities as unknown[]).push(
    ...(lapsed.trustedRoot().certificateAuthorities as unknown[]),
  );
  await writeFile(join(dir, 'trusted_root.json'), JSON.stringify(trust));
  await policy('strict', IDENTITY);
  // The same instance, but its CT log trusted only from tomorrow: today's SCTs are not from a trusted log.
  const late = sigstore.trustedRoot() as { ctlogs: { publicKey: { validFor: { start: string } } }[] };
  for (const l of late.ctlogs) l.publicKey.validFor.start = new Date(Date.now() + 24 * HOUR).toISOString();
  await writeFile(join(dir, 'trusted_root_late_ct.json'), JSON.stringify(late));
  await policy('late-ct', IDENTITY, 'trusted_root_late_ct.json');
  await policy('ignore-sct', `insecureIgnoreSCT: true\n${IDENTITY}`);
  await policy(
    'prefix',
    `identities:\n  - issuer: ${GITHUB_ISSUER}\n    subjectRegExp: 'https://github\\.com/acme/app/'`,
  );

  await legacy('good', good);
  await legacy('unknown-ct', sigstore.issueLeaf({ ...release, sct: { log: makeCtLog('ctfe.rogue.test') } }));
  await legacy('copied-sct', sigstore.issueLeaf({ ...release, sct: { list: good.sctList as Buffer } }));
  await legacy(
    'email',
    sigstore.issueLeaf({ sans: [{ email: 'release@acme.test' }], issuer: 'https://accounts.acme.test' }),
  );
  await legacy('no-sct', sigstore.issueLeaf({ ...release, sct: 'none' }));
  const foreignLeaf = foreign.issueLeaf(release);
  await legacy('foreign-ca', foreignLeaf, (digest, ref) => foreign.signLegacy(foreignLeaf, digest, ref));
  const lapsedLeaf = lapsed.issueLeaf(release);
  await legacy('lapsed-ca', lapsedLeaf, (digest, ref) => lapsed.signLegacy(lapsedLeaf, digest, ref));
  await legacy('other-entry', good, (digest, ref) => {
    // A genuine Rekor entry by the same certificate, but for another signature (of another payload).
    const other = sigstore.signLegacy(good, digest, `${host}/keyless-sct/elsewhere`, { unlogged: true });
    const body = hashedRekordBody(
      sha256Hex(other.payload),
      other.annotations[ANNOTATION_SIGNATURE] as string,
      good.pem,
    );
    return sigstore.signLegacy(good, digest, ref, { loggedBody: body });
  });

  await bundled('bundle', sigstore.issueLeaf(release));
  await bundled('bundle-no-sct', sigstore.issueLeaf({ ...release, sct: 'none' }));
  await bundled('bundle-bad-proof', sigstore.issueLeaf(release), (entry) => {
    // One sibling hash changed: the path no longer leads to the checkpoint's root.
    const proof = entry.inclusionProof as { hashes: string[] };
    proof.hashes[0] = Buffer.alloc(32, 1).toString('base64');
  });
});

type TlogEntryJSON = { logIndex: string; inclusionProof: Record<string, unknown> };

/** Push an image `keyless-sct/<name>` with a cosign v3 bundle by `leaf` as its referrer (`tamper` edits its tlog entry). */
async function bundled(name: string, leaf: Leaf, tamper?: (entry: TlogEntryJSON) => void): Promise<void> {
  const image = buildImage({ seed: `keyless-sct-${name}` });
  await pushBuilt(host, `keyless-sct/${name}`, image, 'v1');
  const bundle = sigstore.signBundle(leaf, image.digest);
  const entry = (bundle.verificationMaterial as { tlogEntries: TlogEntryJSON[] })
    .tlogEntries[0] as TlogEntryJSON;
  indexOf[name] = Number(entry.logIndex);
  tamper?.(entry);
  const descriptor = { mediaType: image.mediaType, digest: image.digest, size: image.bytes.length };
  await pushBundleReferrers(host, `keyless-sct/${name}`, descriptor, [bundle]);
}

after(async () => {
  await registry?.stop();
});

interface Rule {
  readonly reason: string;
  readonly evidence?: {
    signatures?: {
      authorities: { signature?: { subject?: string; issuer?: string; tlog: { logIndex: string }[] } }[];
    };
  };
}

async function verify(
  name: string,
  policyName = 'strict',
): Promise<{ code: number; rule: Rule; out: string }> {
  const r = await cli([
    'verify',
    `${host}/keyless-sct/${name}:v1`,
    '--policy',
    join(dir, policyName),
    '--insecure-registry',
    host,
    '-o',
    'json',
  ]);
  const out = r.stdout + r.stderr;
  const report = JSON.parse(r.stdout) as { results: { policies: { rules: Rule[] }[] }[] };
  const rule = report.results[0]?.policies[0]?.rules[0];
  assert.ok(rule, out);
  return { code: r.code, rule, out };
}

void describe('keyless with embedded SCTs, through the registry and the CLI', () => {
  for (const name of ['good', 'bundle']) {
    void test(`${name === 'good' ? 'a legacy .sig' : 'a v0.3 DSSE bundle referrer'}: allowed with SCT checked, naming SAN, issuer and tlog index`, async () => {
      const { code, rule, out } = await verify(name);
      assert.equal(code, 0, out);
      const esc = (s: string) => s.replace(/[./]/g, '\\$&');
      assert.match(
        rule.reason,
        new RegExp(
          `^github-release: ${esc(WORKFLOW)} from issuer ${esc(GITHUB_ISSUER)}; tlog index ${indexOf[name]} at `,
        ),
      );
      const signature = rule.evidence?.signatures?.authorities[0]?.signature;
      assert.equal(signature?.subject, WORKFLOW);
      assert.equal(signature?.issuer, GITHUB_ISSUER);
      assert.deepEqual(
        signature?.tlog.map((t) => t.logIndex),
        [String(indexOf[name])],
      );
    });
  }

  void test('an SCT signed by a CT log key not in the trusted root: denied', async () => {
    const { code, rule } = await verify('unknown-ct');
    assert.equal(code, 1);
    assert.match(rule.reason, /^github-release: certificate invalid: SCT verification failed$/);
  });

  void test('an SCT made for another certificate (copied from it): denied', async () => {
    const { code, rule } = await verify('copied-sct');
    assert.equal(code, 1);
    assert.match(rule.reason, /^github-release: certificate invalid: SCT verification failed$/);
  });

  void test('no SCT at all: denied; allowed only with insecureIgnoreSCT: true', async () => {
    const strict = await verify('no-sct');
    assert.equal(strict.code, 1);
    assert.match(strict.rule.reason, /^github-release: certificate invalid: expected 1 SCTs, got 0$/);
    const lax = await verify('no-sct', 'ignore-sct');
    assert.equal(lax.code, 0, lax.out);
    assert.match(lax.rule.reason, /^github-release: https:\/\/github\.com\/acme\/app\/.* from issuer /);
  });

  void test('an SCT stamped before its CT log is valid in the trusted root: denied', async () => {
    const { code, rule } = await verify('good', 'late-ct');
    assert.equal(code, 1);
    assert.match(rule.reason, /^github-release: certificate invalid: SCT verification failed$/);
  });

  void test('insecureIgnoreSCT accepts a missing SCT, never a bad one (stricter than cosign, which skips the check)', async () => {
    for (const name of ['unknown-ct', 'copied-sct']) {
      const { code, rule } = await verify(name, 'ignore-sct');
      assert.equal(code, 1, name);
      assert.match(rule.reason, /^github-release: certificate invalid: SCT verification failed$/, name);
    }
  });

  void test('a certificate from a CA not in the trusted root: denied', async () => {
    const { code, rule } = await verify('foreign-ca');
    assert.equal(code, 1);
    assert.match(
      rule.reason,
      /^github-release: certificate invalid: Failed to verify certificate chain to trust root \S*trusted_root\.json \(no valid certificate path found\)$/,
    );
  });

  void test('a subject pattern that matches only unanchored (a prefix): denied with the identity it got', async () => {
    const { code, rule } = await verify('good', 'prefix');
    assert.equal(code, 1);
    assert.match(
      rule.reason,
      /^github-release: identity mismatch: got https:\/\/github\.com\/acme\/app\/\.github\/workflows\/release\.yml@refs\/tags\/v1\.0\.0 from issuer /,
    );
  });

  void test('an intermediate expired at signing time: denied as expired', async () => {
    const { code, rule } = await verify('lapsed-ca');
    assert.equal(code, 1);
    assert.match(rule.reason, /^github-release: certificate expired at signing time/);
  });

  void test('a Rekor entry for another signature by the same certificate: denied', async () => {
    const { code, rule } = await verify('other-entry');
    assert.equal(code, 1);
    assert.match(
      rule.reason,
      /^github-release: transparency log entry does not match the signature: signature mismatch$/,
    );
  });

  void test('a bundle whose certificate has no SCT: denied too (the bundle path checks CT as well)', async () => {
    const { code, rule } = await verify('bundle-no-sct');
    assert.equal(code, 1);
    assert.match(rule.reason, /^github-release: certificate invalid: expected 1 SCTs, got 0$/);
  });

  void test('a bundle whose inclusion proof does not lead to the signed checkpoint: denied', async () => {
    const { code, rule } = await verify('bundle-bad-proof');
    assert.equal(code, 1);
    assert.match(
      rule.reason,
      /^github-release: transparency log entry invalid: calculated root hash does not match inclusion proof$/,
    );
  });
});

void describe('keyless with SCTs from cosign-style flags', () => {
  const flags = (name: string, identity = WORKFLOW, issuer = GITHUB_ISSUER, ...more: string[]) =>
    cli([
      'verify',
      `${host}/keyless-sct/${name}:v1`,
      '--certificate-identity',
      identity,
      '--certificate-oidc-issuer',
      issuer,
      '--trusted-root',
      join(dir, 'trusted_root.json'),
      '--insecure-registry',
      host,
      ...more,
    ]);

  void test('--certificate-identity with --trusted-root: the legacy and bundle signatures pass, SCTs checked', async () => {
    for (const name of ['good', 'bundle']) {
      const r = await flags(name);
      assert.equal(r.code, 0, r.stdout + r.stderr);
    }
    const none = await flags('no-sct');
    assert.equal(none.code, 1, none.stdout + none.stderr);
    assert.match(none.stdout, /certificate invalid: expected 1 SCTs, got 0/);
    const copied = await flags('copied-sct');
    assert.equal(copied.code, 1, copied.stdout + copied.stderr);
    assert.match(copied.stdout, /certificate invalid: SCT verification failed/);
  });

  void test('an email SAN from another OIDC issuer (both written as Fulcio does, .1.1 and .1.8)', async () => {
    const ok = await flags('email', 'release@acme.test', 'https://accounts.acme.test', '-o', 'json');
    assert.equal(ok.code, 0, ok.stdout + ok.stderr);
    assert.match(ok.stdout, /release@acme\.test from issuer https:\/\/accounts\.acme\.test; tlog index \d+/);
    const other = await flags('email', 'release@acme.test', GITHUB_ISSUER);
    assert.equal(other.code, 1, other.stdout + other.stderr);
    assert.match(
      other.stdout,
      /identity mismatch: got release@acme\.test from issuer https:\/\/accounts\.acme\.test/,
    );
  });
});

void describe('the in-process Sigstore instance', () => {
  void test('inclusion proofs verify at every index of trees of 1 to 12 entries, against a fresh checkpoint', () => {
    const s = createSigstoreInstance({ name: 'merkle.portcullis.test' });
    const authority = compileAuthority({
      kind: 'keyless',
      name: 'ci',
      identities: [{ issuer: { exact: GITHUB_ISSUER }, subject: { exact: WORKFLOW } }],
      trustRoot: loadTrustedRoot(s.trustedRoot(), { name: 'instance' }),
    }) as SigningAuthority;
    const digest = `sha256:${'ab'.repeat(32)}`;
    const artifact = {
      kind: 'digest' as const,
      algorithm: 'sha256' as const,
      digest: Buffer.from('ab'.repeat(32), 'hex'),
    };
    const bundles: Record<string, unknown>[] = [];
    for (let size = 1; size <= 12; size++) {
      bundles.push(s.signBundle(s.issueLeaf(release), digest));
      assert.equal(s.rekor.size, size);
      bundles.forEach((bundle, i) => {
        const json = structuredClone(bundle) as {
          verificationMaterial: { tlogEntries: Record<string, unknown>[] };
        };
        (json.verificationMaterial.tlogEntries[0] as Record<string, unknown>).inclusionProof =
          s.rekor.proof(i);
        const verified = verifyBundle(parseBundle(json), {
          artifact,
          authority,
          predicateType: COSIGN_SIGN_PREDICATE,
        });
        assert.deepEqual(
          verified.tlog.map((t) => t.logIndex),
          [String(i)],
          `index ${i} of ${size}`,
        );
      });
    }
  });
});
