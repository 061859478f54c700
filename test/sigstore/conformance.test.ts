/**
 * `verify-bundle` (sigstore-conformance client protocol) over the fixture bundles.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { join } from 'node:path';
import { verifyBundleCommand } from '../../src/sigstore/index.ts';
import { GO, PY, readText, SIGSTORE } from './support.ts';

const STAGING = join(SIGSTORE, 'staging/trusted_root.json');
const WHL = `sha256:${readText(join(PY, 'bundle_v3_github.whl.sha256-REMOVED.txt')).slice(0, 64)}`;
const WHL_SUBJECT =
  'https://github.com/trailofbits/rfc8785.py/.github/workflows/release.yml@refs/tags/v0.1.2';
const GHA = 'https://token.actions.githubusercontent.com';

void describe('verify-bundle', () => {
  void it('identity mode, artifact digest, default public-good root', async () => {
    const r = await verifyBundleCommand({
      bundle: join(PY, 'bundle_v3_github.whl.sigstore'),
      certificateIdentity: WHL_SUBJECT,
      certificateOidcIssuer: GHA,
      artifact: WHL,
    });
    assert.deepEqual(r, {
      ok: true,
      summary: `verified: ${WHL_SUBJECT} from issuer ${GHA}; tlog index 79605083 at 2024-03-19T22:41:16.000Z`,
    });
  });

  void it('identity mode, artifact file, custom trusted root', async () => {
    const r = await verifyBundleCommand({
      bundle: join(PY, 'bundle.txt.sigstore'),
      certificateIdentity: 'a@tny.town',
      certificateOidcIssuer: 'https://github.com/login/oauth',
      trustedRoot: STAGING,
      artifact: join(PY, 'bundle.txt'),
    });
    assert.equal(r.ok, true);
  });

  void it('key mode: an npm publish attestation (sha512 subject) verifies with its key', async () => {
    const r = await verifyBundleCommand({
      bundle: join(GO, 'examples/bundle-publish.json'),
      key: join(GO, 'examples/publish_key.pub'),
      trustedRoot: join(GO, 'examples/trusted-root-public-good.json'),
      artifact:
        'sha512:76176ffa33808b54602c7c35de5c6e9a4deb96066dba6533f50ac234f4f1f4c6b3527515dc17c06fbe2860030f410eee69ea20079bd3a2c6f3dcf3b329b10751',
    });
    assert.deepEqual(r, {
      ok: true,
      summary:
        'verified: key sha256:1e908a55459fe6ddac1ccbc137ea8631ee837032fec2a2ccc528b38d81f17108; tlog index 18300940 at 2023-04-18T17:45:16.000Z',
    });
  });

  void it('failures come back as one-line reasons', async () => {
    const cases: [Parameters<typeof verifyBundleCommand>[0], RegExp][] = [
      [
        {
          bundle: join(PY, 'bundle_v3_github.whl.sigstore'),
          certificateIdentity: 'https://github.com/trailofbits/rfc8785.py',
          certificateOidcIssuer: GHA,
          artifact: WHL,
        },
        /^identity mismatch: got https:\/\/github\.com\/trailofbits\/rfc8785\.py\/\.github/,
      ],
      [
        {
          bundle: join(PY, 'bundle_v3_github.whl.sigstore'),
          certificateIdentity: WHL_SUBJECT,
          certificateOidcIssuer: GHA,
          artifact: `sha256:${'0'.repeat(64)}`,
        },
        /^signature is for sha256:c4e92e9e/,
      ],
      [
        {
          bundle: join(PY, 'bundle_cve_2022_36056.txt.sigstore'),
          certificateIdentity: 'william@yossarian.net',
          certificateOidcIssuer: 'https://github.com/login/oauth',
          trustedRoot: STAGING,
          artifact: join(PY, 'bundle_cve_2022_36056.txt'),
        },
        /^transparency log entry 1 was made with a different key/,
      ],
      [
        {
          bundle: join(PY, 'bundle.txt.sigstore'),
          certificateIdentity: 'a@tny.town',
          certificateOidcIssuer: 'https://github.com/login/oauth',
          artifact: join(PY, 'bundle.txt'),
        },
        /^certificate invalid: /,
      ],
      [
        {
          bundle: join(GO, 'pkg/testing/data/bundles/public-key-validity.sigstore.json'),
          key: join(GO, 'pkg/testing/data/public-keys/public-key-validity.pem'),
          trustedRoot: join(GO, 'pkg/testing/data/trusted-roots/public-key-validity.json'),
          artifact: 'sha256:6ae8a75555209fd6c44157c0aed8016e763ff435a19cf186f76863140143ff72',
        },
        /^not in transparency log$/,
      ],
      [
        {
          bundle: join(PY, 'bundle_invalid_version.txt.sigstore'),
          certificateIdentity: 'a',
          certificateOidcIssuer: 'b',
          artifact: WHL,
        },
        /^unsupported bundle mediaType/,
      ],
      [
        {
          bundle: '/nonexistent.sigstore.json',
          certificateIdentity: 'a',
          certificateOidcIssuer: 'b',
          artifact: WHL,
        },
        /^cannot read bundle \/nonexistent\.sigstore\.json/,
      ],
      [
        {
          bundle: join(PY, 'bundle.txt.sigstore'),
          certificateIdentity: 'a',
          certificateOidcIssuer: 'b',
          trustedRoot: join(PY, 'trusted_root/trustedroot.badtype.json'),
          artifact: WHL,
        },
        /^invalid trusted root .*unsupported mediaType "bad-media-type"/,
      ],
      [
        {
          bundle: join(PY, 'bundle.txt.sigstore'),
          certificateIdentity: 'a',
          certificateOidcIssuer: 'b',
          artifact: 'sha256:xyz',
        },
        /^invalid digest "sha256:xyz"/,
      ],
      [
        {
          bundle: join(PY, 'bundle.txt.sigstore'),
          certificateIdentity: 'a',
          certificateOidcIssuer: 'b',
          key: join(GO, 'examples/publish_key.pub'),
          artifact: WHL,
        },
        /^give either --certificate-identity and --certificate-oidc-issuer, or --key, not both$/,
      ],
      [
        { bundle: join(PY, 'bundle.txt.sigstore'), artifact: WHL },
        /^missing --certificate-identity and --certificate-oidc-issuer, or --key$/,
      ],
      [
        { bundle: join(PY, 'bundle.txt.sigstore'), certificateIdentity: 'a', artifact: WHL },
        /must be given together/,
      ],
    ];
    for (const [args, reason] of cases) {
      const r = await verifyBundleCommand(args);
      assert.equal(r.ok, false, JSON.stringify(args));
      assert.match(r.ok ? '' : r.reason, reason);
      assert.doesNotMatch(r.ok ? '' : r.reason, /\n| {4}at /, 'one line, no stack');
    }
  });
});
