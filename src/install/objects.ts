/** The shape every generated manifest has, and the labels they share. */

export interface KubeObject {
  readonly apiVersion: string;
  readonly kind: string;
  readonly metadata: {
    name: string;
    namespace?: string;
    labels?: Record<string, string>;
    [key: string]: unknown;
  };
  readonly [key: string]: unknown;
}

export const APP_NAME = 'portcullis';
export const APP_VERSION = '0.1.0';

export function labels(component: string): Record<string, string> {
  return {
    'app.kubernetes.io/name': APP_NAME,
    'app.kubernetes.io/component': component,
    'app.kubernetes.io/version': APP_VERSION,
    'app.kubernetes.io/managed-by': 'portcullis-install',
  };
}

/** What the Deployment's pods carry and what its Service, PDB and spread constraints select. */
export const SELECTOR = { 'app.kubernetes.io/name': APP_NAME, 'app.kubernetes.io/component': 'webhook' };
