/**
 * Policies from the cluster: `ImagePolicy` (cluster-scoped) and `NamespacedImagePolicy`
 * custom resources of portcullis.dev/v1alpha1, listed then watched through the API.
 *
 * Each resource is turned into a policy document (apiVersion, kind ImagePolicy, metadata.name, spec)
 * and compiled alone by the same loader as files (src/policy/load.ts), so one bad resource is rejected
 * with a logged error naming it and never takes the others down; when a resource that was good is
 * changed into a bad one, its last good version stays in force.
 *
 * A NamespacedImagePolicy applies only in its namespace: its compiled policy is named
 * `<namespace>/<name>` (a `/` cannot appear in a file policy's name, so the names never collide) and
 * carries `namespace`; `forNamespace` leaves it out of every other request's policy set.
 *
 * Watching: list (resourceVersion), then watch from it; a watch the server ends is resumed from the last
 * version seen; 410 Gone (the version was compacted away) lists again; any other error waits with a
 * bounded exponential backoff. Until both kinds have been listed once, `synced` stays pending: serving
 * without the cluster's policies could admit what they deny.
 */
import type { Policy, PolicySet } from '../policy/model.ts';
import { loadPolicySet, setVersion } from '../policy/load.ts';
import { formatDiagnostic } from '../policy/format-diagnostic.ts';
import type { KubernetesApi, PolicyResource, PolicyResourceKind, WatchEvent } from './api.ts';
import { KubernetesApiError, POLICY_GROUP, POLICY_VERSION } from './api.ts';
import { pause } from '../util/pause.ts';
import { isJsonObject as isObject } from './pod-spec.ts';

export const POLICY_KINDS: readonly PolicyResourceKind[] = ['ImagePolicy', 'NamespacedImagePolicy'];
/** At most this many resources are kept (per kind); more are rejected with a logged error. */
export const MAX_POLICY_RESOURCES = 1000;

export type CompiledResource =
  { readonly ok: true; readonly policy: Policy } | { readonly ok: false; readonly errors: readonly string[] };

/** How a resource is named in logs: `ImagePolicy prod`, `NamespacedImagePolicy team-a/prod`. */
export function resourceName(kind: PolicyResourceKind, resource: PolicyResource): string {
  const ns = resource.metadata.namespace;
  return `${kind} ${kind === 'NamespacedImagePolicy' && ns ? `${ns}/` : ''}${resource.metadata.name}`;
}

/**
 * The policy document a resource stands for. A namespaced resource gets `spec.match.namespaces: [its
 * namespace]`, so the compiled policy says where it applies (and `forNamespace` enforces it even when a
 * request's context is unknown).
 */
export function policyDocument(resource: PolicyResource): Record<string, unknown> {
  const namespace = resource.metadata.namespace;
  let spec = resource.spec ?? null;
  if (namespace && isObject(spec)) {
    const match = isObject(spec.match) ? spec.match : {};
    spec = { ...spec, match: { ...match, namespaces: [namespace] } };
  }
  return {
    apiVersion: `${POLICY_GROUP}/${POLICY_VERSION}`,
    kind: 'ImagePolicy',
    metadata: { name: resource.metadata.name },
    spec,
  };
}

/** Compiles one resource with the file loader. */
export function compileResource(kind: PolicyResourceKind, resource: PolicyResource): CompiledResource {
  const name = resourceName(kind, resource);
  if (resource.apiVersion !== undefined && resource.apiVersion !== `${POLICY_GROUP}/${POLICY_VERSION}`) {
    return {
      ok: false,
      errors: [`${name}: apiVersion ${resource.apiVersion} is not ${POLICY_GROUP}/${POLICY_VERSION}`],
    };
  }
  const namespace = resource.metadata.namespace;
  if (kind === 'NamespacedImagePolicy' && !namespace) {
    return { ok: false, errors: [`${name}: a NamespacedImagePolicy without metadata.namespace`] };
  }
  if (kind === 'NamespacedImagePolicy' && isObject(resource.spec) && isObject(resource.spec.match)) {
    const match = resource.spec.match;
    if (match.namespaces !== undefined || match.namespaceSelector !== undefined) {
      return {
        ok: false,
        errors: [
          `${name}: spec.match.namespaces and spec.match.namespaceSelector cannot be set in a NamespacedImagePolicy: it applies only to its own namespace (use an ImagePolicy)`,
        ],
      };
    }
  }
  const loaded = loadPolicySet([{ path: name, text: JSON.stringify(policyDocument(resource)) }]);
  if (!loaded.ok) {
    return {
      ok: false,
      errors: loaded.diagnostics.filter((d) => d.severity === 'error').map(formatDiagnostic),
    };
  }
  if (loaded.policySet.policies.length !== 1)
    return { ok: false, errors: [`${name}: not exactly one policy`] };
  const policy = loaded.policySet.policies[0]!;
  if (kind === 'ImagePolicy') return { ok: true, policy };
  return { ok: true, policy: { ...policy, name: `${namespace}/${policy.name}`, namespace } };
}

