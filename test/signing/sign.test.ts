/**
 * Signing against a real registry (Debian docker-registry on loopback), checked by the verifier in
 * src/sigstore: legacy `.sig` signatures (payload bytes as cosign writes them, appended, not
 * duplicated) and Sigstore bundles as OCI referrers (tag-schema index, since distribution 2.8 has no
 * referrers API). Credentials go to the registry host only.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { execFileSync } from 'node:child_process';
import { generateKeyPairSync } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { createRegistryClient, type RegistryClient } from '../../src/registry/client.ts';
import { createRegistryPusher, type RegistryPusher } from '../../src/registry/push.ts';
import { staticCredentials } from '../../src/registry/credentials.ts';
import { RegistryError } from '../../src/registry/errors.ts';
import { parseReference, withDigest } from '../../src/reference/index.ts';
import {
  compileAuthority,
  evaluateAuthorities,
  loadPublicGoodTrustRoot,
  verifyLegacySignature,
  type SignatureCandidate,
  type SigningAuthority,
} from '../../src/sigstore/index.ts';
import { decryptPrivateKey, signingKeyFrom, type SigningKey } from '../../src/signing/keys.ts';
import {
  cosignDockerReference,
  cosignSignatureConfig,
  simpleSigningPayload,
} from '../../src/signing/payload.ts';
import { signImage, SigningError } from '../../src/signing/sign.ts';
import { startRegistry, type RunningRegistry } from '../harness/registry.ts';
import { buildImage, buildMultiPlatform, pushBuilt, sha256 } from '../harness/images.ts';
import { startFaultProxy, startHeaderRecorder } from '../harness/fault-proxy.ts';
import { fixturePath } from '../harness/fixtures.ts';

const KEYS = fixturePath('skopeo-signed', 'keys');
const passphrase = readFileSync(join(KEYS, 'passphrase.txt'), 'utf8').trim();
const pub = (name: string): string => readFileSync(join(KEYS, `${name}.pub`), 'utf8');
const keyAuthority = (name: string, keyName = name): SigningAuthority =>
  compileAuthority({
    kind: 'key',
    name,
    keys: [pub(keyName)],
    tlog: { required: false },
  }) as SigningAuthority;

let registry: RunningRegistry;
let client: RegistryClient;
let pusher: RegistryPusher;
let k1: SigningKey;
let k2: SigningKey;

before(async () => {
  registry = await startRegistry();
  client = createRegistryClient({ insecureRegistries: [registry.host] });
  pusher = createRegistryPusher({ insecureRegistries: [registry.host] });
  k1 = await decryptPrivateKey(readFileSync(join(KEYS, 'k1.private'), 'utf8'), passphrase);
  k2 = await decryptPrivateKey(readFileSync(join(KEYS, 'k2.private'), 'utf8'), passphrase);
});

after(async () => {
  await client?.close();
  await pusher?.close();
  await registry?.stop();
});

async function pushed(repo: string, seed: string) {
  const image = buildImage({ seed });
  await pushBuilt(registry.host, repo, image, 'v1');
  return { image, ref: withDigest(parseReference(`${registry.host}/${repo}:v1`), image.digest) };
}

/** The `.sig` manifest's layers as verifier candidates, read back through the registry client. */
async function legacyCandidates(repo: string, digest: string, prefix = '') {
  const source = client.repository(registry.host, repo);
  const tag = `${prefix}sha256-${digest.slice('sha256:'.length)}.sig`;
  const found = await source.resolveTag(tag);
  assert.ok(found, `${tag} exists`);
  const manifest = await source.fetchManifest(found.digest);
  assert.equal(manifest.parsed.kind, 'image');
  if (manifest.parsed.kind !== 'image') throw new Error('unreachable');
  const candidates: SignatureCandidate[] = [];
  for (const layer of manifest.parsed.layers) {
    const payload = await source.fetchBlob(layer, { maxBytes: 1 << 20 });
    candidates.push({
      kind: 'legacy',
      source: `${tag} ${layer.digest}`,
      signature: {
        payload,
        annotations: layer.annotations ?? {},
        mediaType: layer.mediaType,
        digest: layer.digest,
      },
    });
  }
  return { manifest, candidates };
}

