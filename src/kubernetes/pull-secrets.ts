/**
 * Registry credentials at admission: the workload's `imagePullSecrets` and its service account's, read
 * from the Kubernetes API in the workload's own namespace (never another), in the order the kubelet
 * uses them, ahead of the webhook's static configuration.
 *
 * Each secret becomes a credential store keyed by EXACT canonical registry host
 * (kubernetesSecretCredentials): a secret for `registry.acme.example` is never sent to
 * `registry.acme.example.evil.io` (GHSA-pf56-329r-95rw), and secrets never run credential helpers.
 *
 * Like the kubelet, a missing secret is not an error (it is recorded); a failing API is: the secrets are
 * then unavailable, images that need them fail at the registry, and the request is denied with a line
 * saying why.
 *
 * The registry client is chosen per credential set: a client holds tokens per (host, scope), which must
 * never be shared between workloads with different secrets. Clients are cached by (namespace, secret
 * names and resourceVersions), so a changed secret gets a fresh client, and the cache is bounded.
 */
import type { CredentialStore } from '../registry/credentials.ts';
import { chainCredentials, kubernetesSecretCredentials } from '../registry/credentials.ts';
import type { RegistryClient } from '../registry/client.ts';
import { isJsonObject, podSpecPath } from './pod-spec.ts';
import type { KubernetesApi, Secret } from './api.ts';
import { LookupCache } from './lookup-cache.ts';

export const DOCKER_CONFIG_JSON = 'kubernetes.io/dockerconfigjson';
export const DOCKER_CFG = 'kubernetes.io/dockercfg';

/** Bounds: more names than this in one object are not read (the rest are reported). */
export const PULL_SECRET_LIMITS = { maxSecrets: 32, cacheTtlMs: 10_000, cacheEntries: 2048 } as const;

/** Who pulls a workload's images: its pull secrets and service account. */
export interface PullIdentity {
  readonly imagePullSecrets: readonly string[];
  readonly serviceAccountName: string;
}

/** The pod spec's pull identity; undefined when the object has no pod spec we know. */
export function pullIdentity(object: unknown, kind: string): PullIdentity | undefined {
  const path = podSpecPath(kind);
  if (!path) return undefined;
  let spec: unknown = object;
  for (const key of path) spec = isJsonObject(spec) ? spec[key] : undefined;
  if (!isJsonObject(spec)) return undefined;
  const names = Array.isArray(spec.imagePullSecrets)
    ? spec.imagePullSecrets.flatMap((s) =>
        isJsonObject(s) && typeof s.name === 'string' && s.name ? [s.name] : [],
      )
    : [];
  const account =
    typeof spec.serviceAccountName === 'string' && spec.serviceAccountName
      ? spec.serviceAccountName
      : typeof spec.serviceAccount === 'string' && spec.serviceAccount
        ? spec.serviceAccount
        : 'default';
  return { imagePullSecrets: [...new Set(names)], serviceAccountName: account };
}

export interface PullCredentials {
  /** The secrets' stores, in order, then the static one. */
  readonly credentials: CredentialStore;
  /** Identifies the credential set: namespace and each secret's name@resourceVersion. */
  readonly key: string;
  /** Secrets used (`namespace/name`). */
  readonly used: readonly string[];
  /** Not found, of an unusable type, or unreadable content: recorded, not fatal (as for the kubelet). */
  readonly notes: readonly string[];
  /** The API could not be asked: the workload's credentials are unknown. */
  readonly problem?: string;
}

/** Reads pull secrets through the API, with a short cache so that a burst of pods costs few calls. */
export class PullSecretReader {
  readonly #api: KubernetesApi;
  readonly #cache: LookupCache<unknown>;

