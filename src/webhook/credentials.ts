/**
 * The registry client an admission request decides with: one holding the workload's pull secrets (and
 * its service account's) ahead of the static credentials, or the static client when it has none.
 * See src/kubernetes/pull-secrets.ts for how secrets are read, scoped and cached.
 */
import type { AdmissionRequest } from '../kubernetes/types.ts';
import type { KubernetesApi } from '../kubernetes/api.ts';
import { pullIdentity, PullSecretReader, RegistryClientPool } from '../kubernetes/pull-secrets.ts';
import type { RegistryClient } from '../registry/client.ts';
import type { CredentialStore } from '../registry/credentials.ts';

export interface RequestCredentials {
  /** Absent: decide with the static client. */
  readonly registry?: RegistryClient;
  readonly used: readonly string[];
  readonly notes: readonly string[];
  /** The secrets could not be read: images needing them fail at the registry, and the denial says why. */
  readonly problem?: string;
}

export type CredentialsResolver = (
  request: AdmissionRequest,
  object: unknown,
  kind: string,
) => Promise<RequestCredentials | undefined>;

/** The credentials of a workload object (`kind` names where its pod spec is) in its namespace. */
export type ObjectCredentials = (
  namespace: string,
  object: unknown,
  kind: string,
) => Promise<RequestCredentials | undefined>;

export interface PullSecretCredentials {
  readonly resolve: CredentialsResolver;
  /** The same for an object read from the API (the controller's running pods). */
  readonly forObject: ObjectCredentials;
  close(): Promise<void>;
}

/**
 * `staticCredentials` are the webhook's own (Docker config from flags); `makeClient` builds a client
 * with the registry settings from flags around a credential store.
 */
export function pullSecretCredentials(
  api: KubernetesApi,
  staticCredentials: CredentialStore,
  makeClient: (credentials: CredentialStore) => RegistryClient,
  options: { maxClients?: number } = {},
): PullSecretCredentials {
  const reader = new PullSecretReader(api);
  const pool = new RegistryClientPool(makeClient, options.maxClients ? { max: options.maxClients } : {});
  const forObject: ObjectCredentials = async (namespace, object, kind) => {
    const identity = pullIdentity(object, kind);
    if (!identity || !namespace) return undefined;
    const found = await reader.credentialsFor(namespace, identity, staticCredentials);
    return {
      ...(found.key !== '' ? { registry: pool.clientFor(found.key, found.credentials) } : {}),
      used: found.used,
      notes: found.notes,
      ...(found.problem !== undefined ? { problem: found.problem } : {}),
    };
  };
  return {
    resolve: (request, object, kind) => forObject(request.namespace ?? '', object, kind),
    forObject,
    close: () => pool.close(),
  };
}