test('payload bytes are the ones cosign writes (dangerzone public-good signature, cosign-style fixture)', () => {
  const dangerzone = readFileSync(fixturePath('cosign-dangerzone', 'simplesigning-payload.json'));
  assert.deepEqual(
    Buffer.from(
      simpleSigningPayload(
        'ghcr.io/freedomofpress/dangerzone/v1',
        'sha256:7396780b5862cf8b37527854a2a2331e5c746b6a71aa1f424258c3bfaf3a1bd7',
      ),
    ),
    dangerzone,
  );
  const style = readFileSync(
    fixturePath(
      'skopeo-signed',
      'registry-dump',
      'test',
      'cosignstyle',
      'blobs',
      'sha256-9a580d43f47876bc52acb5bb311cfd5496b378a9c899f83fb98a95463173ad8c',
    ),
  );
  const ref = parseReference('127.0.0.1:5055/test/cosignstyle:v1');
  assert.deepEqual(
    Buffer.from(
      simpleSigningPayload(
        cosignDockerReference(ref),
        'sha256:a26b9f2187e829cdbda806d6729e554ec8534d6d856a10b33667191ab33a28c9',
      ),
    ),
    style,
  );
  assert.equal(cosignDockerReference(parseReference('busybox')), 'index.docker.io/library/busybox');
});

test("the .sig config blob is byte-identical to cosign's (dangerzone: 233 bytes, a3b01184…)", () => {
  const manifest = JSON.parse(
    readFileSync(
      fixturePath(
        'cosign-dangerzone',
        'sha256-7396780b5862cf8b37527854a2a2331e5c746b6a71aa1f424258c3bfaf3a1bd7.sig.manifest.json',
      ),
      'utf8',
    ),
  ) as {
    config: { digest: string; size: number };
    layers: Array<{ digest: string }>;
  };
  const config = cosignSignatureConfig(manifest.layers.map((l) => l.digest));
  assert.equal(config.length, manifest.config.size);
  assert.equal(sha256(config), manifest.config.digest);
});

test("legacy: a signature by k1 verifies with k1 only, and has cosign's manifest shape", async () => {
  const { image, ref } = await pushed('acme/legacy', 'sign-legacy');
  const result = await signImage(client, pusher, k1, ref);
  const tag = `sha256-${image.digest.slice(7)}.sig`;
  assert.equal(result.written, `${registry.host}/acme/legacy:${tag}`);
  assert.equal(result.layers, 1);
  assert.equal(result.imageDigest, image.digest);

  const { manifest, candidates } = await legacyCandidates('acme/legacy', image.digest);
  assert.equal(manifest.descriptor.digest, result.manifestDigest);
  const json = manifest.json as Record<string, unknown>;
  assert.deepEqual(Object.keys(json), ['schemaVersion', 'mediaType', 'config', 'layers']);
  assert.equal(json.mediaType, 'application/vnd.oci.image.manifest.v1+json');
  const config = json.config as { mediaType: string };
  assert.equal(config.mediaType, 'application/vnd.oci.image.config.v1+json');
  const [layer] = json.layers as Array<{ mediaType: string; annotations: Record<string, string> }>;
  assert.equal(layer?.mediaType, 'application/vnd.dev.cosign.simplesigning.v1+json');
  assert.deepEqual(Object.keys(layer?.annotations ?? {}), ['dev.cosignproject.cosign/signature']);

  const candidate = candidates[0];
  assert.ok(candidate?.kind === 'legacy');
  assert.equal(
    Buffer.from(candidate.signature.payload).toString('utf8'),
    `{"critical":{"identity":{"docker-reference":"${registry.host}/acme/legacy"},"image":{"docker-manifest-digest":"${image.digest}"},"type":"cosign container image signature"},"optional":null}`,
  );
  const verified = verifyLegacySignature(candidate.signature, image.digest, keyAuthority('k1'));
  assert.match(verified.summary, /^key sha256:[0-9a-f]{64}/);
  assert.throws(
    () => verifyLegacySignature(candidate.signature, image.digest, keyAuthority('k2')),
    /signature/i,
  );
  const other = buildImage({ seed: 'sign-legacy-other' });
  assert.throws(
    () => verifyLegacySignature(candidate.signature, other.digest, keyAuthority('k1')),
    /not for the image/,
  );
});