/**
 * The file policies plus the cluster's. A cluster resource named like a file policy is left out (the
 * files, which the operator controls, win) and reported.
 */
export function mergePolicies(
  files: PolicySet,
  resources: readonly Policy[],
): { readonly policySet: PolicySet; readonly conflicts: readonly string[] } {
  if (resources.length === 0) return { policySet: files, conflicts: [] };
  const names = new Set(files.policies.map((p) => p.name));
  const conflicts: string[] = [];
  const policies = [...files.policies];
  for (const policy of resources) {
    if (names.has(policy.name)) {
      conflicts.push(
        `${policy.source.file}: a policy named ${policy.name} is already loaded; this resource is ignored`,
      );
      continue;
    }
    names.add(policy.name);
    policies.push(policy);
  }
  return {
    policySet: { ...files, policies, version: setVersion(policies, files.noMatch) },
    conflicts,
  };
}

/** The set as it applies to a request in `namespace`: other namespaces' policies left out. */
export function forNamespace(set: PolicySet, namespace: string | undefined): PolicySet {
  if (!set.policies.some((p) => p.namespace !== undefined)) return set;
  const policies = set.policies.filter((p) => p.namespace === undefined || p.namespace === namespace);
  return { ...set, policies, version: setVersion(policies, set.noMatch) };
}

export interface PolicyWatchLogger {
  info(fields: object, message: string): void;
  warn(fields: object, message: string): void;
  error(fields: object, message: string): void;
}

export interface PolicyWatchOptions {
  /** Called after the active resource policies changed (not called for rejected changes). */
  readonly onChange: () => void;
  readonly logger: PolicyWatchLogger;
  readonly backoff?: { readonly initialMs?: number; readonly maxMs?: number };
}

interface Entry {
  readonly policy: Policy;
  readonly resourceVersion: string;
}

/** Keeps the compiled policies of both kinds in step with the API server. */
export class PolicyResourceWatcher {
  readonly #api: KubernetesApi;
  readonly #options: PolicyWatchOptions;
  readonly #entries = new Map<string, Entry>();
  readonly #abort = new AbortController();
  readonly #synced: Promise<void>;
  #resolveSynced!: () => void;
  readonly #listed = new Set<PolicyResourceKind>();
  #loops: Promise<void>[] = [];

  constructor(api: KubernetesApi, options: PolicyWatchOptions) {
    this.#api = api;
    this.#options = options;
    this.#synced = new Promise((resolve) => (this.#resolveSynced = resolve));
  }

  /** Resolves once both kinds have been listed. */
  synced(): Promise<void> {
    return this.#synced;
  }

