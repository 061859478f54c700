/** What `portcullis install` can be asked for, checked before anything is generated. */
import { parseReference, ReferenceParseError } from '../reference/index.ts';

export const FAILURE_POLICIES = ['Fail', 'Ignore'] as const;
export type FailurePolicy = (typeof FAILURE_POLICIES)[number];

export interface InstallOptions {
  readonly namespace: string;
  readonly image: string;
  readonly replicas: number;
  /** cert-manager issues and rotates the serving certificate instead of a CA generated now. */
  readonly certManager: boolean;
  /** An existing ConfigMap of policy files, managed by the user; otherwise `policyFiles` are embedded. */
  readonly policyConfigMap?: string;
  /** Policy files (name → YAML text) for the generated ConfigMap. */
  readonly policyFiles?: ReadonlyMap<string, string>;
  readonly failurePolicy: FailurePolicy;
  readonly timeoutSeconds: number;
  /** Namespaces the webhooks never see, beyond kube-system and Portcullis's own. */
  readonly excludeNamespaces: readonly string[];
  /** Also run `portcullis controller` (continuous re-verification); absent: the webhook only. */
  readonly controller?: ControllerInstallOptions;
}

export interface ControllerInstallOptions {
  /**
   * Its `--interval`, as the user wrote it (`90s`, `10m`, `1h`): checked by the caller with the
   * controller command's own parser, so install never accepts what the controller would refuse.
   */
  readonly interval: string;
}

export const DEFAULTS = {
  namespace: 'portcullis',
  image: 'ghcr.io/portcullis/portcullis:0.1.0',
  replicas: 2,
  failurePolicy: 'Fail' as FailurePolicy,
  timeoutSeconds: 10,
  controllerInterval: '10m',
} as const;

export const GENERATED_POLICY_CONFIGMAP = 'portcullis-policies';

export class InstallOptionError extends Error {
  readonly code = 'INSTALL_OPTION';
  constructor(message: string) {
    super(message);
    this.name = 'InstallOptionError';
  }
}

/** RFC 1123 label: what a namespace name must be. */
const DNS_LABEL = /^[a-z0-9](?:[-a-z0-9]{0,61}[a-z0-9])?$/;
/** RFC 1123 subdomain: what a ConfigMap name must be. */
const DNS_SUBDOMAIN = /^(?=.{1,253}$)[a-z0-9](?:[-a-z0-9]*[a-z0-9])?(?:\.[a-z0-9](?:[-a-z0-9]*[a-z0-9])?)*$/;
/** A ConfigMap key. */
const CONFIGMAP_KEY = /^[-._a-zA-Z0-9]{1,253}$/;
/** The API server's limit on a ConfigMap's data. */
export const MAX_CONFIGMAP_BYTES = 1024 * 1024;

export function checkNamespace(value: string, flag: string): string {
  if (!DNS_LABEL.test(value))
    throw new InstallOptionError(
      `${flag} must be a namespace name (lowercase letters, digits and '-', at most 63), not ${JSON.stringify(value)}`,
    );
  return value;
}

export function checkConfigMapName(value: string): string {
  if (!DNS_SUBDOMAIN.test(value))
    throw new InstallOptionError(
      `--policy-configmap must be a ConfigMap name (lowercase DNS subdomain), not ${JSON.stringify(value)}`,
    );
  return value;
}

export function checkConfigMapKey(value: string): string {
  if (!CONFIGMAP_KEY.test(value) || value === '.' || value === '..')
    throw new InstallOptionError(
      `policy file name ${JSON.stringify(value)} cannot be a ConfigMap key (letters, digits, '-', '_', '.')`,
    );
  return value;
}

export function parseInteger(value: string, flag: string, min: number, max: number): number {
  const n = /^[0-9]+$/.test(value) ? Number(value) : NaN;
  if (!Number.isSafeInteger(n) || n < min || n > max)
    throw new InstallOptionError(
      `${flag} must be a whole number from ${min} to ${max}, not ${JSON.stringify(value)}`,
    );
  return n;
}

export function parseFailurePolicy(value: string): FailurePolicy {
  const found = FAILURE_POLICIES.find((p) => p === value);
  if (!found)
    throw new InstallOptionError(`--failure-policy must be Fail or Ignore, not ${JSON.stringify(value)}`);
  return found;
}

/**
 * The image must be a valid reference (the project's own grammar): then it has no whitespace or control
 * characters that would break YAML, and the kubelet can pull it.
 */
export function checkImage(value: string): string {
  try {
    parseReference(value);
  } catch (error) {
    if (!(error instanceof ReferenceParseError)) throw error;
    throw new InstallOptionError(
      `--image must be an image reference, not ${JSON.stringify(value)}: ${error.detail} at position ${error.position + 1}`,
    );
  }
  return value;
}

/**
 * The internal deadline `serve` answers within: under the API server's timeout, so a slow registry ends
 * in Portcullis's denial with a reason rather than in failurePolicy.
 */
export function deadlineFor(timeoutSeconds: number): number {
  return timeoutSeconds >= 3 ? timeoutSeconds - 1 : timeoutSeconds / 2;
}
