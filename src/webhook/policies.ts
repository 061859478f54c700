/**
 * The policies the webhook decides with: loaded from files or directories (a mounted ConfigMap), and
 * reloaded when they change. A bad update is rejected with its diagnostics logged and the last good set
 * stays active: a typo in a ConfigMap must neither open the cluster nor close it.
 */
import type { ImageDecider } from '../app/decide.ts';
import type { PolicySet } from '../policy/model.ts';
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
}

export class PolicyStore {
  private engine: Engine | undefined;
  private watcher: Watcher | undefined;
  private readonly paths: readonly string[];
  private readonly makeDecider: (policySet: PolicySet) => ImageDecider;
  private readonly events: PolicyStoreEvents;
  private loading: Promise<ReloadResult> | undefined;
  private again = false;

  constructor(
    paths: readonly string[],
    makeDecider: (policySet: PolicySet) => ImageDecider,
    events: PolicyStoreEvents = {},
  ) {
    this.paths = paths;
    this.makeDecider = makeDecider;
    this.events = events;
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
    const previous = this.engine?.policySet.version;
    let result: ReloadResult;
    try {
      const loaded = await loadPolicyPaths(this.paths);
      if (!loaded.ok) {
        result = {
          status: 'rejected',
          diagnostics: loaded.diagnostics.filter(isError).map(formatDiagnostic),
        };
      } else if (loaded.policySet.version === previous) {
        result = { status: 'unchanged', version: previous };
      } else {
        this.engine = { policySet: loaded.policySet, decider: this.makeDecider(loaded.policySet) };
        result = {
          status: 'loaded',
          version: loaded.policySet.version,
          policies: loaded.policySet.policies.length,
        };
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