test('legacy: a second signature (k2) is appended; both verify, 2 of 2', async () => {
  const { image, ref } = await pushed('acme/two', 'sign-two');
  await signImage(client, pusher, k1, ref);
  const second = await signImage(client, pusher, k2, ref);
  assert.equal(second.layers, 2);
  const { candidates } = await legacyCandidates('acme/two', image.digest);
  assert.equal(candidates.length, 2);
  const decision = evaluateAuthorities({
    authorities: [keyAuthority('k1'), keyAuthority('k2')],
    threshold: 2,
    candidates,
    imageDigest: image.digest,
  });
  assert.equal(decision.satisfied, true, decision.reason);
  assert.match(decision.reason, /^threshold 2 of 2 met \(2\)/);

  // Appending keeps the earlier layer byte for byte and the config lists both, cosign-style.
  const source = client.repository(registry.host, 'acme/two');
  const found = await source.resolveTag(`sha256-${image.digest.slice(7)}.sig`);
  const manifest = await source.fetchManifest(found?.digest ?? '');
  if (manifest.parsed.kind !== 'image') throw new Error('not an image manifest');
  const config = await source.fetchBlob(manifest.parsed.config, { maxBytes: 4096 });
  assert.deepEqual(
    Buffer.from(config),
    Buffer.from(cosignSignatureConfig(manifest.parsed.layers.map((l) => l.digest))),
  );
});

test('legacy: appending to a skopeo-written .sig keeps its layer (replayed fixture shape)', async () => {
  const { image, ref } = await pushed('acme/mixed', 'sign-mixed');
  // A .sig written by another tool (skopeo's config shape), holding one k2 signature made by us.
  const payload = simpleSigningPayload(`${registry.host}/acme/mixed:v1`, image.digest);
  const { signBytes } = await import('../../src/signing/sign.ts');
  const layer = {
    mediaType: 'application/vnd.dev.cosign.simplesigning.v1+json',
    digest: sha256(payload),
    size: payload.length,
    annotations: { 'dev.cosignproject.cosign/signature': signBytes(k2, payload).toString('base64') },
  };
  const repo = pusher.repository(registry.host, 'acme/mixed');
  await repo.pushBlob(payload, layer.mediaType);
  const config = Buffer.from(
    `{"architecture":"","os":"","config":{},"rootfs":{"type":"layers","diff_ids":["${layer.digest}"]}}`,
  );
  const configDescriptor = await repo.pushBlob(config, 'application/vnd.oci.image.config.v1+json');
  const tag = `sha256-${image.digest.slice(7)}.sig`;
  await repo.pushManifest(
    Buffer.from(
      JSON.stringify({
        schemaVersion: 2,
        mediaType: 'application/vnd.oci.image.manifest.v1+json',
        config: configDescriptor,
        layers: [layer],
      }),
    ),
    'application/vnd.oci.image.manifest.v1+json',
    tag,
  );

  const result = await signImage(client, pusher, k1, ref);
  assert.equal(result.layers, 2);
  const { candidates } = await legacyCandidates('acme/mixed', image.digest);
  const first = candidates[0];
  assert.ok(first?.kind === 'legacy');
  assert.deepEqual(Buffer.from(first.signature.payload), Buffer.from(payload));
  const decision = evaluateAuthorities({
    authorities: [keyAuthority('k1'), keyAuthority('k2')],
    threshold: 2,
    candidates,
    imageDigest: image.digest,
  });
  assert.equal(decision.satisfied, true, decision.reason);
});

