/**
 * The example conditions docs/cel.md promises, over realistic input: the SLSA statements and the OCI
 * image in ../shared/fixtures (read at test time), and hand-written predicates shaped like cosign's
 * vulnerability scan record (generic and Trivy-style results) and a distroless-style image config.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fixturePath } from '../harness/fixtures.ts';
import {
  ATTESTATION_VARIABLES,
  IMAGE_VARIABLES,
  compileCondition,
  evaluateCondition,
  type EvaluateResult,
} from '../../src/cel/index.ts';

const NOW = new Date('2026-11-27T12:00:00Z');

function check(
  expression: string,
  bindings: Record<string, unknown>,
  kind: 'attestation' | 'image',
): EvaluateResult {
  const variables = kind === 'attestation' ? ATTESTATION_VARIABLES : IMAGE_VARIABLES;
  const compiled = compileCondition(expression, { variables });
  if (!compiled.ok) assert.fail(`${expression}: ${JSON.stringify(compiled.errors)}`);
  return evaluateCondition(compiled.program, bindings, { now: NOW, deadlineMs: 60_000 });
}

function holds(
  expression: string,
  bindings: Record<string, unknown>,
  kind: 'attestation' | 'image',
): boolean {
  const result = check(expression, bindings, kind);
  if (!result.ok) assert.fail(result.error);
  return result.value;
}

const readJson = (path: string): Record<string, unknown> =>
  JSON.parse(readFileSync(path, 'utf8')) as Record<string, unknown>;

function statementBindings(statement: Record<string, unknown>): Record<string, unknown> {
  return {
    statement,
    predicate: statement.predicate,
    signer: {
      issuer: 'https://token.actions.githubusercontent.com',
      subject: 'https://github.com/acme/app/.github/workflows/release.yml@refs/heads/main',
    },
    image: { reference: 'registry.example/acme/app:1.4.2', digest: `sha256:${'a'.repeat(64)}` },
  };
}

// A real SLSA v1 statement (sigstore-js 2.0.0's npm provenance), from inside a real Sigstore bundle.
function slsaV1(): Record<string, unknown> {
  const bundle = readJson(
    fixturePath('sigstore/sigstore-go/pkg/testing/data/bundles/sigstore.js@2.0.0-provenance.sigstore.json'),
  );
  const envelope = bundle.dsseEnvelope as { payload: string };
  return JSON.parse(Buffer.from(envelope.payload, 'base64').toString('utf8')) as Record<string, unknown>;
}

// A real SLSA v0.2 statement (sigstore-js 1.3.0).
const slsaV02 = () =>
  readJson(fixturePath('sigstore/sigstore-go/examples/statement-provenance-sigstorejs1.3.0.json'));

test('SLSA v1: builder id and source repository', () => {
  const b = statementBindings(slsaV1());
  assert.equal(holds("statement.predicateType == 'https://slsa.dev/provenance/v1'", b, 'attestation'), true);
  assert.equal(
    holds(
      "predicate.runDetails.builder.id == 'https://github.com/actions/runner/github-hosted'",
      b,
      'attestation',
    ),
    true,
  );
  assert.equal(
    holds("predicate.runDetails.builder.id == 'https://github.com/actions/runner'", b, 'attestation'),
    false,
  );
  assert.equal(
    holds(
      "predicate.runDetails.builder.id.startsWith('https://github.com/actions/runner')",
      b,
      'attestation',
    ),
    true,
  );
  assert.equal(
    holds(
      "predicate.buildDefinition.externalParameters.workflow.repository == 'https://github.com/sigstore/sigstore-js'",
      b,
      'attestation',
    ),
    true,
  );
  assert.equal(
    holds(
      "predicate.buildDefinition.resolvedDependencies.exists(d, d.uri.startsWith('git+https://github.com/sigstore/sigstore-js@') && has(d.digest.gitCommit))",
      b,
      'attestation',
    ),
    true,
  );
});

test('SLSA v0.2: builder id', () => {
  const b = statementBindings(slsaV02());
  assert.equal(holds("predicate.builder.id == 'https://github.com/actions/runner'", b, 'attestation'), true);
  assert.equal(
    holds(
      "predicate.invocation.configSource.uri == 'git+https://github.com/sigstore/sigstore-js@refs/heads/main'",
      b,
      'attestation',
    ),
    true,
  );
  // The v1 path does not exist in a v0.2 predicate: that is an error (deny), not false.
  const wrongVersion = check(
    "predicate.runDetails.builder.id == 'https://github.com/actions/runner'",
    b,
    'attestation',
  );
  assert.equal(wrongVersion.ok, false);
  if (!wrongVersion.ok) assert.match(wrongVersion.error, /field not found: runDetails/);
});

// Shaped like `cosign attest --type vuln` predicates (https://cosign.sigstore.dev/attestation/vuln/v1).
function vulnPredicate(scanFinishedOn: string, vulnerabilities: { id: string; severity: string }[]) {
  return {
    invocation: {
      parameters: null,
      uri: 'https://github.com/acme/app/actions/runs/123',
      event_id: '123',
      'builder.id': 'github actions',
    },
    scanner: {
      uri: 'pkg:github/anchore/grype@v0.74.0',
      version: 'v0.74.0',
      db: { uri: 'pkg:github/anchore/grype-db', version: '5' },
      result: {
        vulnerabilities: vulnerabilities.map((v) => ({
          ...v,
          package: { name: 'openssl', version: '3.0.2-0ubuntu1.10' },
          fix: { versions: ['3.0.2-0ubuntu1.12'] },
        })),
      },
    },
    metadata: { scanStartedOn: scanFinishedOn.replace(/T\d\d/, 'T00'), scanFinishedOn },
  };
}

const NO_CRITICAL =
  "predicate.scanner.result.vulnerabilities.all(v, v.severity != 'CRITICAL' || v.id in ['CVE-2024-0001'])";
const RECENT_SCAN = "isWithin(predicate.metadata.scanFinishedOn, '168h')";

test('vulnerability scan: finished within 7 days', () => {
  const at = (finished: string) => ({ predicate: vulnPredicate(finished, []) });
  assert.equal(holds(RECENT_SCAN, at('2026-11-25T10:00:00Z'), 'attestation'), true);
  assert.equal(holds(RECENT_SCAN, at('2026-11-20T11:59:59Z'), 'attestation'), false);
  assert.equal(
    holds(RECENT_SCAN, at('2026-11-28T10:00:00Z'), 'attestation'),
    false,
    'a scan from the future',
  );
});

test('vulnerability scan: no critical findings except allow-listed CVE ids', () => {
  const scan = (v: { id: string; severity: string }[]) => ({
    predicate: vulnPredicate('2026-11-25T10:00:00Z', v),
  });
  assert.equal(holds(NO_CRITICAL, scan([]), 'attestation'), true);
  assert.equal(
    holds(
      NO_CRITICAL,
      scan([
        { id: 'CVE-2023-5678', severity: 'HIGH' },
        { id: 'CVE-2024-0001', severity: 'CRITICAL' },
      ]),
      'attestation',
    ),
    true,
  );
  assert.equal(
    holds(
      NO_CRITICAL,
      scan([
        { id: 'CVE-2024-0002', severity: 'CRITICAL' },
        { id: 'CVE-2024-0001', severity: 'CRITICAL' },
      ]),
      'attestation',
    ),
    false,
  );
  assert.equal(
    holds(
      `${RECENT_SCAN} && ${NO_CRITICAL}`,
      scan([{ id: 'CVE-2024-0001', severity: 'CRITICAL' }]),
      'attestation',
    ),
    true,
  );
  // A finding without a severity cannot be judged: an error, so the caller denies.
  const r = check(
    NO_CRITICAL,
    {
      predicate: {
        ...vulnPredicate('2026-11-25T10:00:00Z', []),
        scanner: { result: { vulnerabilities: [{ id: 'CVE-2024-9' }] } },
      },
    },
    'attestation',
  );
  assert.equal(r.ok, false);
});

test('vulnerability scan: the same rule over a Trivy report (Results[].Vulnerabilities[])', () => {
  const trivy = (vulns: { VulnerabilityID: string; Severity: string }[]) => ({
    predicate: {
      ...vulnPredicate('2026-11-25T10:00:00Z', []),
      scanner: {
        uri: 'pkg:github/aquasecurity/trivy@v0.57.0',
        version: 'v0.57.0',
        db: { uri: '', version: '' },
        result: {
          SchemaVersion: 2,
          ArtifactName: 'registry.example/acme/app:1.4.2',
          ArtifactType: 'container_image',
          Results: [
            {
              Target: 'registry.example/acme/app:1.4.2 (debian 12.8)',
              Class: 'os-pkgs',
              Type: 'debian',
              Vulnerabilities: vulns.map((v) => ({
                ...v,
                PkgName: 'libssl3',
                InstalledVersion: '3.0.15-1~deb12u1',
              })),
            },
            { Target: 'app/package-lock.json', Class: 'lang-pkgs', Type: 'npm' },
          ],
        },
      },
    },
  });
  const rule =
    "predicate.scanner.result.Results.all(r, !has(r.Vulnerabilities) || r.Vulnerabilities.all(v, v.Severity != 'CRITICAL' || v.VulnerabilityID in ['CVE-2024-0001']))";
  assert.equal(
    holds(
      rule,
      trivy([
        { VulnerabilityID: 'CVE-2024-0001', Severity: 'CRITICAL' },
        { VulnerabilityID: 'CVE-2024-7', Severity: 'LOW' },
      ]),
      'attestation',
    ),
    true,
  );
  assert.equal(
    holds(rule, trivy([{ VulnerabilityID: 'CVE-2024-0002', Severity: 'CRITICAL' }]), 'attestation'),
    false,
  );
});

test('signer and image are available to attestation conditions', () => {
  const b = statementBindings(slsaV1());
  assert.equal(
    holds(
      "signer.issuer == 'https://token.actions.githubusercontent.com' && signer.subject.startsWith('https://github.com/acme/')",
      b,
      'attestation',
    ),
    true,
  );
  assert.equal(
    holds("statement.subject.exists(s, s.name == 'pkg:npm/sigstore@2.0.0')", b, 'attestation'),
    true,
  );
  assert.equal(holds("image.digest.startsWith('sha256:')", b, 'attestation'), true);
});

// A distroless-style image (nonroot user, labels) built last month.
const manifest = {
  schemaVersion: 2,
  mediaType: 'application/vnd.oci.image.manifest.v1+json',
  config: {
    mediaType: 'application/vnd.oci.image.config.v1+json',
    digest: `sha256:${'c'.repeat(64)}`,
    size: 1489,
  },
  layers: [
    {
      mediaType: 'application/vnd.oci.image.layer.v1.tar+gzip',
      digest: `sha256:${'1'.repeat(64)}`,
      size: 104234,
    },
    {
      mediaType: 'application/vnd.oci.image.layer.v1.tar+gzip',
      digest: `sha256:${'2'.repeat(64)}`,
      size: 21202,
    },
    {
      mediaType: 'application/vnd.oci.image.layer.v1.tar+gzip',
      digest: `sha256:${'3'.repeat(64)}`,
      size: 98334118,
    },
  ],
  annotations: { 'org.opencontainers.image.base.name': 'gcr.io/distroless/static-debian12:nonroot' },
};
const config = {
  architecture: 'arm64',
  variant: 'v8',
  os: 'linux',
  created: '2026-10-30T08:12:44.331Z',
  author: 'acme release bot',
  config: {
    User: '65532',
    Env: [
      'PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin',
      'SSL_CERT_FILE=/etc/ssl/certs/ca-certificates.crt',
    ],
    Entrypoint: ['/app'],
    WorkingDir: '/home/nonroot',
    Labels: {
      'org.opencontainers.image.source': 'https://github.com/acme/app',
      'org.opencontainers.image.version': '1.4.2',
    },
  },
  rootfs: {
    type: 'layers',
    diff_ids: [`sha256:${'4'.repeat(64)}`, `sha256:${'5'.repeat(64)}`, `sha256:${'6'.repeat(64)}`],
  },
  history: [{ created: '2026-10-30T08:12:44.331Z', created_by: 'COPY app /app' }],
};
const imageBindings = (c: unknown = config, m: unknown = manifest) => ({
  image: { reference: 'registry.example/acme/app:1.4.2', digest: `sha256:${'a'.repeat(64)}` },
  config: c,
  manifest: m,
});

const NON_ROOT = "config.config.User != '' && config.config.User != 'root' && config.config.User != '0'";
const CREATED_90D = "isWithin(config.created, '2160h')";
const UNDER_200MB = 'manifest.config.size + sum(manifest.layers.map(l, l.size)) < 200 * 1024 * 1024';
const PLATFORM = "config.os + '/' + config.architecture in ['linux/amd64', 'linux/arm64']";

test('image attributes: non-root user', () => {
  assert.equal(holds(NON_ROOT, imageBindings(), 'image'), true);
  for (const user of ['', 'root', '0']) {
    assert.equal(
      holds(NON_ROOT, imageBindings({ ...config, config: { ...config.config, User: user } }), 'image'),
      false,
      user,
    );
  }
  // No User at all (the Docker default, root): an error unless the condition says what it means.
  const noUser = imageBindings({ ...config, config: { Entrypoint: ['/app'] } });
  assert.equal(check(NON_ROOT, noUser, 'image').ok, false);
  assert.equal(holds(`has(config.config.User) && ${NON_ROOT}`, noUser, 'image'), false);
});

test('image attributes: created within 90 days, under 200 MB, allowed platforms, labels, layer count', () => {
  assert.equal(holds(CREATED_90D, imageBindings(), 'image'), true);
  assert.equal(
    holds(CREATED_90D, imageBindings({ ...config, created: '2026-08-01T00:00:00Z' }), 'image'),
    false,
  );
  assert.equal(holds(UNDER_200MB, imageBindings(), 'image'), true);
  const big = { ...manifest, layers: [...manifest.layers, { ...manifest.layers[2]!, size: 120_000_000 }] };
  assert.equal(holds(UNDER_200MB, imageBindings(config, big), 'image'), false);
  assert.equal(holds(PLATFORM, imageBindings(), 'image'), true);
  assert.equal(holds(PLATFORM, imageBindings({ ...config, architecture: 's390x' }), 'image'), false);
  assert.equal(
    holds(PLATFORM, imageBindings({ ...config, os: 'windows', architecture: 'amd64' }), 'image'),
    false,
  );
  assert.equal(
    holds("config.architecture != 'arm' || config.variant == 'v7'", imageBindings(), 'image'),
    true,
  );
  assert.equal(
    holds(
      "['org.opencontainers.image.source', 'org.opencontainers.image.version'].all(k, k in config.config.Labels)",
      imageBindings(),
      'image',
    ),
    true,
  );
  assert.equal(
    holds(
      "config.config.Labels['org.opencontainers.image.source'].startsWith('https://github.com/acme/')",
      imageBindings(),
      'image',
    ),
    true,
  );
  assert.equal(
    holds(
      'size(manifest.layers) <= 5 && size(config.rootfs.diff_ids) == size(manifest.layers)',
      imageBindings(),
      'image',
    ),
    true,
  );
  assert.equal(
    holds(
      "manifest.annotations['org.opencontainers.image.base.name'].startsWith('gcr.io/distroless/')",
      imageBindings(),
      'image',
    ),
    true,
  );
});

test('image attributes over a real OCI image (skopeo-signed app-v1: linux/amd64, no User, created at the epoch)', () => {
  const dir = fixturePath('skopeo-signed/dir-images/app-v1');
  const m = readJson(join(dir, 'manifest.json'));
  const configDigest = (m.config as { digest: string }).digest.replace('sha256:', '');
  const c = readJson(join(dir, configDigest));
  const b = imageBindings(c, m);
  assert.equal(holds(PLATFORM, b, 'image'), true);
  assert.equal(holds(UNDER_200MB, b, 'image'), true);
  assert.equal(holds('size(manifest.layers) == 1', b, 'image'), true);
  // Reproducible builds set `created` to the epoch, so a freshness rule denies them.
  assert.equal(holds(CREATED_90D, b, 'image'), false);
  assert.equal(holds(`has(config.config.User) && ${NON_ROOT}`, b, 'image'), false);
  const r = check(NON_ROOT, b, 'image');
  assert.equal(r.ok, false);
  if (!r.ok) assert.equal(r.error, `condition \`${NON_ROOT}\`: field not found: User (line 1, column 14)`);
});

test('one condition for both SLSA versions', () => {
  const either =
    "has(predicate.runDetails) ? predicate.runDetails.builder.id.startsWith('https://github.com/actions/runner') : predicate.builder.id == 'https://github.com/actions/runner'";
  assert.equal(holds(either, statementBindings(slsaV1()), 'attestation'), true);
  assert.equal(holds(either, statementBindings(slsaV02()), 'attestation'), true);
});

test('a 1,000-finding scan is checked well within the default budget', () => {
  const vulns = Array.from({ length: 1000 }, (_, i) => ({
    id: `CVE-2026-${10000 + i}`,
    severity: i % 2 ? 'LOW' : 'HIGH',
  }));
  const r = check(NO_CRITICAL, { predicate: vulnPredicate('2026-11-25T10:00:00Z', vulns) }, 'attestation');
  assert.equal(r.ok && r.value, true);
  assert.ok(r.cost < 10_000, `cost ${r.cost}`);
});

test('image attributes through the image summary the attributes rule binds', () => {
  const size = manifest.config.size + manifest.layers.reduce((n, l) => n + l.size, 0);
  const b = {
    ...imageBindings(),
    image: {
      reference: 'registry.example/acme/app:1.4.2',
      registry: 'registry.example',
      repository: 'acme/app',
      tag: '1.4.2',
      digest: `sha256:${'a'.repeat(64)}`,
      platformDigest: `sha256:${'b'.repeat(64)}`,
      platform: 'linux/arm64/v8',
      user: config.config.User,
      labels: config.config.Labels,
      annotations: manifest.annotations,
      os: config.os,
      architecture: config.architecture,
      variant: config.variant,
      created: config.created,
      layers: manifest.layers.map((l) => l.digest),
      layerCount: manifest.layers.length,
      size,
    },
  };
  assert.equal(holds('image.size < 200 * 1024 * 1024', b, 'image'), true);
  assert.equal(holds("image.user != '' && image.user != 'root' && image.user != '0'", b, 'image'), true);
  assert.equal(holds("image.platform in ['linux/amd64', 'linux/arm64/v8']", b, 'image'), true);
  assert.equal(holds("image.layerCount <= 5 && isWithin(image.created, '2160h')", b, 'image'), true);
});
