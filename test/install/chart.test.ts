/**
 * The Helm chart in deploy/helm/portcullis against `portcullis install`. Helm is not installable here,
 * so the chart is NOT rendered: these are consistency checks. What they cover: every kind install
 * prints has a template; the untemplated blocks (RBAC rules, webhook rules, security contexts, probes,
 * rollout strategy) equal install's objects; the CRD file is exactly install's CRDs; defaults match;
 * every `.Values` path a template uses exists in values.yaml and every value is used; template actions
 * are balanced. What they do not cover: Go-template evaluation (whitespace trimming, pipelines,
 * indentation produced by nindent), genCA/genSignedCert output and lookup on upgrade.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { parse, parseAllDocuments } from 'yaml';
import { policyCrds, DEFAULTS, CONTROLLER_NAME } from '../../src/install/index.ts';
import { parseInterval } from '../../src/cli/commands/controller.ts';
import { APP_VERSION } from '../../src/install/objects.ts';
import { find, install, POLICIES, type Obj } from './support.ts';

const CHART = 'deploy/helm/portcullis';

async function templates(): Promise<Map<string, string>> {
  const dir = join(CHART, 'templates');
  const out = new Map<string, string>();
  for (const file of (await readdir(dir)).sort()) out.set(file, await readFile(join(dir, file), 'utf8'));
  return out;
}

/** The YAML block under the `nth` line that is exactly `key:` (at any indentation), dedented and parsed. */
function block(text: string, key: string, nth = 0): unknown {
  const lines = text.split('\n');
  const starts = lines.flatMap((l, i) => (new RegExp(`^(\\s*)(- )?${key}:\\s*$`).test(l) ? [i] : []));
  const start = starts[nth];
  assert.ok(start !== undefined, `no block ${key} #${nth}`);
  const indent = (lines[start] as string).search(/\S/) + (/^\s*- /.test(lines[start] as string) ? 2 : 0);
  const body: string[] = [];
  for (const line of lines.slice(start + 1)) {
    if (line.trim() !== '' && line.search(/\S/) <= indent) break;
    body.push(line);
  }
  const text2 = body.join('\n');
  assert.doesNotMatch(text2, /\{\{/, `block ${key} is templated; compare it another way`);
  return parse(text2);
}

test('every kind portcullis install prints has a template (or is the CRD file)', async () => {
  const all = [...(await templates()).values()].join('\n');
  for (const args of [
    ['-p', POLICIES],
    ['--cert-manager', '--policy-configmap', 'p'],
    ['-p', POLICIES, '--controller'],
  ]) {
    const { objects } = await install(args);
    for (const o of objects) {
      if (o.kind === 'CustomResourceDefinition') continue;
      assert.match(all, new RegExp(`^kind: ${o.kind}$`, 'm'), `${o.kind} ${o.metadata.name}`);
      assert.match(all, new RegExp(`^apiVersion: ${o.apiVersion.replace('/', '\\/')}$`, 'm'), o.apiVersion);
    }
  }
});

test('the chart CRDs are exactly the ones install prints (regenerate with install --crds-only)', async () => {
  const text = await readFile(join(CHART, 'crds', 'portcullis.dev.yaml'), 'utf8');
  const docs = parseAllDocuments(text) as unknown as { toJS(): unknown }[];
  assert.deepEqual(
    docs.map((d) => d.toJS()),
    policyCrds(),
    'deploy/helm/portcullis/crds/portcullis.dev.yaml is stale: keep its 3 comment lines and replace the rest ' +
      'with `portcullis install --crds-only`',
  );
});

test('untemplated blocks equal install: RBAC, webhook rules, security contexts, probes, strategy', async () => {
  const t = await templates();
  const { objects } = await install(['-p', POLICIES]);
  const rbac = t.get('rbac.yaml') as string;
  assert.deepEqual(block(rbac, 'rules', 0), find(objects, 'ClusterRole').rules);
  const roleRules = find(objects, 'Role').rules as Obj[];
  const chartRole = (rbac.split('\n---\n')[2] as string).replace(
    /\{\{ include "portcullis.policyConfigMap" \. \}\}/,
    'portcullis-policies',
  );
  assert.deepEqual(block(chartRole, 'rules'), roleRules);

  const d = find(objects, 'Deployment');
  const pod = d.spec.template.spec;
  const container = pod.containers[0];
  const dep = t.get('deployment.yaml') as string;
  assert.deepEqual(block(dep, 'strategy'), d.spec.strategy);
  assert.deepEqual(block(dep, 'securityContext', 0), pod.securityContext);
  assert.deepEqual(block(dep, 'securityContext', 1), container.securityContext);
  assert.deepEqual(block(dep, 'livenessProbe'), container.livenessProbe);
  assert.deepEqual(block(dep, 'readinessProbe'), container.readinessProbe);
  assert.deepEqual(block(dep, 'ports'), container.ports);
  assert.deepEqual(block(dep, 'volumeMounts'), container.volumeMounts);
  const args = block(
    dep.replace(/\{\{ include "portcullis.deadline" \. \| quote \}\}/, '"9"'),
    'args',
  ) as string[];
  assert.deepEqual(args, container.args);

  const helpers = t.get('_helpers.tpl') as string;
  for (const kind of ['ValidatingWebhookConfiguration', 'MutatingWebhookConfiguration']) {
    const w = find(objects, kind).webhooks[0];
    assert.deepEqual(block(helpers, 'rules'), w.rules);
    for (const line of [
      'matchPolicy: Equivalent',
      'sideEffects: None',
      'admissionReviewVersions: [v1]',
      'reinvocationPolicy: IfNeeded',
      'key: kubernetes.io/metadata.name',
      'operator: NotIn',
      'port: 443',
    ])
      assert.ok(helpers.includes(line), line);
    assert.ok(helpers.includes('(list "kube-system" $root.Release.Namespace)'));
  }
  const svc = find(objects, 'Service');
  assert.deepEqual(block(t.get('service.yaml') as string, 'ports'), svc.spec.ports);
  assert.match(t.get('poddisruptionbudget.yaml') as string, /^ {2}minAvailable: 1$/m);
});

test('controller templates: only with controller.enabled, and their untemplated blocks equal install --controller', async () => {
  const t = await templates();
  const ctl = t.get('controller.yaml') as string;
  // The whole file, every object in it, is behind the switch.
  assert.match(ctl, /^\{\{- if \.Values\.controller\.enabled \}\}\n/);
  assert.match(ctl, /\n\{\{- end \}\}\n$/);
  const actions = [...ctl.matchAll(/\{\{-?\s*(.*?)\s*-?\}\}/gs)].map((m) => m[1] as string);
  let depth = 0;
  actions.forEach((a, i) => {
    if (/^(if|range|with|define)\b/.test(a)) depth++;
    else if (/^end\b/.test(a)) depth--;
    if (i < actions.length - 1) assert.ok(depth >= 1, `controller.yaml: action ${i} is outside the switch`);
  });
  // No other template makes a controller object.
  for (const [name, other] of t)
    if (name !== 'controller.yaml' && name.endsWith('.yaml')) assert.doesNotMatch(other, /-controller/, name);

  const { objects } = await install(['-p', POLICIES, '--controller']);
  const role = find(objects, 'ClusterRole', CONTROLLER_NAME);
  assert.deepEqual(block(ctl, 'rules'), role.rules);
  // The lease Role: its rules literal (the Lease name is the binary's, not the release's), bound to the
  // controller's ServiceAccount in the release namespace.
  const leaseRole = find(objects, 'Role', CONTROLLER_NAME);
  assert.deepEqual(block(ctl, 'rules', 1), leaseRole.rules);
  const roleDoc = ctl.split('\n---\n').find((d) => /^kind: Role$/m.test(d)) as string;
  assert.match(roleDoc, /^ {2}name: \{\{ include "portcullis\.name" \. \}\}-controller$/m);
  assert.match(roleDoc, /^ {2}namespace: \{\{ \.Release\.Namespace \}\}$/m);
  const bindingDoc = ctl.split('\n---\n').find((d) => /^kind: RoleBinding$/m.test(d)) as string;
  assert.deepEqual(
    block(bindingDoc.replace(/\{\{ include "portcullis\.name" \. \}\}/g, 'portcullis'), 'roleRef'),
    find(objects, 'RoleBinding', CONTROLLER_NAME).roleRef,
  );
  assert.match(
    bindingDoc,
    /subjects:\n {2}- kind: ServiceAccount\n {4}name: \{\{ include "portcullis\.name" \. \}\}-controller\n {4}namespace: \{\{ \.Release\.Namespace \}\}$/,
  );
  const d = find(objects, 'Deployment', CONTROLLER_NAME);
  const pod = d.spec.template.spec;
  const container = pod.containers[0];
  assert.match(ctl, /^ {2}replicas: 1$/m);
  assert.equal(d.spec.replicas, 1);
  assert.deepEqual(block(ctl, 'strategy'), d.spec.strategy);
  assert.deepEqual(block(ctl, 'securityContext', 0), pod.securityContext);
  assert.deepEqual(block(ctl, 'securityContext', 1), container.securityContext);
  assert.deepEqual(block(ctl, 'livenessProbe'), container.livenessProbe);
  assert.deepEqual(block(ctl, 'readinessProbe'), container.readinessProbe);
  assert.deepEqual(block(ctl, 'ports', 0), container.ports);
  assert.deepEqual(block(ctl, 'volumeMounts'), container.volumeMounts);
  assert.deepEqual(block(ctl, 'env'), container.env);
  const args = block(
    ctl.replace(/\{\{ \.Values\.controller\.interval \| toString \| quote \}\}/, '"10m"'),
    'args',
  ) as string[];
  assert.deepEqual(args, container.args);
  assert.match(ctl, /^ {6}serviceAccountName: \{\{ include "portcullis\.name" \. \}\}-controller$/m);
  assert.match(ctl, /image: \{\{ include "portcullis\.controllerImage" \. \| quote \}\}/);
  assert.match(ctl, /\{\{- toYaml \.Values\.controller\.resources \| nindent 12 \}\}/);
  assert.match(ctl, /name: \{\{ include "portcullis\.policyConfigMap" \. \}\}/);
  const svc = find(objects, 'Service', 'portcullis-controller-metrics');
  assert.deepEqual(block(ctl, 'ports', 1), svc.spec.ports);
  assert.match(ctl, /^ {2}name: \{\{ include "portcullis\.name" \. \}\}-controller-metrics$/m);
  assert.match(ctl, /^ {2}type: ClusterIP$/m);

  // Selected by the controller's selector only: its pods never join the webhook's Service or PDB.
  const helpers = t.get('_helpers.tpl') as string;
  assert.deepEqual(
    block(
      helpers
        .replace(/\{\{- define "portcullis\.controllerSelectorLabels" -\}\}\n/, 'controllerSelector:\n')
        .replace(/^(app\.kubernetes\.io\/\S+: \S+)$/gm, '  $1'),
      'controllerSelector',
    ),
    d.spec.selector.matchLabels,
  );
});

test('the chart refuses the controller intervals the controller refuses (its check read from _helpers.tpl)', async () => {
  const helpers = (await templates()).get('_helpers.tpl') as string;
  const pattern = /regexMatch "([^"]+)" \$i/.exec(helpers)?.[1];
  const bounds = /\(lt \$seconds (\d+)\) \(gt \$seconds (\d+)\)/.exec(helpers);
  const units = /dict "s" (\d+) "m" (\d+) "h" (\d+)/.exec(helpers);
  assert.ok(pattern && bounds && units, 'the interval check is in _helpers.tpl');
  assert.match(helpers, /fail \$bad/);
  const chartAccepts = (value: string): boolean => {
    if (!new RegExp(pattern).test(value)) return false;
    const unit = /[smh]$/.exec(value)?.[0] ?? 's';
    const factor = Number({ s: units[1], m: units[2], h: units[3] }[unit as 's' | 'm' | 'h']);
    const seconds = Number(/^[0-9]+/.exec(value)?.[0]) * factor;
    return seconds >= Number(bounds[1]) && seconds <= Number(bounds[2]);
  };
  const controllerAccepts = (value: string): boolean => {
    try {
      parseInterval(value);
      return true;
    } catch {
      return false;
    }
  };
  for (const value of [
    '10m',
    '90',
    '90s',
    '10s',
    '9s',
    '1h',
    '24h',
    '25h',
    '1440m',
    '1441m',
    '86400',
    '86401',
    '0',
    '',
    'm',
    '10 m',
    '10ms',
    '1d',
    '-10m',
    '1.5h',
    '1234567s',
    '0010s',
    '10M',
    '10m\n',
  ])
    assert.equal(chartAccepts(value), controllerAccepts(value), JSON.stringify(value));
});