test('legacy: signing twice with a deterministic key (Ed25519) adds no duplicate layer', async () => {
  const { image, ref } = await pushed('acme/dedupe', 'sign-dedupe');
  const ed = signingKeyFrom(generateKeyPairSync('ed25519').privateKey);
  const first = await signImage(client, pusher, ed, ref);
  const again = await signImage(client, pusher, ed, ref);
  assert.deepEqual([first.layers, first.unchanged, again.layers, again.unchanged], [1, false, 1, true]);
  assert.equal(again.manifestDigest, first.manifestDigest);
  const { candidates } = await legacyCandidates('acme/dedupe', image.digest);
  const authority = compileAuthority({
    kind: 'key',
    name: 'ed',
    keys: [ed.publicPem],
    tlog: { required: false },
  });
  assert.equal(
    evaluateAuthorities({ authorities: [authority], candidates, imageDigest: image.digest }).satisfied,
    true,
  );
  await assert.rejects(
    signImage(client, pusher, ed, ref, { format: 'bundle', bundleContent: 'message-signature' }),
    /message-signature bundles over a digest need a prehashing key/,
  );
});

test('legacy: tag prefix and another signature repository', async () => {
  const { image, ref } = await pushed('acme/app', 'sign-elsewhere');
  const result = await signImage(client, pusher, k1, ref, {
    tagPrefix: 'team-',
    signatureRepository: { registry: registry.host, repository: 'acme/signatures' },
  });
  assert.equal(result.written, `${registry.host}/acme/signatures:team-sha256-${image.digest.slice(7)}.sig`);
  const { candidates } = await legacyCandidates('acme/signatures', image.digest, 'team-');
  const candidate = candidates[0];
  assert.ok(candidate?.kind === 'legacy');
  // The payload names the image's repository, as cosign does with COSIGN_REPOSITORY.
  assert.match(
    Buffer.from(candidate.signature.payload).toString('utf8'),
    new RegExp(`"docker-reference":"${registry.host}/acme/app"`),
  );
  verifyLegacySignature(candidate.signature, image.digest, keyAuthority('k1'));
  assert.equal(
    await client.repository(registry.host, 'acme/app').resolveTag(`sha256-${image.digest.slice(7)}.sig`),
    undefined,
  );
});

test('legacy: something other than a signature manifest under the .sig tag is not overwritten', async () => {
  const { image, ref } = await pushed('acme/occupied', 'sign-occupied');
  const squatter = buildImage({ seed: 'squatter' });
  await pushBuilt(registry.host, 'acme/occupied', squatter, `sha256-${image.digest.slice(7)}.sig`);
  await assert.rejects(signImage(client, pusher, k1, ref), (e: unknown) => {
    assert.ok(e instanceof SigningError);
    assert.equal(e.code, 'SIGN_CONFLICT');
    assert.match(e.message, /not a cosign signature manifest; refusing to overwrite it/);
    return true;
  });
});

test('signing needs a digest: a tag alone is refused', async () => {
  await assert.rejects(
    signImage(client, pusher, k1, parseReference(`${registry.host}/acme/legacy:v1`)),
    /needs the image digest/,
  );
});

interface BundleJson {
  readonly mediaType: string;
  readonly verificationMaterial: { readonly publicKey: { readonly hint: string } };
  readonly messageSignature: {
    readonly messageDigest: { readonly algorithm: string; readonly digest: string };
  };
}

