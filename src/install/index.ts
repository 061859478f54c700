/**
 * `portcullis install`: the manifests that run the admission webhook in a cluster, and with
 * `--controller` the controller beside it (docs/install.md).
 */
export type { KubeObject } from './objects.ts';
export type { InstallOptions, FailurePolicy } from './options.ts';
export { DEFAULTS, InstallOptionError, GENERATED_POLICY_CONFIGMAP } from './options.ts';
export type { Manifests } from './manifests.ts';
export { buildManifests, SERVICE_NAME, TLS_SECRET, WEBHOOK_RULES } from './manifests.ts';
export type { OutputFormat } from './format.ts';
export { formatManifests, OUTPUT_FORMATS } from './format.ts';
export type { WebhookCertificates } from './certificates.ts';
export { generateWebhookCertificates, serviceDnsNames } from './certificates.ts';
export { policyCrds, policyOpenApiSchema, POLICY_GROUP, POLICY_VERSION, POLICY_RESOURCES } from './crd.ts';
export { structuralProblems } from './structural.ts';
export type { ControllerInstallOptions } from './options.ts';
export {
  controllerObjects,
  controllerRules,
  controllerLeaseRules,
  CONTROLLER_NAME,
  CONTROLLER_METRICS_SERVICE,
  CONTROLLER_METRICS_PORT,
  CONTROLLER_SELECTOR,
} from './controller.ts';