test('cert-manager templates match install --cert-manager', async () => {
  const t = await templates();
  const { objects } = await install(['--cert-manager', '--policy-configmap', 'p']);
  const certs = t.get('certificate.yaml') as string;
  const ca = find(objects, 'Certificate', 'portcullis-ca');
  assert.deepEqual(block(certs, 'privateKey', 0), ca.spec.privateKey);
  assert.deepEqual(block(certs, 'issuerRef', 0), ca.spec.issuerRef);
  const tls = find(objects, 'Certificate', 'portcullis-tls');
  assert.deepEqual(block(certs, 'privateKey', 1), tls.spec.privateKey);
  assert.deepEqual(block(certs, 'issuerRef', 1), tls.spec.issuerRef);
  for (const [k, v] of Object.entries({ duration: tls.spec.duration, renewBefore: tls.spec.renewBefore }))
    assert.match(certs, new RegExp(`^ {2}${k}: ${v}$`, 'm'));
  assert.match(
    t.get('webhook.yaml') as string,
    /cert-manager\.io\/inject-ca-from: \{\{ printf "%s\/%s" \$ns \$secretName \}\}/,
  );
});

test('values.yaml defaults are install’s defaults', async () => {
  const values = parse(await readFile(join(CHART, 'values.yaml'), 'utf8')) as Obj;
  const chart = parse(await readFile(join(CHART, 'Chart.yaml'), 'utf8')) as Obj;
  assert.equal(chart.appVersion, APP_VERSION);
  assert.equal(`${values.image.repository}:${values.image.tag || chart.appVersion}`, DEFAULTS.image);
  assert.equal(values.replicas, DEFAULTS.replicas);
  assert.equal(values.webhook.failurePolicy, DEFAULTS.failurePolicy);
  assert.equal(values.webhook.timeoutSeconds, DEFAULTS.timeoutSeconds);
  assert.equal(values.certManager.enabled, false);
  const { objects } = await install(['-p', POLICIES]);
  assert.deepEqual(values.resources, find(objects, 'Deployment').spec.template.spec.containers[0].resources);
  // The controller: off unless asked for, like install without --controller.
  assert.equal(values.controller.enabled, false);
  assert.equal(values.controller.interval, DEFAULTS.controllerInterval);
  assert.deepEqual(values.controller.image, { repository: '', tag: '' }, 'empty: the webhook image');
  const withController = await install(['-p', POLICIES, '--controller']);
  const controller = find(withController.objects, 'Deployment', CONTROLLER_NAME).spec.template.spec;
  assert.deepEqual(values.controller.resources, controller.containers[0].resources);
  assert.equal(controller.containers[0].image, DEFAULTS.image);
});