test('bundle: a v0.3 message-signature bundle as a referrer, listed in the tag-schema index, verifies', async () => {
  const { image, ref } = await pushed('acme/bundle', 'sign-bundle');
  const result = await signImage(client, pusher, k1, ref, {
    format: 'bundle',
    bundleContent: 'message-signature',
    now: () => new Date('2026-11-27T10:00:00.123Z'),
  });
  assert.equal(result.referrersIndex, `${registry.host}/acme/bundle:sha256-${image.digest.slice(7)}`);
  const second = await signImage(client, pusher, k2, ref, {
    format: 'bundle',
    bundleContent: 'message-signature',
  });

  const source = client.repository(registry.host, 'acme/bundle');
  const referrers = await source.referrers(image.digest, {
    artifactType: 'application/vnd.dev.sigstore.bundle.v0.3+json',
  });
  assert.deepEqual(
    referrers.map((r) => r.digest),
    [result.manifestDigest, second.manifestDigest],
  );
  const candidates: SignatureCandidate[] = [];
  for (const r of referrers) {
    const m = await source.fetchManifest(r.digest);
    if (m.parsed.kind !== 'image') throw new Error('not an image manifest');
    assert.equal(m.parsed.artifactType, 'application/vnd.dev.sigstore.bundle.v0.3+json');
    assert.equal(m.parsed.subject?.digest, image.digest);
    assert.equal(m.parsed.config.mediaType, 'application/vnd.oci.empty.v1+json');
    const [layer] = m.parsed.layers;
    assert.ok(layer);
    const bundle = JSON.parse(
      Buffer.from(await source.fetchBlob(layer, { maxBytes: 1 << 20 })).toString('utf8'),
    ) as BundleJson;
    assert.equal(bundle.mediaType, 'application/vnd.dev.sigstore.bundle.v0.3+json');
    assert.equal(bundle.messageSignature.messageDigest.algorithm, 'SHA2_256');
    assert.equal(
      Buffer.from(bundle.messageSignature.messageDigest.digest, 'base64').toString('hex'),
      image.digest.slice(7),
    );
    assert.ok([k1.hint, k2.hint].includes(bundle.verificationMaterial.publicKey.hint));
    candidates.push({ kind: 'bundle', source: r.digest, bundle });
  }
  const first = await source.fetchManifest(result.manifestDigest);
  assert.equal(
    (first.json as { annotations: Record<string, string> }).annotations['org.opencontainers.image.created'],
    '2026-11-27T10:00:00Z',
  );

  const decision = evaluateAuthorities({
    authorities: [keyAuthority('k1'), keyAuthority('k2')],
    threshold: 2,
    candidates,
    imageDigest: image.digest,
  });
  assert.equal(decision.satisfied, true, decision.reason);
  const wrong = evaluateAuthorities({
    authorities: [keyAuthority('gen')],
    candidates,
    imageDigest: image.digest,
  });
  assert.equal(wrong.satisfied, false);
  const other = evaluateAuthorities({
    authorities: [keyAuthority('k1')],
    candidates,
    imageDigest: buildImage({ seed: 'x' }).digest,
  });
  assert.equal(other.satisfied, false);
  assert.match(other.reason, /not for the artifact/);
});

test("bundle (dsse): cosign v3's in-toto statement in a DSSE envelope verifies, Ed25519 included", async () => {
  const { image, ref } = await pushed('acme/dsse', 'sign-dsse');
  const ed = signingKeyFrom(generateKeyPairSync('ed25519').privateKey);
  const first = await signImage(client, pusher, k1, ref, { format: 'bundle', bundleContent: 'dsse' });
  await signImage(client, pusher, ed, ref, { format: 'bundle', bundleContent: 'dsse' });
  const source = client.repository(registry.host, 'acme/dsse');
  const referrers = await source.referrers(image.digest);
  assert.equal(referrers.length, 2);
  assert.equal(
    referrers[0]?.annotations?.['dev.sigstore.bundle.predicateType'],
    'https://sigstore.dev/cosign/sign/v1',
  );
  assert.equal(referrers[0]?.annotations?.['dev.sigstore.bundle.content'], 'dsse-envelope');
  const candidates: SignatureCandidate[] = [];
  for (const r of referrers) {
    const m = await source.fetchManifest(r.digest);
    if (m.parsed.kind !== 'image' || !m.parsed.layers[0]) throw new Error('not a bundle manifest');
    const bundle = JSON.parse(
      Buffer.from(await source.fetchBlob(m.parsed.layers[0], { maxBytes: 1 << 20 })).toString('utf8'),
    ) as { dsseEnvelope: { payload: string; payloadType: string } };
    assert.equal(bundle.dsseEnvelope.payloadType, 'application/vnd.in-toto+json');
    assert.equal(
      Buffer.from(bundle.dsseEnvelope.payload, 'base64').toString('utf8'),
      `{"_type":"https://in-toto.io/Statement/v1","subject":[{"digest":{"sha256":"${image.digest.slice(7)}"}}],"predicateType":"https://sigstore.dev/cosign/sign/v1","predicate":{}}`,
    );
    candidates.push({ kind: 'bundle', source: r.digest, bundle });
  }
  assert.equal(first.manifestDigest, referrers[0]?.digest);
  const edAuthority = compileAuthority({
    kind: 'key',
    name: 'ed',
    keys: [ed.publicPem],
    tlog: { required: false },
  });
  const both = evaluateAuthorities({
    authorities: [keyAuthority('k1'), edAuthority],
    threshold: 2,
    candidates,
    imageDigest: image.digest,
  });
  assert.equal(both.satisfied, true, both.reason);
  const attestation = evaluateAuthorities({
    authorities: [keyAuthority('k1')],
    candidates,
    imageDigest: image.digest,
    predicateType: 'https://slsa.dev/provenance/v1',
  });
  assert.equal(attestation.satisfied, false, 'an image signature is not an attestation of another type');
});