  constructor(api: KubernetesApi, now: () => number = Date.now) {
    this.#api = api;
    this.#cache = new LookupCache({
      ttlMs: PULL_SECRET_LIMITS.cacheTtlMs,
      maxEntries: PULL_SECRET_LIMITS.cacheEntries,
      now,
    });
  }

  async credentialsFor(
    namespace: string,
    identity: PullIdentity,
    fallback: CredentialStore,
  ): Promise<PullCredentials> {
    const notes: string[] = [];
    let problem: string | undefined;
    const names = [...identity.imagePullSecrets];
    try {
      const account = await this.#cached(`sa/${namespace}/${identity.serviceAccountName}`, () =>
        this.#api.getServiceAccount(namespace, identity.serviceAccountName),
      );
      if (!account) {
        notes.push(`service account ${namespace}/${identity.serviceAccountName} not found`);
      } else {
        for (const ref of account.imagePullSecrets ?? []) {
          if (typeof ref.name === 'string' && ref.name && !names.includes(ref.name)) names.push(ref.name);
        }
      }
    } catch (error) {
      problem = `the service account ${namespace}/${identity.serviceAccountName} could not be read from the Kubernetes API: ${(error as Error).message}`;
    }
    if (names.length > PULL_SECRET_LIMITS.maxSecrets) {
      notes.push(
        `only the first ${PULL_SECRET_LIMITS.maxSecrets} of ${names.length} image pull secrets are read`,
      );
      names.length = PULL_SECRET_LIMITS.maxSecrets;
    }
    const stores: CredentialStore[] = [];
    const used: string[] = [];
    const keys: string[] = [];
    const secrets = await Promise.allSettled(
      names.map((name) =>
        this.#cached(`secret/${namespace}/${name}`, () => this.#api.getSecret(namespace, name)),
      ),
    );
    secrets.forEach((outcome, i) => {
      const name = names[i]!;
      const where = `image pull secret ${namespace}/${name}`;
      if (outcome.status === 'rejected') {
        problem ??= `${where} could not be read from the Kubernetes API: ${(outcome.reason as Error).message}`;
        return;
      }
      const secret = outcome.value as Secret | undefined;
      if (!secret) {
        notes.push(`${where} not found`);
        keys.push(`${name}@-`);
        return;
      }
      keys.push(`${name}@${secret.metadata.resourceVersion ?? '?'}`);
      try {
        const store = secretStore(secret, where);
        if (store) {
          stores.push(store);
          used.push(`${namespace}/${name}`);
        } else {
          notes.push(`${where} has type ${JSON.stringify(secret.type ?? '')}, not ${DOCKER_CONFIG_JSON}`);
        }
      } catch (error) {
        notes.push(`${where} is unusable: ${(error as Error).message}`);
      }
    });
    return {
      credentials: stores.length === 0 ? fallback : chainCredentials(...stores, fallback),
      key: stores.length === 0 ? '' : `${namespace}/${keys.join(',')}`,
      used,
      notes,
      ...(problem !== undefined ? { problem } : {}),
    };
  }

  #cached<T>(key: string, load: () => Promise<T | undefined>): Promise<T | undefined> {
    return this.#cache.get(key, load) as Promise<T | undefined>;
  }
}

/** A dockerconfigjson (or legacy dockercfg) secret's credentials; undefined for other types. */
export function secretStore(secret: Secret, where: string): CredentialStore | undefined {
  const data = secret.data ?? {};
  if (secret.type === DOCKER_CONFIG_JSON) {
    return kubernetesSecretCredentials(decodeJson(data['.dockerconfigjson'], '.dockerconfigjson'), where);
  }
  if (secret.type === DOCKER_CFG) {
    // The legacy format is the `auths` map alone.
    return kubernetesSecretCredentials({ auths: decodeJson(data['.dockercfg'], '.dockercfg') }, where);
  }
  return undefined;
}

function decodeJson(value: string | undefined, key: string): unknown {
  if (typeof value !== 'string') throw new Error(`data[${JSON.stringify(key)}] is missing`);
  try {
    return JSON.parse(Buffer.from(value, 'base64').toString('utf8'));
  } catch {
    throw new Error(`data[${JSON.stringify(key)}] is not base64 of JSON`);
  }
}

/**
 * Registry clients per credential set, least recently used first out. An evicted client is closed
 * after a grace period, so decisions still using it finish.
 */
export class RegistryClientPool {
  readonly #make: (credentials: CredentialStore) => RegistryClient;
  readonly #max: number;
  readonly #graceMs: number;
  readonly #clients = new Map<string, RegistryClient>();
  readonly #retiring = new Map<RegistryClient, NodeJS.Timeout>();

  constructor(
    make: (credentials: CredentialStore) => RegistryClient,
    options: { max?: number; graceMs?: number } = {},
  ) {
    this.#make = make;
    this.#max = options.max ?? 64;
    this.#graceMs = options.graceMs ?? 60_000;
  }

  get size(): number {
    return this.#clients.size;
  }

  clientFor(key: string, credentials: CredentialStore): RegistryClient {
    let client = this.#clients.get(key);
    if (client) {
      this.#clients.delete(key);
    } else {
      client = this.#make(credentials);
    }
    this.#clients.set(key, client);
    while (this.#clients.size > this.#max) {
      const [oldest, evicted] = this.#clients.entries().next().value!;
      this.#clients.delete(oldest);
      this.#retire(evicted);
    }
    return client;
  }

  #retire(client: RegistryClient): void {
    const timer = setTimeout(() => {
      this.#retiring.delete(client);
      void client.close();
    }, this.#graceMs);
    timer.unref();
    this.#retiring.set(client, timer);
  }

  async close(): Promise<void> {
    const clients = [...this.#clients.values(), ...this.#retiring.keys()];
    for (const timer of this.#retiring.values()) clearTimeout(timer);
    this.#retiring.clear();
    this.#clients.clear();
    await Promise.allSettled(clients.map((c) => c.close()));
  }
}
