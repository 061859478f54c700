/**
 * The policies the webhook decides with: loaded from files or directories (a mounted ConfigMap), and
 * reloaded when they change. A bad update is rejected with its diagnostics logged and the last good set
 * stays active: a typo in a ConfigMap must neither open the cluster nor close it.
 */
import type { ImageDecider } from '../app/decide.ts';
import type { Policy, PolicySet } from '../policy/model.ts';
import type { RegistryClient } from '../registry/client.ts';
import { forNamespace, mergePolicies } from '../kubernetes/policy-crd.ts';
import type { Diagnostic } from '../policy/load.ts';
import { loadPolicyPaths } from '../policy/load.ts';
import { formatDiagnostic } from '../policy/format-diagnostic.ts';
import type { Engine } from './engine.ts';
import type { Watcher } from './watch.ts';
import { watchPaths } from './watch.ts';

export type ReloadResult =
  | { readonly status: 'loaded'; readonly version: string; readonly policies: number }
  | { readonly status: 'unchanged'; readonly version: string }
  | { readonly status: 'rejected'; readonly diagnostics: readonly string[] };

export interface PolicyStoreEvents {
  onReload?(result: ReloadResult, previousVersion: string | undefined): void;
  /** Policies from the cluster (ImagePolicy resources), added to the files' at each load. */
  resources?(): readonly Policy[];
  /** Cluster policies left out because a file policy has the same name. */
  onConflicts?(conflicts: readonly string[]): void;
}

/** Builds a decider for a policy set, with a given registry client (the static one when absent). */
export type MakeDecider = (policySet: PolicySet, registry?: RegistryClient) => ImageDecider;

/**
 * The engine of a set: by default the cluster-wide policies only; `scoped` adds the request's
 * namespaced ones and its registry client. Each namespace's set is made once per load, not per request:
 * a namespace without policies of its own is served the cluster-wide set itself.
 */
export function engineFor(policySet: PolicySet, makeDecider: MakeDecider): Engine {
  const clusterWide = forNamespace(policySet, undefined);
  const ownSets = new Map<string, PolicySet>();
  for (const { namespace } of policySet.policies) {
    if (namespace !== undefined && !ownSets.has(namespace)) {
      ownSets.set(namespace, forNamespace(policySet, namespace));
    }
  }
  return {
    policySet: clusterWide,
    decider: makeDecider(clusterWide),
    scoped: ({ namespace, registry }) => {
      const set = (namespace !== undefined ? ownSets.get(namespace) : undefined) ?? clusterWide;
      return { policySet: set, decider: makeDecider(set, registry) };
    },
  };
}

export class PolicyStore {
  private engine: Engine | undefined;
  private watcher: Watcher | undefined;
  private readonly paths: readonly string[];
  private readonly makeDecider: MakeDecider;
  private full: PolicySet | undefined;
  private readonly events: PolicyStoreEvents;
  private loading: Promise<ReloadResult> | undefined;
  private again = false;

  constructor(paths: readonly string[], makeDecider: MakeDecider, events: PolicyStoreEvents = {}) {
    this.paths = paths;
    this.makeDecider = makeDecider;
    this.events = events;
  }

  /** The whole set in force (namespaced policies included). */
  policySet(): PolicySet | undefined {
    return this.full;
  }

  /** The engine in force, undefined until a set has loaded. */
  current(): Engine | undefined {
    return this.engine;
  }

  /**
   * Loads the files again; installs the result only if it is valid. Reloads never overlap: a change
   * during a load triggers one more load after it.
   */
  async reload(): Promise<ReloadResult> {
    if (this.loading) {
      this.again = true;
      return this.loading;
    }
    this.loading = this.loadOnce();
    try {
      let result = await this.loading;
      while (this.again) {
        this.again = false;
        this.loading = this.loadOnce();
        result = await this.loading;
      }
      return result;
    } finally {
      this.loading = undefined;
    }
  }

  private async loadOnce(): Promise<ReloadResult> {
    const previous = this.full?.version;
    let result: ReloadResult;
    try {
      const loaded = await loadPolicyPaths(this.paths);
      if (!loaded.ok) {
        result = {
          status: 'rejected',
          diagnostics: loaded.diagnostics.filter(isError).map(formatDiagnostic),
        };
      } else {
        const merged = mergePolicies(loaded.policySet, this.events.resources?.() ?? []);
        if (merged.conflicts.length > 0) this.events.onConflicts?.(merged.conflicts);
        const set = merged.policySet;
        if (set.version === previous) {
          result = { status: 'unchanged', version: set.version };
        } else {
          this.full = set;
          this.engine = engineFor(set, this.makeDecider);
          result = { status: 'loaded', version: set.version, policies: set.policies.length };
        }
      }
    } catch (error) {
      result = {
        status: 'rejected',
        diagnostics: [`internal error loading policies: ${(error as Error).message}`],
      };
    }
    this.events.onReload?.(result, previous);
    return result;
  }

  /** Reload whenever the files change. */
  watch(options?: { debounceMs?: number; pollMs?: number }): void {
    this.watcher?.close();
    this.watcher = watchPaths(this.paths, () => void this.reload(), options);
  }

  close(): void {
    this.watcher?.close();
  }
}

const isError = (d: Diagnostic) => d.severity === 'error';