test('bundle signatures need a tlog-optional authority (no transparency log here)', async () => {
  const { image, ref } = await pushed('acme/notlog', 'sign-notlog');
  await signImage(client, pusher, k1, ref, { format: 'bundle' });
  const source = client.repository(registry.host, 'acme/notlog');
  const [r] = await source.referrers(image.digest);
  assert.ok(r);
  const m = await source.fetchManifest(r.digest);
  if (m.parsed.kind !== 'image') throw new Error('not an image manifest');
  const bundle = Buffer.from(
    await source.fetchBlob(m.parsed.layers[0] ?? m.parsed.config, { maxBytes: 1 << 20 }),
  );
  const strict = compileAuthority({
    kind: 'key',
    name: 'k1',
    keys: [pub('k1')],
    tlog: { required: true },
    trustRoot: loadPublicGoodTrustRoot(),
  });
  const decision = evaluateAuthorities({
    authorities: [strict],
    candidates: [{ kind: 'bundle', source: 'x', bundle }],
    imageDigest: image.digest,
  });
  assert.equal(decision.satisfied, false);
  assert.match(decision.reason, /transparency log/);
});

test('skopeo still reads a signed image and its .sig manifest', async () => {
  const { image, ref } = await pushed('acme/skopeo', 'sign-skopeo');
  await signImage(client, pusher, k1, ref);
  const raw = execFileSync('skopeo', [
    'inspect',
    '--raw',
    '--tls-verify=false',
    `docker://${registry.host}/acme/skopeo:v1`,
  ]);
  assert.equal(sha256(raw), image.digest);
  const sig = execFileSync(
    'skopeo',
    [
      'inspect',
      '--raw',
      '--tls-verify=false',
      `docker://${registry.host}/acme/skopeo:sha256-${image.digest.slice(7)}.sig`,
    ],
    { encoding: 'utf8' },
  );
  assert.equal((JSON.parse(sig) as { layers: unknown[] }).layers.length, 1);
  const inspect = JSON.parse(
    execFileSync('skopeo', ['inspect', '--tls-verify=false', `docker://${registry.host}/acme/skopeo:v1`], {
      encoding: 'utf8',
    }),
  ) as { Digest: string };
  assert.equal(inspect.Digest, image.digest);
});

