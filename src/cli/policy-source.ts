/**
 * The policies a long-running command (`serve`, `controller`) decides with: the files, reloaded when
 * they change, plus the cluster's ImagePolicy and NamespacedImagePolicy resources when the API is there.
 * A bad change is logged and the last good set stays in force. Wired once here so the webhook and the
 * controller load, merge and reject policies identically.
 */
import type { Logger } from 'pino';
import type { KubernetesApi } from '../kubernetes/api.ts';
import { PolicyResourceWatcher } from '../kubernetes/policy-crd.ts';
import { PolicyStore, type MakeDecider, type ReloadResult } from '../webhook/policies.ts';

export interface PolicySourceOptions {
  readonly paths: readonly string[];
  readonly makeDecider: MakeDecider;
  /** Watch policy resources through this API; absent: files only. */
  readonly kubernetes?: KubernetesApi;
  readonly logger: Logger;
  /** After every load attempt (metrics, a controller's early resync). */
  readonly onReload?: (result: ReloadResult) => void;
  /** Fast retries for tests. */
  readonly kubernetesBackoff?: { initialMs?: number; maxMs?: number };
}

export interface PolicySource {
  readonly store: PolicyStore;
  /** Present when policy resources are watched. */
  readonly resources?: PolicyResourceWatcher;
  /**
   * Lists the cluster's policies (waiting for the first list, or for `stop`), loads the set once and
   * then follows changes. The first result is `rejected` when the set does not load: do not serve then.
   */
  start(
    stop: Promise<void>,
    watchOptions?: { debounceMs?: number; pollMs?: number },
  ): Promise<ReloadResult | undefined>;
  close(): Promise<void>;
}

export function openPolicySource(options: PolicySourceOptions): PolicySource {
  const { logger } = options;
  const resources = options.kubernetes
    ? new PolicyResourceWatcher(options.kubernetes, {
        onChange: () => void store.reload(),
        logger: {
          info: (fields, message) => logger.info(fields, message),
          warn: (fields, message) => logger.warn(fields, message),
          error: (fields, message) => logger.error(fields, message),
        },
        ...(options.kubernetesBackoff ? { backoff: options.kubernetesBackoff } : {}),
      })
    : undefined;
  const store = new PolicyStore(options.paths, options.makeDecider, {
    ...(resources ? { resources: () => resources.policies() } : {}),
    onConflicts(conflicts) {
      logger.error({ conflicts }, 'policy resources ignored: their names are taken by policy files');
    },
    onReload(result, previous) {
      if (result.status === 'loaded') {
        logger.info({ version: result.version, previous, policies: result.policies }, 'policy set loaded');
      } else if (result.status === 'rejected' && previous !== undefined) {
        logger.error(
          { diagnostics: result.diagnostics, keeping: previous },
          'policy change rejected; the last good policy set stays in force',
        );
      }
      options.onReload?.(result);
    },
  });
  return {
    store,
    ...(resources ? { resources } : {}),
    async start(stop, watchOptions) {
      if (resources) {
        // Deciding without the cluster's policies could pass what they fail: wait for the first list.
        resources.start();
        logger.info('listing ImagePolicy and NamespacedImagePolicy resources');
        let stopped = false;
        await Promise.race([resources.synced(), stop.then(() => (stopped = true))]);
        if (stopped) return undefined;
      }
      const first = await store.reload();
      if (first.status !== 'rejected') store.watch(watchOptions);
      return first;
    },
    async close() {
      store.close();
      await resources?.close();
    },
  };
}
