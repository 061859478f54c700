/**
 * Keyless end to end through the registry, without Sigstore's servers: a private Fulcio-like CA and an
 * in-process Rekor (test/sigstore's x509 and support helpers), a trusted_root.json naming both written
 * beside the policy, a legacy `.sig` with certificate and Rekor SET annotations pushed to the local
 * registry, and the policy's keyless authority deciding.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { sign } from 'node:crypto';
import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Decision } from '../../src/engine/decision.ts';
import type { PolicySet } from '../../src/policy/model.ts';
import { loadPolicyPaths } from '../../src/policy/load.ts';
import { ANNOTATION_BUNDLE, ANNOTATION_CERTIFICATE, ANNOTATION_SIGNATURE } from '../../src/sigstore/index.ts';
import { buildImage, pushBuilt, pushImage, sha256 } from '../harness/images.ts';
import { startRegistry } from '../harness/registry.ts';
import {
  hashedRekordBody,
  logEntry,
  makeLog,
  rekorAnnotation,
  sha256Hex,
  simpleSigningPayload,
  trustRootJSON,
} from '../sigstore/support.ts';
import { issue, toPem, type Issued } from '../sigstore/x509.ts';
import { decider, sigTag } from './support.ts';

const GHA = 'https://token.actions.githubusercontent.com';
const WORKFLOW = 'https://github.com/acme/app/.github/workflows/release.yml@refs/tags/v1.0.0';
const T0 = Math.floor(Date.now() / 1000) - 3600;
const at = (s: number) => new Date((T0 + s) * 1000);

let registry: Awaited<ReturnType<typeof startRegistry>>;
let host: string;
let dir: string;
const log = makeLog('rekor.portcullis.test');
const root = issue({ subject: 'Test Root', notBefore: at(-86400), notAfter: at(86400 * 365), ca: true });
const intermediate = issue({
  subject: 'Test Intermediate',
  issuer: root,
  notBefore: at(-86400),
  notAfter: at(86400 * 365),
  ca: true,
});
const leaf = (sans = [{ uri: WORKFLOW }], repository = 'https://github.com/acme/app'): Issued =>
  issue({
    issuer: intermediate,
    notBefore: at(-60),
    notAfter: at(540),
    sans,
    extensions: {
      '1.3.6.1.4.1.57264.1.8': GHA,
      '1.3.6.1.4.1.57264.1.12': repository,
      '1.3.6.1.4.1.57264.1.14': 'refs/tags/v1.0.0',
    },
  });

const images = {
  good: buildImage({ seed: 'keyless-good' }),
  impostor: buildImage({ seed: 'keyless-impostor' }),
  unlogged: buildImage({ seed: 'keyless-unlogged' }),
  fork: buildImage({ seed: 'keyless-fork' }),
};

/** A cosign keyless `.sig` for `digest`: signature by the leaf key, certificate, and a Rekor SET (unless `logged: false`). */
async function pushKeylessSignature(
  repo: string,
  digest: string,
  cert: Issued,
  logged = true,
): Promise<void> {
  const payload = simpleSigningPayload(digest, `${host}/${repo}`);
  const signature = sign('sha256', payload, cert.privateKey).toString('base64');
  const annotations: Record<string, string> = {
    [ANNOTATION_SIGNATURE]: signature,
    [ANNOTATION_CERTIFICATE]: toPem(cert.der),
  };
  if (logged) {
    const body = hashedRekordBody(sha256Hex(payload), signature, toPem(cert.der));
    annotations[ANNOTATION_BUNDLE] = rekorAnnotation(logEntry(log, body, T0, 7));
  }
  const config = Buffer.from('{}');
  const manifest = Buffer.from(
    JSON.stringify({
      schemaVersion: 2,
      mediaType: 'application/vnd.oci.image.manifest.v1+json',
      config: {
        mediaType: 'application/vnd.oci.image.config.v1+json',
        digest: sha256(config),
        size: config.length,
      },
      layers: [
        {
          mediaType: 'application/vnd.dev.cosign.simplesigning.v1+json',
          digest: sha256(payload),
          size: payload.length,
          annotations,
        },
      ],
    }),
  );
  await pushImage(host, repo, sigTag(digest), {
    manifest: { bytes: manifest, mediaType: 'application/vnd.oci.image.manifest.v1+json' },
    blobs: [config, payload],
  });
}