test('pushes to a Basic-auth registry send credentials to that host only', async () => {
  const auth = { username: 'signer', password: 'pw-123' };
  const secured = await startRegistry({ auth });
  const proxy = await startFaultProxy(secured.url);
  const recorder = await startHeaderRecorder({ respond: () => ({ status: 201 }) });
  const credentials = staticCredentials({ [proxy.host]: { kind: 'basic', ...auth } });
  const authed = createRegistryPusher({ insecureRegistries: [proxy.host, recorder.host], credentials });
  const reader = createRegistryClient({ insecureRegistries: [proxy.host], credentials });
  const anonymous = createRegistryPusher({ insecureRegistries: [proxy.host] });
  try {
    const image = buildImage({ seed: 'sign-auth' });
    await pushBuilt(proxy.host, 'acme/private', image, 'v1', { auth });
    const ref = withDigest(parseReference(`${proxy.host}/acme/private:v1`), image.digest);
    const result = await signImage(reader, authed, k1, ref);
    assert.equal(result.layers, 1);
    const writes = proxy.requests.filter((r) => r.method === 'PUT' || r.method === 'POST');
    assert.ok(writes.length >= 3);
    for (const w of writes) assert.match(String(w.headers.authorization), /^Basic /);

    await assert.rejects(
      signImage(reader, anonymous, k2, ref),
      (e: unknown) => e instanceof RegistryError && e.code === 'UNAUTHORIZED',
    );

    // An upload Location on another host gets the bytes but never the credentials.
    proxy.setFaults([
      {
        method: 'POST',
        path: /^\/v2\/acme\/private\/blobs\/uploads\/$/,
        fault: 'custom',
        handle: async (_req, _res, context) => {
          const upstream = await context.forward();
          context.send({
            ...upstream,
            headers: { ...upstream.headers, location: `${recorder.url}/upload/elsewhere` },
          });
        },
      },
    ]);
    await authed
      .repository(proxy.host, 'acme/private')
      .pushBlob(Buffer.from('a blob for elsewhere'), 'application/octet-stream');
    assert.equal(recorder.requests.length, 1);
    assert.equal(recorder.requests[0]?.method, 'PUT');
    assert.equal(recorder.requests[0]?.headers.authorization, undefined);
  } finally {
    await authed.close();
    await anonymous.close();
    await reader.close();
    await recorder.stop();
    await proxy.stop();
    await secured.stop();
  }
});

test('a registry that stores our bytes under another digest is an error', async () => {
  const proxy = await startFaultProxy(registry.url);
  const lying = createRegistryPusher({ insecureRegistries: [proxy.host] });
  const reader = createRegistryClient({ insecureRegistries: [proxy.host] });
  try {
    proxy.setFaults([
      {
        method: 'PUT',
        path: /\/manifests\//,
        fault: 'header',
        headers: { 'docker-content-digest': `sha256:${'0'.repeat(64)}` },
      },
    ]);
    const { ref } = await pushed('acme/lying', 'sign-lying');
    await assert.rejects(signImage(reader, lying, k1, { ...ref, registry: proxy.host }), (e: unknown) => {
      assert.ok(e instanceof RegistryError);
      assert.equal(e.code, 'DIGEST_MISMATCH');
      assert.match(e.message, /registry stored the manifest as sha256:0{64}, we pushed sha256:/);
      return true;
    });
  } finally {
    await reader.close();
    await lying.close();
    await proxy.stop();
  }
});