  /** The active compiled policies, in a stable order. */
  policies(): Policy[] {
    return [...this.#entries.entries()]
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
      .map(([, e]) => e.policy);
  }

  start(): void {
    this.#loops = POLICY_KINDS.map((kind) => this.#run(kind));
  }

  async close(): Promise<void> {
    this.#abort.abort();
    await Promise.allSettled(this.#loops);
  }

  async #run(kind: PolicyResourceKind): Promise<void> {
    const signal = this.#abort.signal;
    const initial = this.#options.backoff?.initialMs ?? 500;
    const max = this.#options.backoff?.maxMs ?? 30_000;
    let failures = 0;
    let version: string | undefined;
    while (!signal.aborted) {
      try {
        if (version === undefined) {
          const list = await this.#api.listImagePolicies(kind);
          this.#replace(kind, list.items);
          version = list.resourceVersion;
          if (!this.#listed.has(kind)) {
            this.#listed.add(kind);
            if (this.#listed.size === POLICY_KINDS.length) this.#resolveSynced();
          }
        }
        let from: string = version;
        await this.#api.watchImagePolicies(
          kind,
          from,
          (event) => {
            failures = 0;
            from = this.#apply(kind, event) ?? from;
          },
          signal,
        );
        version = from;
        failures = 0;
      } catch (error) {
        if (signal.aborted) return;
        if (error instanceof KubernetesApiError && error.status === 410) {
          this.#options.logger.info({ kind }, 'policy watch expired (410 Gone); listing again');
          version = undefined;
          continue;
        }
        failures += 1;
        const wait = Math.min(max, initial * 2 ** Math.min(failures - 1, 16));
        this.#options.logger.error(
          { kind, error: (error as Error).message, retryInMs: wait },
          `cannot ${version === undefined ? 'list' : 'watch'} ${kind} resources`,
        );
        await pause(wait, signal);
      }
    }
  }

  #key(kind: PolicyResourceKind, resource: PolicyResource): string {
    return `${kind}/${resource.metadata.namespace ?? ''}/${resource.metadata.name}`;
  }

  /** A full list: what is not in it is gone; bad items keep their last good version. */
  #replace(kind: PolicyResourceKind, items: readonly PolicyResource[]): void {
    const before = new Map([...this.#entries].filter(([k]) => k.startsWith(`${kind}/`)));
    let changed = false;
    const seen = new Set<string>();
    for (const item of items.slice(0, MAX_POLICY_RESOURCES)) {
      const key = this.#key(kind, item);
      seen.add(key);
      changed = this.#upsert(kind, item) || changed;
    }
    if (items.length > MAX_POLICY_RESOURCES) {
      this.#options.logger.error(
        { kind, count: items.length },
        `more than ${MAX_POLICY_RESOURCES} ${kind} resources; the rest are ignored`,
      );
    }
    for (const key of before.keys()) {
      if (!seen.has(key)) {
        this.#entries.delete(key);
        changed = true;
      }
    }
    if (changed) this.#options.onChange();
  }

  /** Returns the resourceVersion to resume from. */
  #apply(kind: PolicyResourceKind, event: WatchEvent<PolicyResource>): string | undefined {
    if (event.type === 'BOOKMARK') return event.resourceVersion;
    const resource = event.object;
    let changed: boolean;
    if (event.type === 'DELETED') {
      changed = this.#entries.delete(this.#key(kind, resource));
      if (changed)
        this.#options.logger.info({ resource: resourceName(kind, resource) }, 'policy resource deleted');
    } else {
      changed = this.#upsert(kind, resource);
    }
    if (changed) this.#options.onChange();
    return resource.metadata.resourceVersion;
  }

  #upsert(kind: PolicyResourceKind, resource: PolicyResource): boolean {
    const key = this.#key(kind, resource);
    const previous = this.#entries.get(key);
    const rv = resource.metadata.resourceVersion ?? '';
    if (previous && rv !== '' && previous.resourceVersion === rv) return false;
    if (!previous && this.#entries.size >= MAX_POLICY_RESOURCES * POLICY_KINDS.length) {
      this.#options.logger.error(
        { resource: resourceName(kind, resource) },
        'too many policy resources; ignored',
      );
      return false;
    }
    const compiled = compileResource(kind, resource);
    if (!compiled.ok) {
      this.#options.logger.error(
        {
          resource: resourceName(kind, resource),
          diagnostics: compiled.errors,
          ...(previous ? { keeping: previous.resourceVersion } : {}),
        },
        previous
          ? `${resourceName(kind, resource)} rejected; its last good version stays in force`
          : `${resourceName(kind, resource)} rejected; it is not in force`,
      );
      return false;
    }
    this.#entries.set(key, { policy: compiled.policy, resourceVersion: rv });
    if (previous?.policy.version === compiled.policy.version) return false;
    this.#options.logger.info(
      { resource: resourceName(kind, resource), version: compiled.policy.version },
      'policy resource loaded',
    );
    return true;
  }
}
