/**
 * What every Portcullis pod runs with, webhook and controller alike: the restricted Pod Security
 * Standard (its namespace enforces it), a read-only root filesystem and the policies mounted as a
 * directory. Functions, not constants: each object gets its own copy, so the YAML printer never turns
 * a shared one into an anchor and alias.
 */
export const POLICY_MOUNT = '/etc/portcullis/policies';
const RUN_AS = 65532;

export function podSecurityContext(): Record<string, unknown> {
  return {
    runAsNonRoot: true,
    runAsUser: RUN_AS,
    runAsGroup: RUN_AS,
    fsGroup: RUN_AS,
    seccompProfile: { type: 'RuntimeDefault' },
  };
}

export function containerSecurityContext(): Record<string, unknown> {
  return {
    runAsNonRoot: true,
    allowPrivilegeEscalation: false,
    readOnlyRootFilesystem: true,
    capabilities: { drop: ['ALL'] },
    seccompProfile: { type: 'RuntimeDefault' },
  };
}

/** Mounted as a directory (no subPath), so ConfigMap updates reach the pod. */
export function policyVolume(policyConfigMap: string): Record<string, unknown> {
  return { name: 'policies', configMap: { name: policyConfigMap } };
}

/** The only writable place: the root filesystem is read-only. */
export function tmpVolume(): Record<string, unknown> {
  return { name: 'tmp', emptyDir: { sizeLimit: '64Mi' } };
}

/** The same probe timing for every pod: a stuck process is restarted after 30 s. */
export function httpProbe(path: string, port: string, scheme: 'HTTP' | 'HTTPS'): Record<string, unknown> {
  return { httpGet: { path, port, scheme }, periodSeconds: 10, timeoutSeconds: 3, failureThreshold: 3 };
}