test("token auth: the push asks for pull,push on the repository, with the host's credentials only", async () => {
  const token = await startRegistry({ token: { users: { ci: 'ci-pw' } } });
  const credentials = staticCredentials({
    [token.host]: { kind: 'basic', username: 'ci', password: 'ci-pw' },
  });
  const insecureRegistries = [token.host, new URL(token.token?.realm ?? token.url).host];
  const reader = createRegistryClient({ insecureRegistries, credentials });
  const writer = createRegistryPusher({ insecureRegistries, credentials });
  try {
    const image = buildImage({ seed: 'sign-token' });
    await pushBuilt(token.host, 'acme/tokened', image, 'v1', { auth: { username: 'ci', password: 'ci-pw' } });
    const before = token.token?.requests.length ?? 0;
    const ref = withDigest(parseReference(`${token.host}/acme/tokened:v1`), image.digest);
    await signImage(reader, writer, k1, ref);
    const requests = token.token?.requests.slice(before) ?? [];
    assert.ok(
      requests.some((r) => r.scopes.includes('repository:acme/tokened:pull,push') && r.account === 'ci'),
    );
    assert.ok(
      requests.every((r) => r.account === 'ci'),
      'every token request carried the credentials for this host',
    );
    const { candidates } = await (async () => {
      const source = reader.repository(token.host, 'acme/tokened');
      const found = await source.resolveTag(`sha256-${image.digest.slice(7)}.sig`);
      const m = await source.fetchManifest(found?.digest ?? '');
      if (m.parsed.kind !== 'image' || !m.parsed.layers[0]) throw new Error('no signature layer');
      const layer = m.parsed.layers[0];
      const payload = await source.fetchBlob(layer, { maxBytes: 1 << 20 });
      const candidate: SignatureCandidate = {
        kind: 'legacy',
        source: layer.digest,
        signature: { payload, annotations: layer.annotations ?? {}, mediaType: layer.mediaType },
      };
      return { candidates: [candidate] };
    })();
    assert.equal(
      evaluateAuthorities({ authorities: [keyAuthority('k1')], candidates, imageDigest: image.digest })
        .satisfied,
      true,
    );
  } finally {
    await reader.close();
    await writer.close();
    await token.stop();
  }
});

test('bounds: a .sig already at the layer limit is not extended; an oversized manifest is not pushed', async () => {
  const { ref } = await pushed('acme/full', 'sign-full');
  const small = createRegistryClient({ insecureRegistries: [registry.host], limits: { signatureLayers: 1 } });
  try {
    await signImage(small, pusher, k1, ref);
    await assert.rejects(signImage(small, pusher, k2, ref), (e: unknown) => {
      assert.ok(e instanceof SigningError);
      assert.match(e.message, /already holds 1 signatures; more than 1 would not be read by verifiers$/);
      return true;
    });
  } finally {
    await small.close();
  }
  const tiny = createRegistryPusher({ insecureRegistries: [registry.host], limits: { manifestBytes: 1024 } });
  try {
    await assert.rejects(
      tiny
        .repository(registry.host, 'acme/full')
        .pushManifest(Buffer.alloc(2048, 0x20), 'application/vnd.oci.image.manifest.v1+json', 'big'),
      /manifest of 2048 bytes is more than the limit of 1024/,
    );
  } finally {
    await tiny.close();
  }
});

test('a transient 503 on the manifest PUT is retried; a multi-platform index is signed at its own digest', async () => {
  const proxy = await startFaultProxy(registry.url);
  const reader = createRegistryClient({ insecureRegistries: [proxy.host] });
  const writer = createRegistryPusher({
    insecureRegistries: [proxy.host],
    timeouts: { backoffBaseMs: 1, backoffMaxMs: 5 },
  });
  try {
    const index = buildMultiPlatform('sign-index');
    await pushBuilt(proxy.host, 'acme/multi', index, 'v1');
    proxy.setFaults([
      { method: 'PUT', path: /\/manifests\/sha256-/, fault: 'status', status: 503, count: 1 },
    ]);
    const ref = withDigest(parseReference(`${proxy.host}/acme/multi:v1`), index.digest);
    const result = await signImage(reader, writer, k1, ref);
    assert.equal(result.layers, 1);
    assert.equal(
      proxy.requests.filter((r) => r.method === 'PUT' && r.path.includes('/manifests/sha256-')).length,
      2,
    );
    const bundle = await signImage(reader, writer, k2, ref, { format: 'bundle' });
    const referrers = await reader.repository(proxy.host, 'acme/multi').referrers(index.digest);
    assert.deepEqual(
      referrers.map((r) => r.digest),
      [bundle.manifestDigest],
    );
    const m = await reader.repository(proxy.host, 'acme/multi').fetchManifest(bundle.manifestDigest);
    assert.equal(m.parsed.subject?.mediaType, 'application/vnd.oci.image.index.v1+json');
  } finally {
    await reader.close();
    await writer.close();
    await proxy.stop();
  }
});