/** Paths to the leaves of values.yaml (maps the user fills, like policies or nodeSelector, are leaves). */
function leaves(value: unknown, prefix: string, out: string[] = []): string[] {
  const open = ['resources', 'policies', 'nodeSelector'];
  if (typeof value === 'object' && value !== null && !Array.isArray(value) && !open.includes(prefix))
    for (const [k, v] of Object.entries(value)) leaves(v, prefix ? `${prefix}.${k}` : k, out);
  else out.push(prefix);
  return out;
}

test('every .Values path in the templates exists in values.yaml, and every value is used', async () => {
  const values = parse(await readFile(join(CHART, 'values.yaml'), 'utf8')) as Obj;
  const all = [...(await templates()).values()].join('\n');
  const used = new Set([...all.matchAll(/\.Values\.([A-Za-z0-9_.]+)/g)].map((m) => m[1] as string));
  for (const path of used) {
    let node: unknown = values;
    for (const part of path.split('.')) node = (node as Record<string, unknown> | undefined)?.[part];
    assert.notEqual(node, undefined, `.Values.${path} is not in values.yaml`);
  }
  for (const leaf of leaves(values, ''))
    assert.ok(
      [...used].some((u) => u === leaf || leaf.startsWith(`${u}.`)),
      `values.yaml ${leaf} is never used`,
    );
});

test('template actions are balanced in every file', async () => {
  for (const [file, text] of await templates()) {
    assert.equal(text.split('{{').length, text.split('}}').length, `${file}: {{ and }} do not pair`);
    const actions = [...text.matchAll(/\{\{-?\s*(.*?)\s*-?\}\}/gs)].map((m) => m[1] as string);
    let depth = 0;
    for (const a of actions) {
      if (/^(if|range|with|define)\b/.test(a)) depth++;
      else if (/^end\b/.test(a)) depth--;
      assert.ok(depth >= 0, `${file}: {{ end }} without an opening block`);
    }
    assert.equal(depth, 0, `${file}: a block is not closed`);
    // Every document of the file is YAML once the actions are blanked out (a crude shape check).
    if (file.endsWith('.yaml')) {
      const blanked = text.replace(/^\s*\{\{-?[^]*?-?\}\}\s*$/gm, '').replace(/\{\{-?[^]*?-?\}\}/g, 'x');
      for (const doc of parseAllDocuments(blanked) as unknown as { errors: { message: string }[] }[])
        assert.deepEqual(
          doc.errors.map((e) => e.message),
          [],
          file,
        );
    }
  }
});
