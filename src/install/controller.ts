/**
 * The objects that run `portcullis controller` (docs/controller.md) beside the webhook, printed with
 * `portcullis install --controller`. Its own ServiceAccount and ClusterRole: it writes PolicyReports
 * and Events, which the webhook must not be able to do; like the webhook it reads pull secrets by name,
 * so private images are verified with the kubelet's credentials; and a Role for its leader-election
 * Lease in its own namespace. The Helm
 * chart's controller templates mirror these objects.
 */
import { LEASE_NAME } from '../cli/commands/controller.ts';
import { CLUSTER_REPORT_NAME, REPORT_API_VERSION, REPORT_NAME } from '../controller/reports.ts';
import { commented, rule } from './comments.ts';
import { POLICY_GROUP, POLICY_RESOURCES } from './crd.ts';
import {
  containerSecurityContext,
  httpProbe,
  podSecurityContext,
  POLICY_MOUNT,
  policyVolume,
  tmpVolume,
} from './hardening.ts';
import type { KubeObject } from './objects.ts';
import { APP_NAME, labels } from './objects.ts';
import type { ControllerInstallOptions, InstallOptions } from './options.ts';

export const CONTROLLER_NAME = `${APP_NAME}-controller`;
export const CONTROLLER_METRICS_SERVICE = `${CONTROLLER_NAME}-metrics`;
export const CONTROLLER_METRICS_PORT = 9090;
/** What the controller's pods carry and its Deployment and Service select; never the webhook's pods. */
export const CONTROLLER_SELECTOR = {
  'app.kubernetes.io/name': APP_NAME,
  'app.kubernetes.io/component': 'controller',
};
const REPORT_GROUP = REPORT_API_VERSION.split('/')[0] as string;

/**
 * The controller's ClusterRole rules: exactly the calls src/kubernetes/api.ts makes for it (listPods,
 * watchPods, getNamespace, getSecret, getServiceAccount, listImagePolicies, watchImagePolicies,
 * applyPolicyReport, createEvent), each with its reason. Secrets by name only, never list or watch.
 */
export function controllerRules(): Record<string, unknown>[] {
  return [
    rule(
      'Every Pod in every namespace: listed at each resync and watched between resyncs, to re-verify ' +
        'the images that run. No get: the controller never reads a single Pod by name.',
      { apiGroups: [''], resources: ['pods'], verbs: ['list', 'watch'] },
    ),
    rule(
      'Namespace labels, for policies that select namespaces by label (spec.match.namespaceSelector): ' +
        'a Pod does not carry them. Get only, by name, once per namespace per resync.',
      { apiGroups: [''], resources: ['namespaces'], verbs: ['get'] },
    ),
    rule(
      "Registry credentials: each pod's imagePullSecrets and its service account's, so a private image " +
        'is verified with what the kubelet pulls it with. Only get, by name: list or watch would expose ' +
        'every secret in the cluster. Drop both rules if you run it with --no-pull-secrets.',
      { apiGroups: [''], resources: ['secrets'], verbs: ['get'] },
    ),
    rule("To find a pod's service account's imagePullSecrets.", {
      apiGroups: [''],
      resources: ['serviceaccounts'],
      verbs: ['get'],
    }),
    rule(
      'Policies kept in the cluster as custom resources, watched so a changed policy applies from the ' +
        'next resync, as in the webhook. Read-only.',
      {
        apiGroups: [POLICY_GROUP],
        resources: POLICY_RESOURCES.map((r) => r.plural),
        verbs: ['get', 'list', 'watch'],
      },
    ),
    rule(
      `Its PolicyReport ${REPORT_NAME} in each namespace, replaced whole after each change: GET for ` +
        'the resourceVersion, then PUT. By name, so it cannot read or overwrite the reports of other ' +
        'tools. No list, watch, patch or delete.',
      {
        apiGroups: [REPORT_GROUP],
        resources: ['policyreports'],
        resourceNames: [REPORT_NAME],
        verbs: ['get', 'update'],
      },
    ),
    rule(`Its ClusterPolicyReport ${CLUSTER_REPORT_NAME}, for findings with no namespace; as above.`, {
      apiGroups: [REPORT_GROUP],
      resources: ['clusterpolicyreports'],
      resourceNames: [CLUSTER_REPORT_NAME],
      verbs: ['get', 'update'],
    }),
    rule(
      'Its reports the first time (POST). A rule of its own because RBAC cannot restrict create by ' +
        'name; a create cannot replace an existing report.',
      {
        apiGroups: [REPORT_GROUP],
        resources: ['policyreports', 'clusterpolicyreports'],
        verbs: ['create'],
      },
    ),
    rule(
      'A Warning Event on a workload whose image newly fails, a Normal one when it passes again. ' +
        'Create only: an Event is never updated or patched (a continuing failure sends none).',
      { apiGroups: [''], resources: ['events'], verbs: ['create'] },
    ),
  ];
}

/**
 * The controller's Role in the install namespace: its leader-election Lease (src/controller/leader.ts,
 * src/kubernetes/api.ts getLease and writeLease), which lives beside it (POD_NAMESPACE). Namespaced,
 * not in the ClusterRole: a Lease anywhere else is none of its business.
 */
