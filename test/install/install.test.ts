/**
 * `portcullis install`: the objects it prints, their security settings, the certificate chain the
 * webhook configurations trust (checked with node:crypto, then with a real TLS handshake against
 * `portcullis serve` started on the generated files), the cert-manager variant, and bad flags.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { X509Certificate, createPrivateKey } from 'node:crypto';
import { request } from 'node:https';
import { spawnSync } from 'node:child_process';
import { mkdtemp, mkdir, writeFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import { cli } from '../cli/run.ts';
import { runServe } from '../../src/cli/commands/serve.ts';
import type { WebhookServer } from '../../src/webhook/server.ts';
import { find, install, POLICIES, type Obj } from './support.ts';
import { modelFor, modelProblems } from './k8s-models.ts';

const EXPECTED = [
  ['Namespace', 'portcullis'],
  ['ServiceAccount', 'portcullis'],
  ['ClusterRole', 'portcullis'],
  ['ClusterRoleBinding', 'portcullis'],
  ['Role', 'portcullis'],
  ['RoleBinding', 'portcullis'],
  ['ConfigMap', 'portcullis-policies'],
  ['Secret', 'portcullis-tls'],
  ['Deployment', 'portcullis'],
  ['PodDisruptionBudget', 'portcullis'],
  ['Service', 'portcullis'],
  ['ValidatingWebhookConfiguration', 'portcullis'],
  ['MutatingWebhookConfiguration', 'portcullis'],
  ['CustomResourceDefinition', 'imagepolicies.portcullis.dev'],
  ['CustomResourceDefinition', 'namespacedimagepolicies.portcullis.dev'],
];

const b64 = (s: string) => Buffer.from(s, 'base64').toString('utf8');

test('default install: every object, in an order kubectl apply can follow', async () => {
  const { objects } = await install(['-p', POLICIES]);
  assert.deepEqual(
    objects.map((o) => [o.kind, o.metadata.name]),
    EXPECTED,
  );
  for (const o of objects) {
    const clusterScoped = [
      'Namespace',
      'ClusterRole',
      'ClusterRoleBinding',
      'ValidatingWebhookConfiguration',
      'MutatingWebhookConfiguration',
      'CustomResourceDefinition',
    ].includes(o.kind);
    assert.equal(o.metadata.namespace, clusterScoped ? undefined : 'portcullis', `${o.kind} namespace`);
  }
});

test('every object has only fields the Kubernetes API knows, with the right types', async () => {
  for (const args of [
    ['-p', POLICIES],
    ['--cert-manager', '--policy-configmap', 'mine'],
  ]) {
    const { objects } = await install(args);
    for (const o of objects) {
      if (o.apiVersion.startsWith('cert-manager.io/')) continue; // not in the Kubernetes models
      assert.deepEqual(modelProblems(o, modelFor(o.apiVersion, o.kind)), [], `${o.kind} ${o.metadata.name}`);
    }
  }
});

test('the model check itself catches unknown fields and wrong types', () => {
  assert.deepEqual(
    modelProblems(
      { apiVersion: 'apps/v1', kind: 'Deployment', spec: { replicas: '2', paused: 1, bogus: {} } },
      'V1Deployment',
    ),
    [
      '.spec.replicas: expected a number, got "2"',
      '.spec.paused: expected a boolean, got 1',
      '.spec.bogus: unknown field of V1DeploymentSpec',
    ],
  );
});

test('the policies are embedded in the ConfigMap as they were written', async () => {
  const { objects } = await install(['-p', POLICIES]);
  const cm = find(objects, 'ConfigMap');
  assert.deepEqual(Object.keys(cm.data).sort(), [
    'deny-list.yaml',
    'policyset.yaml',
    'production.yaml',
    'staging-warn.yaml',
  ]);
  const { readFile } = await import('node:fs/promises');
  assert.equal(cm.data['production.yaml'], await readFile(join(POLICIES, 'production.yaml'), 'utf8'));
});

test('Deployment: replicas, spread, hardening, probes over HTTPS, mounts', async () => {
  const { objects } = await install([
    '-p',
    POLICIES,
    '--replicas',
    '3',
    '--image',
    'registry.example/p/portcullis:9',
  ]);
  const d = find(objects, 'Deployment');
  assert.equal(d.spec.replicas, 3);
  assert.equal(d.spec.strategy.rollingUpdate.maxUnavailable, 0);
  const pod = d.spec.template.spec;
  const selector = d.spec.selector.matchLabels;
  for (const [k, v] of Object.entries(selector)) assert.equal(d.spec.template.metadata.labels[k], v);
  assert.deepEqual(
    pod.topologySpreadConstraints.map((c: Obj) => [c.topologyKey, c.labelSelector.matchLabels]),
    [
      ['kubernetes.io/hostname', selector],
      ['topology.kubernetes.io/zone', selector],
    ],
  );
  const anti =
    pod.affinity.podAntiAffinity.preferredDuringSchedulingIgnoredDuringExecution[0].podAffinityTerm;
  assert.equal(anti.topologyKey, 'kubernetes.io/hostname');
  assert.deepEqual(anti.labelSelector.matchLabels, selector);
  assert.equal(pod.serviceAccountName, 'portcullis');
  assert.equal(pod.securityContext.runAsNonRoot, true);
  assert.equal(pod.securityContext.seccompProfile.type, 'RuntimeDefault');
  assert.equal(pod.containers.length, 1);
  const c = pod.containers[0];
  assert.equal(c.image, 'registry.example/p/portcullis:9');
  assert.deepEqual(c.securityContext, {
    runAsNonRoot: true,
    allowPrivilegeEscalation: false,
    readOnlyRootFilesystem: true,
    capabilities: { drop: ['ALL'] },
    seccompProfile: { type: 'RuntimeDefault' },
  });
  assert.deepEqual(c.resources, {
    requests: { cpu: '100m', memory: '128Mi' },
    limits: { cpu: '1', memory: '512Mi' },
  });
  assert.deepEqual(c.livenessProbe.httpGet, { path: '/healthz', port: 'https', scheme: 'HTTPS' });
  assert.deepEqual(c.readinessProbe.httpGet, { path: '/readyz', port: 'https', scheme: 'HTTPS' });
  assert.deepEqual(c.ports, [{ name: 'https', containerPort: 8443, protocol: 'TCP' }]);
  assert.deepEqual(c.args, [
    'serve',
    '--policy',
    '/etc/portcullis/policies',
    '--tls-cert',
    '/etc/portcullis/tls/tls.crt',
    '--tls-key',
    '/etc/portcullis/tls/tls.key',
    '--port',
    '8443',
    '--deadline',
    '9',
  ]);
  const volumes = Object.fromEntries(pod.volumes.map((v: Obj) => [v.name, v]));
  // A directory mount (no subPath): ConfigMap updates reach the pod.
  assert.deepEqual(volumes.policies.configMap, { name: 'portcullis-policies' });
  assert.equal(volumes.tls.secret.secretName, 'portcullis-tls');
  for (const m of c.volumeMounts) assert.equal(m.subPath, undefined);
  assert.deepEqual(
    c.volumeMounts.map((m: Obj) => [m.name, m.mountPath]),
    [
      ['policies', '/etc/portcullis/policies'],
      ['tls', '/etc/portcullis/tls'],
      ['tmp', '/tmp'],
    ],
  );

  const pdb = find(objects, 'PodDisruptionBudget');
  assert.equal(pdb.spec.minAvailable, 1);
  assert.deepEqual(pdb.spec.selector.matchLabels, selector);
  const svc = find(objects, 'Service');
  assert.deepEqual(svc.spec.selector, selector);
  assert.deepEqual(svc.spec.ports, [{ name: 'https', port: 443, targetPort: 'https', protocol: 'TCP' }]);
});

test('RBAC: read-only, get only (no list) for secrets, serviceaccounts and namespaces, configmaps only in its namespace, each rule explained', async () => {
  const { objects, yaml } = await install(['-p', POLICIES]);
  const cr = find(objects, 'ClusterRole');
  assert.deepEqual(cr.rules, [
    { apiGroups: [''], resources: ['secrets'], verbs: ['get'] },
    { apiGroups: [''], resources: ['serviceaccounts'], verbs: ['get'] },
    { apiGroups: [''], resources: ['namespaces'], verbs: ['get'] },
    {
      apiGroups: ['portcullis.dev'],
      resources: ['imagepolicies', 'namespacedimagepolicies'],
      verbs: ['get', 'list', 'watch'],
    },
  ]);
  const role = find(objects, 'Role');
  assert.equal(role.metadata.namespace, 'portcullis');
  assert.deepEqual(role.rules, [
    {
      apiGroups: [''],
      resources: ['configmaps'],
      resourceNames: ['portcullis-policies'],
      verbs: ['get', 'list', 'watch'],
    },
  ]);
  for (const binding of [find(objects, 'ClusterRoleBinding'), find(objects, 'RoleBinding')])
    assert.deepEqual(binding.subjects, [
      { kind: 'ServiceAccount', name: 'portcullis', namespace: 'portcullis' },
    ]);
  // Each rule has its reason as a comment right above it.
  assert.match(
    yaml,
    /rules:\n {2}# Registry credentials at admission[^]*?\n {2}- apiGroups:\n {6}- ""\n {4}resources:\n {6}- secrets/,
  );
  assert.match(yaml, /# To find a workload's service account's imagePullSecrets\.\n {2}- apiGroups/);
  assert.match(
    yaml,
    /# Policies kept in the cluster as custom resources[^\n]*\n {2}- apiGroups:\n {6}- portcullis.dev/,
  );
  assert.match(
    yaml,
    /# The policy ConfigMap, for reading it through the API[^]*?\n {2}- apiGroups:\n {6}- ""\n {4}resources:\n {6}- configmaps/,
  );
});

test('webhook configurations: fail closed, v1 only, every workload kind and the ephemeralcontainers subresource', async () => {
  const { objects } = await install([
    '-p',
    POLICIES,
    '--timeout-seconds',
    '15',
    '--exclude-namespace',
    'ops',
  ]);
  for (const kind of ['ValidatingWebhookConfiguration', 'MutatingWebhookConfiguration']) {
    const config = find(objects, kind);
    assert.equal(config.webhooks.length, 1);
    const w = config.webhooks[0];
    const validating = kind.startsWith('Validating');
    assert.equal(w.name, validating ? 'validate.portcullis.dev' : 'mutate.portcullis.dev');
    assert.deepEqual(w.clientConfig.service, {
      namespace: 'portcullis',
      name: 'portcullis',
      path: validating ? '/validate' : '/mutate',
      port: 443,
    });
    assert.equal(w.failurePolicy, 'Fail');
    assert.equal(w.timeoutSeconds, 15);
    assert.equal(w.sideEffects, 'None');
    assert.equal(w.matchPolicy, 'Equivalent');
    assert.deepEqual(w.admissionReviewVersions, ['v1']);
    assert.equal(w.reinvocationPolicy, validating ? undefined : 'IfNeeded');
    assert.deepEqual(w.namespaceSelector, {
      matchExpressions: [
        {
          key: 'kubernetes.io/metadata.name',
          operator: 'NotIn',
          values: ['kube-system', 'portcullis', 'ops'],
        },
      ],
    });
    const resources = w.rules.flatMap((r: Obj) =>
      r.resources.map((res: string) => `${r.apiGroups[0]}/${res}`),
    );
    assert.deepEqual(resources.sort(), [
      '/pods',
      '/pods/ephemeralcontainers',
      '/replicationcontrollers',
      'apps/daemonsets',
      'apps/deployments',
      'apps/replicasets',
      'apps/statefulsets',
      'batch/cronjobs',
      'batch/jobs',
    ]);
    for (const r of w.rules) {
      assert.deepEqual(r.operations, ['CREATE', 'UPDATE']);
      assert.equal(r.scope, 'Namespaced');
    }
  }
  // serve answers a second before the API server gives up.
  const args = find(objects, 'Deployment').spec.template.spec.containers[0].args;
  assert.equal(args[args.indexOf('--deadline') + 1], '14');
});

test('--failure-policy Ignore is passed through (for those who choose availability)', async () => {
  const { objects } = await install(['-p', POLICIES, '--failure-policy', 'Ignore', '--timeout-seconds', '2']);
  assert.equal(find(objects, 'ValidatingWebhookConfiguration').webhooks[0].failurePolicy, 'Ignore');
  const args = find(objects, 'Deployment').spec.template.spec.containers[0].args;
  assert.equal(args[args.indexOf('--deadline') + 1], '1');
});

test('caBundle is the CA that issued the served certificate, for portcullis.<namespace>.svc', async () => {
  const { objects } = await install(['-p', POLICIES, '--namespace', 'team-sec']);
  const secret = find(objects, 'Secret', 'portcullis-tls');
  assert.equal(secret.type, 'kubernetes.io/tls');
  const leaf = new X509Certificate(b64(secret.data['tls.crt']));
  const key = createPrivateKey(b64(secret.data['tls.key']));
  assert.equal(leaf.checkPrivateKey(key), true);
  for (const kind of ['ValidatingWebhookConfiguration', 'MutatingWebhookConfiguration']) {
    const ca = new X509Certificate(b64(find(objects, kind).webhooks[0].clientConfig.caBundle));
    assert.equal(ca.ca, true);
    assert.equal(leaf.checkIssued(ca), true);
    assert.equal(leaf.verify(ca.publicKey), true);
    assert.equal(ca.verify(ca.publicKey), true, 'self-signed root');
    assert.equal(ca.toString(), new X509Certificate(b64(secret.data['ca.crt'])).toString());
  }
  assert.equal(leaf.ca, false);
  assert.equal(leaf.checkHost('portcullis.team-sec.svc'), 'portcullis.team-sec.svc');
  assert.equal(
    leaf.checkHost('portcullis.team-sec.svc.cluster.local'),
    'portcullis.team-sec.svc.cluster.local',
  );
  assert.equal(leaf.checkHost('portcullis.portcullis.svc'), undefined);
  assert.match(leaf.keyUsage?.join(',') ?? '', /1\.3\.6\.1\.5\.5\.7\.3\.1/); // serverAuth
  const days = (Date.parse(leaf.validTo) - Date.parse(leaf.validFrom)) / 86_400_000;
  assert.equal(days, 730);
  // A second install makes a new CA: nothing is reused between runs.
  const again = find((await install(['-p', POLICIES, '--namespace', 'team-sec'])).objects, 'Secret');
  assert.equal(leaf.checkIssued(new X509Certificate(b64(again.data['ca.crt']))), false);
});

test('portcullis serve runs on the generated files and the caBundle verifies it over TLS', async () => {
  const { objects } = await install(['-p', POLICIES, '--namespace', 'team-sec']);
  const dir = await mkdtemp(join(tmpdir(), 'portcullis-install-'));
  const stop = new AbortController();
  try {
    await mkdir(join(dir, 'policies'));
    await mkdir(join(dir, 'tls'));
    for (const [name, text] of Object.entries(find(objects, 'ConfigMap').data as Record<string, string>))
      await writeFile(join(dir, 'policies', name), text);
    const secret = find(objects, 'Secret');
    for (const name of ['tls.crt', 'tls.key'])
      await writeFile(join(dir, 'tls', name), b64(secret.data[name]));
    const caBundle = b64(find(objects, 'ValidatingWebhookConfiguration').webhooks[0].clientConfig.caBundle);

    let listening!: (s: WebhookServer) => void;
    const started = new Promise<WebhookServer>((r) => (listening = r));
    const sink = () => new PassThrough().resume();
    const done = runServe(
      {
        policy: [join(dir, 'policies')],
        tlsCert: join(dir, 'tls', 'tls.crt'),
        tlsKey: join(dir, 'tls', 'tls.key'),
        port: '0',
        host: '127.0.0.1',
        pin: true,
        deadline: '9',
        logLevel: 'error',
        timeout: '30',
        offline: true,
        // Not the cluster this test may itself run in.
        kubernetes: false,
      },
      { stdout: sink(), stderr: sink(), readStdin: async () => '' },
      { signal: stop.signal, onListening: (s) => listening(s) },
    );
    const server = await Promise.race([
      started,
      done.then((code) => Promise.reject(new Error(`serve exited ${code}`))),
    ]);
    const get = (path: string, servername: string) =>
      new Promise<number>((resolve, reject) => {
        const req = request(
          { host: '127.0.0.1', port: server.port, path, servername, ca: caBundle, method: 'GET' },
          (res) => {
            res.resume();
            resolve(res.statusCode ?? 0);
          },
        );
        req.on('error', reject);
        req.end();
      });
    // The API server dials portcullis.<namespace>.svc and trusts only the caBundle.
    assert.equal(await get('/readyz', 'portcullis.team-sec.svc'), 200);
    assert.equal(await get('/healthz', 'portcullis.team-sec.svc'), 200);
    await assert.rejects(
      get('/readyz', 'portcullis.other.svc'),
      /does not match certificate's altnames|ERR_TLS_CERT_ALTNAME_INVALID/,
    );
    stop.abort();
    assert.equal(await done, 0);
  } finally {
    stop.abort();
    await rm(dir, { recursive: true, force: true });
  }
});

test('--cert-manager: Issuers and Certificates, CA injected by annotation, no Secret and no caBundle', async () => {
  const { objects } = await install(['--cert-manager', '--policy-configmap', 'our-policies', '-n', 'sec']);
  assert.equal(objects.filter((o) => o.kind === 'Secret').length, 0);
  assert.equal(objects.filter((o) => o.kind === 'ConfigMap').length, 0, 'the named ConfigMap is the user’s');
  assert.deepEqual(
    objects.filter((o) => o.apiVersion === 'cert-manager.io/v1').map((o) => [o.kind, o.metadata.name]),
    [
      ['Issuer', 'portcullis-selfsigned'],
      ['Certificate', 'portcullis-ca'],
      ['Issuer', 'portcullis-ca'],
      ['Certificate', 'portcullis-tls'],
    ],
  );
  const cert = find(objects, 'Certificate', 'portcullis-tls');
  assert.equal(cert.spec.secretName, 'portcullis-tls');
  assert.deepEqual(cert.spec.dnsNames, ['portcullis.sec.svc', 'portcullis.sec.svc.cluster.local']);
  assert.deepEqual(cert.spec.issuerRef, { name: 'portcullis-ca', kind: 'Issuer', group: 'cert-manager.io' });
  assert.equal(find(objects, 'Certificate', 'portcullis-ca').spec.isCA, true);
  for (const kind of ['ValidatingWebhookConfiguration', 'MutatingWebhookConfiguration']) {
    const config = find(objects, kind);
    assert.deepEqual(config.metadata.annotations, { 'cert-manager.io/inject-ca-from': 'sec/portcullis-tls' });
    assert.equal(config.webhooks[0].clientConfig.caBundle, undefined);
  }
  const d = find(objects, 'Deployment');
  assert.deepEqual(d.spec.template.spec.volumes[0].configMap, { name: 'our-policies' });
  assert.deepEqual(find(objects, 'Role').rules[0].resourceNames, ['our-policies']);
});

test('--output json is a v1 List of the same objects', async () => {
  const r = await cli(['install', '--policy-configmap', 'p', '--cert-manager', '-o', 'json']);
  assert.equal(r.code, 0);
  const list = JSON.parse(r.stdout) as { apiVersion: string; kind: string; items: Obj[] };
  assert.equal(list.apiVersion, 'v1');
  assert.equal(list.kind, 'List');
  const { objects } = await install(['--policy-configmap', 'p', '--cert-manager']);
  assert.deepEqual(list.items, objects);
});

test('kubectl create --dry-run=client accepts the output (when an API server is reachable)', async (t) => {
  const { yaml } = await install(['-p', POLICIES]);
  const r = spawnSync('kubectl', ['create', '--dry-run=client', '-o', 'name', '-f', '-'], {
    input: yaml,
    encoding: 'utf8',
    timeout: 60_000,
  });
  if (r.error) return t.skip(`kubectl is not installed (${r.error.message})`);
  if (/connection refused|unable to recognize|failed to download openapi|no configuration/i.test(r.stderr))
    return t.skip(
      'kubectl create --dry-run=client needs an API server for discovery and none is reachable here; ' +
        'the Kubernetes-model check above stands in for it',
    );
  assert.equal(r.status, 0, r.stderr);
  assert.equal(r.stdout.trim().split('\n').length, EXPECTED.length);
});

test('bad flags exit 2 with a message saying what is wrong', async () => {
  const cases: [string[], RegExp][] = [
    [[], /no policies: give --policy PATH .* or --policy-configmap NAME/],
    [['-p', POLICIES, '--policy-configmap', 'x'], /either --policy .* or --policy-configmap .*, not both/],
    [['-p', POLICIES, '--namespace', 'Team_A'], /--namespace must be a namespace name .*"Team_A"/],
    [['-p', POLICIES, '--namespace', 'default'], /--namespace default is shared with other workloads/],
    [
      ['-p', POLICIES, '--namespace', 'kube-system'],
      /--namespace kube-system is shared with other workloads/,
    ],
    [['-p', POLICIES, '--exclude-namespace', '-x'], /--exclude-namespace must be a namespace name/],
    [['-p', POLICIES, '--replicas', '1'], /--replicas must be a whole number from 2 to 50, not "1"/],
    [['-p', POLICIES, '--replicas', 'two'], /--replicas must be a whole number from 2 to 50, not "two"/],
    [
      ['-p', POLICIES, '--timeout-seconds', '31'],
      /--timeout-seconds must be a whole number from 1 to 30, not "31"/,
    ],
    [['-p', POLICIES, '--timeout-seconds', '0'], /--timeout-seconds must be a whole number from 1 to 30/],
    [
      ['-p', POLICIES, '--failure-policy', 'Open'],
      /argument 'Open' is invalid. Allowed choices are Fail, Ignore/,
    ],
    [['-p', POLICIES, '-o', 'xml'], /argument 'xml' is invalid. Allowed choices are yaml, json/],
    [['-p', POLICIES, '--image', 'evil\nimage'], /--image must be an image reference/],
    [
      ['-p', POLICIES, '--image', 'ghcr.io/acme/Portcullis:1'],
      /--image must be an image reference, not "ghcr.io\/acme\/Portcullis:1": .+ at position \d+/,
    ],
    [['--policy-configmap', 'Bad Name'], /--policy-configmap must be a ConfigMap name/],
    [
      ['-p', '/nonexistent/policies'],
      /nonexistent.*error[^]*the policies have 1 error\(s\); nothing was generated/,
    ],
    [['--bogus'], /unknown option '--bogus'/],
  ];
  for (const [args, message] of cases) {
    const r = await cli(['install', ...args]);
    assert.equal(r.code, 2, `${args.join(' ')}: ${r.stderr}`);
    assert.match(r.stderr, message, args.join(' '));
    assert.equal(r.stdout, '', 'nothing half-printed');
    assert.doesNotMatch(r.stderr, /\n\s+at /, 'no stack trace');
  }
});

test('a policy with an error fails the install with its position, before anything is printed', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'portcullis-install-'));
  try {
    await writeFile(
      join(dir, 'bad.yaml'),
      'apiVersion: portcullis.dev/v1alpha1\nkind: ImagePolicy\nmetadata: {name: bad}\nspec:\n  images: [{glob: "**"}]\n  mode: loud\n  rules: [{name: r, tags: {forbid: [latest]}}]\n',
    );
    const r = await cli(['install', '-p', dir]);
    assert.equal(r.code, 2);
    assert.equal(r.stdout, '');
    assert.match(r.stderr, /bad\.yaml:6:\d+: error: .*mode/);
    // Two files with one name cannot share a ConfigMap.
    await mkdir(join(dir, 'a'));
    await mkdir(join(dir, 'b'));
    const good =
      'apiVersion: portcullis.dev/v1alpha1\nkind: ImagePolicy\nmetadata: {name: NAME}\nspec:\n  images: [{glob: "**"}]\n  rules: [{name: r, tags: {forbid: [latest]}}]\n';
    await writeFile(join(dir, 'a', 'p.yaml'), good.replace('NAME', 'a'));
    await writeFile(join(dir, 'b', 'p.yaml'), good.replace('NAME', 'b'));
    const clash = await cli(['install', '-p', join(dir, 'a'), '-p', join(dir, 'b')]);
    assert.equal(clash.code, 2);
    assert.match(clash.stderr, /two policy files are both named p\.yaml/);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

test('--crds-only prints just the policy CRDs (what the chart ships in crds/)', async () => {
  const { objects } = await install(['--crds-only']);
  assert.deepEqual(
    objects.map((o) => [o.kind, o.metadata.name]),
    EXPECTED.filter(([kind]) => kind === 'CustomResourceDefinition'),
  );
});