before(async () => {
  registry = await startRegistry();
  host = registry.host;
  for (const [name, image] of Object.entries(images)) await pushBuilt(host, `keyless/${name}`, image, 'v1');
  await pushKeylessSignature('keyless/good', images.good.digest, leaf());
  await pushKeylessSignature(
    'keyless/impostor',
    images.impostor.digest,
    leaf([{ uri: 'https://github.com/evil/app/.github/workflows/release.yml@refs/tags/v1.0.0' }]),
  );
  await pushKeylessSignature('keyless/unlogged', images.unlogged.digest, leaf(), false);
  await pushKeylessSignature(
    'keyless/fork',
    images.fork.digest,
    leaf(undefined, 'https://github.com/fork/app'),
  );

  dir = await mkdtemp(join(tmpdir(), 'portcullis-keyless-'));
  const trust = trustRootJSON([log]);
  trust.certificateAuthorities = [
    {
      subject: { organization: 'portcullis.test', commonName: 'Test Intermediate' },
      uri: 'https://fulcio.portcullis.test',
      certChain: {
        certificates: [
          { rawBytes: intermediate.der.toString('base64') },
          { rawBytes: root.der.toString('base64') },
        ],
      },
      validFor: { start: '2020-01-01T00:00:00Z' },
    },
  ];
  await writeFile(join(dir, 'trusted_root.json'), JSON.stringify(trust));
  await writeFile(
    join(dir, 'policy.yaml'),
    `apiVersion: portcullis.dev/v1alpha1
kind: ImagePolicy
metadata: {name: keyless}
spec:
  images: [{glob: "**"}]
  rules:
    - name: released
      signatures:
        authorities:
          - name: github-release
            trustRoot: trusted_root.json
            keyless:
              insecureIgnoreSCT: true
              identities:
                - issuer: ${GHA}
                  subjectRegExp: 'https://github\\.com/acme/[^/]+/\\.github/workflows/release\\.yml@refs/tags/v.*'
              extensions:
                - {oid: sourceRepositoryURI, value: "https://github.com/acme/app"}
`,
  );
});

after(async () => {
  await registry?.stop();
});

async function decide(image: string): Promise<Decision> {
  const result = await loadPolicyPaths([join(dir, 'policy.yaml')]);
  assert.ok(result.ok, JSON.stringify(result));
  const d = decider(result.policySet as PolicySet, [host]);
  try {
    return await d.decider.decide(image);
  } finally {
    await d.close();
  }
}

const reasonOf = (d: Decision): string => d.policies[0]?.rules[0]?.reason ?? JSON.stringify(d);

void describe('keyless through the registry, with a private trust root', () => {
  void test('the release workflow identity is allowed, naming SAN, issuer and the log entry', async () => {
    const d = await decide(`${host}/keyless/good:v1`);
    assert.equal(d.outcome, 'allow', JSON.stringify(d, null, 1));
    assert.match(
      reasonOf(d),
      new RegExp(
        `^github-release: ${WORKFLOW.replace(/[./]/g, '\\$&')} from issuer ${GHA.replace(/[./]/g, '\\$&')}; tlog index 7 at ${at(0).toISOString().replace(/\./g, '\\.')}`,
      ),
    );
    const signature = d.policies[0]?.rules[0]?.evidence?.signatures?.authorities[0]?.signature;
    assert.equal(signature?.subject, WORKFLOW);
    assert.equal(signature?.issuer, GHA);
    assert.deepEqual(
      signature?.tlog.map((t) => [t.logIndex, t.integratedTime]),
      [['7', at(0).toISOString()]],
    );
  });

  void test('another identity: denied with the identity it got', async () => {
    const d = await decide(`${host}/keyless/impostor:v1`);
    assert.equal(d.outcome, 'deny');
    assert.match(
      reasonOf(d),
      /^github-release: identity mismatch: got https:\/\/github\.com\/evil\/app\/.* from issuer https:\/\/token\.actions\.githubusercontent\.com/,
    );
  });

  void test('no Rekor entry: denied, not in transparency log', async () => {
    const d = await decide(`${host}/keyless/unlogged:v1`);
    assert.equal(d.outcome, 'deny');
    assert.match(reasonOf(d), /^github-release: .*not in transparency log/);
  });

  void test('an extension constraint that does not match (a fork) is denied', async () => {
    const d = await decide(`${host}/keyless/fork:v1`);
    assert.equal(d.outcome, 'deny');
    assert.match(reasonOf(d), /^github-release: .*1\.3\.6\.1\.4\.1\.57264\.1\.12/);
  });
});