export function controllerLeaseRules(): Record<string, unknown>[] {
  return [
    rule(
      `Its leader-election Lease ${LEASE_NAME}, so one replica alone re-verifies: GET to see who ` +
        'leads, PUT to renew it, take it over once expired, or hand it over on shutdown (each carrying ' +
        'the resourceVersion read). By name, so it cannot touch the leases of other components.',
      {
        apiGroups: ['coordination.k8s.io'],
        resources: ['leases'],
        resourceNames: [LEASE_NAME],
        verbs: ['get', 'update'],
      },
    ),
    rule(
      'The Lease the first time (POST), when no controller ever ran here. A rule of its own because ' +
        'RBAC cannot restrict create by name; a create cannot replace an existing lease.',
      { apiGroups: ['coordination.k8s.io'], resources: ['leases'], verbs: ['create'] },
    ),
  ];
}

export function controllerObjects(
  options: InstallOptions,
  controller: ControllerInstallOptions,
  policyConfigMap: string,
): KubeObject[] {
  const ns = options.namespace;
  const meta = (name: string) => ({ name, namespace: ns, labels: labels('controller') });
  return [
    commented("The controller's own identity: the webhook's ServiceAccount cannot write reports or Events.", {
      apiVersion: 'v1',
      kind: 'ServiceAccount',
      metadata: meta(CONTROLLER_NAME),
    }),
    {
      apiVersion: 'rbac.authorization.k8s.io/v1',
      kind: 'ClusterRole',
      metadata: { name: CONTROLLER_NAME, labels: labels('controller') },
      rules: controllerRules(),
    },
    {
      apiVersion: 'rbac.authorization.k8s.io/v1',
      kind: 'ClusterRoleBinding',
      metadata: { name: CONTROLLER_NAME, labels: labels('controller') },
      roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name: CONTROLLER_NAME },
      subjects: [{ kind: 'ServiceAccount', name: CONTROLLER_NAME, namespace: ns }],
    },
    {
      apiVersion: 'rbac.authorization.k8s.io/v1',
      kind: 'Role',
      metadata: meta(CONTROLLER_NAME),
      rules: controllerLeaseRules(),
    },
    {
      apiVersion: 'rbac.authorization.k8s.io/v1',
      kind: 'RoleBinding',
      metadata: meta(CONTROLLER_NAME),
      roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'Role', name: CONTROLLER_NAME },
      subjects: [{ kind: 'ServiceAccount', name: CONTROLLER_NAME, namespace: ns }],
    },
    commented(
      `One replica. The Lease ${LEASE_NAME}, not the replica count, guarantees a single leader (two ` +
        "would overwrite each other's reports and send every Event twice), so a rollout surges: the new " +
        'pod waits as a standby until the old one hands the Lease over on shutdown, and a new pod that ' +
        'never gets ready leaves the old one re-verifying. A resync holds every Pod of the cluster, ' +
        'hence the memory limit.',
      controllerDeployment(options, controller, policyConfigMap),
    ),
    commented(
      `For Prometheus: /metrics over plain HTTP on ${CONTROLLER_METRICS_PORT} (docs/controller.md, "Metrics").`,
      {
        apiVersion: 'v1',
        kind: 'Service',
        metadata: meta(CONTROLLER_METRICS_SERVICE),
        spec: {
          type: 'ClusterIP',
          selector: { ...CONTROLLER_SELECTOR },
          ports: [{ name: 'metrics', port: CONTROLLER_METRICS_PORT, targetPort: 'metrics', protocol: 'TCP' }],
        },
      },
    ),
  ];
}

function controllerDeployment(
  options: InstallOptions,
  controller: ControllerInstallOptions,
  policyConfigMap: string,
): KubeObject {
  const probe = () => httpProbe('/healthz', 'metrics', 'HTTP');
  return {
    apiVersion: 'apps/v1',
    kind: 'Deployment',
    metadata: { name: CONTROLLER_NAME, namespace: options.namespace, labels: labels('controller') },
    spec: {
      replicas: 1,
      selector: { matchLabels: { ...CONTROLLER_SELECTOR } },
      strategy: { type: 'RollingUpdate', rollingUpdate: { maxUnavailable: 0, maxSurge: 1 } },
      template: {
        metadata: { labels: { ...labels('controller'), ...CONTROLLER_SELECTOR } },
        spec: {
          serviceAccountName: CONTROLLER_NAME,
          securityContext: podSecurityContext(),
          containers: [
            {
              name: 'controller',
              image: options.image,
              imagePullPolicy: 'IfNotPresent',
              args: [
                'controller',
                '--policy',
                POLICY_MOUNT,
                '--metrics-port',
                String(CONTROLLER_METRICS_PORT),
                '--interval',
                controller.interval,
              ],
              // The Lease lives beside the controller: its namespace, from the downward API.
              env: [{ name: 'POD_NAMESPACE', valueFrom: { fieldRef: { fieldPath: 'metadata.namespace' } } }],
              ports: [{ name: 'metrics', containerPort: CONTROLLER_METRICS_PORT, protocol: 'TCP' }],
              livenessProbe: probe(),
              readinessProbe: probe(),
              resources: {
                requests: { cpu: '100m', memory: '256Mi' },
                limits: { cpu: '1', memory: '1Gi' },
              },
              securityContext: containerSecurityContext(),
              volumeMounts: [
                { name: 'policies', mountPath: POLICY_MOUNT, readOnly: true },
                { name: 'tmp', mountPath: '/tmp' },
              ],
            },
          ],
          volumes: [policyVolume(policyConfigMap), tmpVolume()],
        },
      },
    },
  };
}
