/**
 * `portcullis serve`: the admission webhook (docs/webhook.md). Policies that do not load at start are a
 * configuration error (exit 2); later changes to them are reloaded, and a bad change is rejected with
 * the last good set kept. Logs (pino JSON) go to stderr; audit lines to stdout or `--audit-log`.
 */
import type { Command } from 'commander';
import { pino, type Logger } from 'pino';
import type { CommandContext, Io } from '../command.ts';
import { collect } from '../command.ts';
import {
  addRegistryOptions,
  registryWithPullSecrets,
  timeoutMs,
  type RegistryFlags,
} from '../registry-options.ts';
import { createKubernetesApi } from '../../kubernetes/api.ts';
import { namespaceLabelReader } from '../../kubernetes/namespace-labels.ts';
import type { PullSecretCredentials } from '../../webhook/credentials.ts';
import type { RegistryClient } from '../../registry/client.ts';
import { EXIT_ALLOWED, EXIT_ERROR, UsageError } from '../exit-codes.ts';
import { createDecider } from '../../app/decide.ts';
import { TagCache, VerdictCache } from '../../app/verdict-cache.ts';
import { openPolicySource } from '../policy-source.ts';
import type { PolicyStore } from '../../webhook/policies.ts';
import { parseInterval, reverifier, reverifySettings, type ReverifyFlags } from './controller.ts';
import type { Controller } from '../../controller/loop.ts';
import { ControllerMetrics } from '../../controller/metrics.ts';
import { DEFAULT_MAX_RESULTS } from '../../controller/reports.ts';
import { startWebhookServer, type WebhookServer } from '../../webhook/server.ts';
import { openAuditLog } from '../audit-log.ts';
import { WebhookMetrics } from '../../webhook/metrics.ts';
import { DEFAULT_DEADLINE_MS } from '../../webhook/engine.ts';

export interface ServeOptions extends RegistryFlags, Partial<ReverifyFlags> {
  readonly policy?: string[];
  readonly tlsCert?: string;
  readonly tlsKey?: string;
  readonly port: string;
  readonly host: string;
  readonly auditLog?: string;
  /** False with --no-pin. */
  readonly pin: boolean;
  readonly deadline: string;
  readonly logLevel: string;
  /** Decide from the references alone; never contact a registry (nothing can be pinned then). */
  readonly offline?: boolean;
  /** Kubernetes API access from this kubeconfig (default: in-cluster when KUBERNETES_SERVICE_HOST is set). */
  readonly kubeconfig?: string;
  /** False with --no-kubernetes. */
  readonly kubernetes?: boolean;
  /** Watch ImagePolicy and NamespacedImagePolicy resources; default on when the API is available. */
  readonly watchCrds?: boolean;
  readonly verdictTtl?: string;
  readonly denyTtl?: string;
  readonly tagTtl?: string;
  /** Also re-verify what runs (the controller, in this process: docs/controller.md). */
  readonly audit?: boolean;
  readonly auditInterval?: string;
}

function seconds(value: string | undefined, flag: string): number {
  const n = Number(value ?? 0);
  if (!Number.isFinite(n) || n < 0 || n > 86_400)
    throw new UsageError(`${flag} must be seconds between 0 and 86400, not ${JSON.stringify(value)}`);
  return n;
}

export interface ServeControl {
  /** Stops the server (instead of SIGTERM/SIGINT). */
  readonly signal?: AbortSignal;
  readonly onListening?: (server: WebhookServer, policies: PolicyStore) => void;
  /** Fast file watching for tests. */
  readonly watchOptions?: { debounceMs?: number; pollMs?: number };
  /** The environment (KUBERNETES_SERVICE_HOST); default process.env. */
  readonly env?: NodeJS.ProcessEnv;
  /** Fast retries for tests. */
  readonly kubernetesBackoff?: { initialMs?: number; maxMs?: number };
  /** With --audit: the in-process controller, once it runs. */
  readonly onController?: (controller: Controller) => void;
}

/** The Kubernetes API the flags ask for, or undefined for none. */
function kubernetesFromFlags(opts: ServeOptions, env: NodeJS.ProcessEnv, deadlineMs: number) {
  if (opts.kubernetes === false) {
    if (opts.kubeconfig) throw new UsageError('--kubeconfig and --no-kubernetes contradict each other');
    if (opts.watchCrds === true)
      throw new UsageError('--watch-crds needs the Kubernetes API (not --no-kubernetes)');
    return undefined;
  }
  if (!opts.kubeconfig && !env.KUBERNETES_SERVICE_HOST) {
    if (opts.watchCrds === true) {
      throw new UsageError('--watch-crds needs the Kubernetes API: give --kubeconfig, or run in a cluster');
    }
    return undefined;
  }
  try {
    // Each call is spent inside an admission deadline: leave most of it to the registries.
    return createKubernetesApi({
      ...(opts.kubeconfig ? { kubeconfig: opts.kubeconfig } : {}),
      requestTimeoutMs: Math.min(5_000, Math.max(500, Math.floor(deadlineMs / 3))),
    });
  } catch (error) {
    throw new UsageError((error as Error).message);
  }
}

const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace'];

function parsePort(value: string): number {
  const port = Number(value);
  if (!Number.isInteger(port) || port < 0 || port > 65535)
    throw new UsageError(`--port must be 0-65535, not ${JSON.stringify(value)}`);
  return port;
}

function parseDeadline(value: string): number {
  const seconds = Number(value);
  // The API server's webhook timeoutSeconds is at most 30; the deadline must come before it.
  if (!Number.isFinite(seconds) || seconds <= 0 || seconds > 29) {
    throw new UsageError(
      `--deadline must be a number of seconds above 0 and at most 29, not ${JSON.stringify(value)}`,
    );
  }
  return seconds * 1000;
}

export async function runServe(opts: ServeOptions, io: Io, control: ServeControl = {}): Promise<number> {
  if (!opts.policy || opts.policy.length === 0)
    throw new UsageError('at least one --policy PATH is required');
  if (!opts.tlsCert || !opts.tlsKey)
    throw new UsageError(
      '--tls-cert FILE and --tls-key FILE are required (the API server only calls webhooks over HTTPS)',
    );
  if (!LOG_LEVELS.includes(opts.logLevel))
    throw new UsageError(`--log-level must be one of ${LOG_LEVELS.join(', ')}`);
  const port = parsePort(opts.port);
  const deadlineMs = parseDeadline(opts.deadline);
  const auditIntervalMs = opts.audit ? parseInterval(opts.auditInterval ?? '10m', '--audit-interval') : 0;
  if (
    !opts.audit &&
    (opts.auditInterval !== undefined || opts.notifyUrl !== undefined || opts.leaseNamespace !== undefined)
  )
    throw new UsageError(
      '--audit-interval, --notify-url and --lease-namespace belong to --audit; add --audit',
    );
  if (opts.audit && opts.offline)
    throw new UsageError('--audit re-verifies against the registries; it cannot run with --offline');
  // Each image's own registry deadline never outlives the request's.
  const decisionMs = Math.min(timeoutMs(opts), deadlineMs);
  const logger: Logger = pino(
    { level: opts.logLevel, base: { service: 'portcullis' } },
    io.stderr as NodeJS.WritableStream & { write(s: string): boolean },
  );
  const metrics = new WebhookMetrics();
  const reverify = opts.audit
    ? reverifySettings({ ...opts, maxResults: opts.maxResults ?? String(DEFAULT_MAX_RESULTS) }, logger)
    : undefined;

  const audit = openAuditLog(opts.auditLog, io, logger);

  const env = control.env ?? process.env;
  const kubernetes = kubernetesFromFlags(opts, env, deadlineMs);
  if (opts.audit && !kubernetes)
    throw new UsageError('--audit needs the Kubernetes API: give --kubeconfig, or run in a cluster');
  let registry: RegistryClient | undefined;
  let credentials: PullSecretCredentials | undefined;
  if (!opts.offline) {
    ({ registry, credentials } = await registryWithPullSecrets(opts, kubernetes, (host, status) =>
      metrics.recordRegistryResponse(host, status),
    ));
  }
  // Shared across policy reloads: the policy set's version is part of every verdict key.
  const cache = {
    verdicts: new VerdictCache({
      allowTtlMs: seconds(opts.verdictTtl ?? '300', '--verdict-ttl') * 1000,
      denyTtlMs: seconds(opts.denyTtl ?? '30', '--deny-ttl') * 1000,
    }),
    tags: new TagCache({ ttlMs: seconds(opts.tagTtl ?? '10', '--tag-ttl') * 1000 }),
  };
  metrics.observeCaches(cache);
  const source = openPolicySource({
    paths: opts.policy,
    makeDecider: (set, client) =>
      createDecider(
        set,
        registry
          ? { offline: false, registry: client ?? registry, timeoutMs: decisionMs, cache }
          : { offline: true, timeoutMs: decisionMs, cache },
      ),
    ...(kubernetes && opts.watchCrds !== false ? { kubernetes } : {}),
    logger,
    onReload(result) {
      metrics.policyReloads.inc({ result: result.status });
      if (result.status === 'loaded') {
        metrics.policiesLoaded.set(result.policies);
        // What runs is judged by the new set now, not at the next interval.
        controller?.resyncSoon();
      }
    },
    ...(control.kubernetesBackoff ? { kubernetesBackoff: control.kubernetesBackoff } : {}),
  });
  const policies = source.store;
  let controller: Controller | undefined;
  const stopping = new AbortController();
  let server: WebhookServer | undefined;
  try {
    // Serving without the cluster's policies could admit what they deny: start waits for the first list.
    const first = await source.start(stopped(control.signal), control.watchOptions);
    if (!first) return EXIT_ALLOWED;
    if (first.status === 'rejected') {
      for (const line of first.diagnostics) io.stderr.write(line + '\n');
      io.stderr.write(`portcullis: the policy set has ${first.diagnostics.length} error(s); not serving\n`);
      return EXIT_ERROR;
    }
    try {
      server = await startWebhookServer({
        tls: { certFile: opts.tlsCert, keyFile: opts.tlsKey },
        port,
        host: opts.host,
        engine: () => policies.current(),
        deadlineMs,
        pin: opts.pin,
        ...(credentials ? { credentials: credentials.resolve } : {}),
        ...(kubernetes ? { namespaceLabels: namespaceLabelReader(kubernetes) } : {}),
        audit,
        logger,
        metrics,
        ...(control.watchOptions ? { watchOptions: control.watchOptions } : {}),
      });
    } catch (error) {
      throw new UsageError((error as Error).message);
    }
    logger.info(
      {
        port: server.port,
        pin: opts.pin,
        offline: opts.offline === true,
        deadlineMs,
        kubernetes: kubernetes !== undefined,
        watchCrds: source.resources !== undefined,
      },
      'portcullis webhook listening',
    );
    control.onListening?.(server, policies);
    let reverifying: Promise<void> | undefined;
    if (reverify && kubernetes && registry) {
      const running = reverifier(reverify, {
        // Its own client: listing every pod needs longer timeouts than an admission's lookups.
        api: createKubernetesApi(opts.kubeconfig ? { kubeconfig: opts.kubeconfig } : {}),
        policies: () => policies.policySet(),
        // The webhook's client: manifests and blobs cached by digest are shared; tags, referrers and
        // signature tags are asked again, and no verdict is reused.
        registry,
        ...(credentials ? { credentials } : {}),
        timeoutMs: timeoutMs(opts),
        intervalMs: auditIntervalMs,
        metrics: new ControllerMetrics(metrics.registry),
        logger,
        audit,
      });
      controller = running.controller;
      reverifying = running.run(stopping.signal);
      logger.info({ intervalMs: auditIntervalMs }, 're-verifying running workloads (--audit)');
      control.onController?.(running.controller);
    }
    await stopped(control.signal);
    stopping.abort();
    await reverifying;
    logger.info('shutting down');
    return EXIT_ALLOWED;
  } finally {
    stopping.abort();
    await source.close();
    await server?.close();
    await credentials?.close();
    await registry?.close();
    await audit.close();
  }
}

/** Until the signal aborts, or SIGTERM/SIGINT when there is none. */
function stopped(signal?: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal) {
      if (signal.aborted) return resolve();
      signal.addEventListener('abort', () => resolve(), { once: true });
      return;
    }
    const done = () => {
      process.off('SIGTERM', done);
      process.off('SIGINT', done);
      resolve();
    };
    process.once('SIGTERM', done);
    process.once('SIGINT', done);
  });
}

export function registerServe(program: Command, { io, setExitCode }: CommandContext): void {
  const command = program
    .command('serve')
    .description('run the Kubernetes admission webhook (validate, mutate, ImagePolicyWebhook) over HTTPS')
    .option('-p, --policy <path>', 'policy file or directory, reloaded on change (repeatable)', collect)
    .option('--tls-cert <file>', 'PEM certificate (chain) to serve, reloaded on change')
    .option('--tls-key <file>', 'PEM private key of the certificate, reloaded on change')
    .option('--port <port>', 'port to listen on', '8443')
    .option('--host <address>', 'address to listen on', '0.0.0.0')
    .option('--audit-log <file>', 'append one JSON line per decision to this file (default: stdout)')
    .option('--no-pin', 'do not pin allowed images to their verified digest in /mutate')
    .option(
      '--verdict-ttl <seconds>',
      'reuse an allowed verdict for the same digest and policies (0: never)',
      '300',
    )
    .option('--deny-ttl <seconds>', 'reuse a denial for the same digest and policies (0: never)', '30')
    .option('--tag-ttl <seconds>', 'reuse a tag resolution for this long (0: resolve every time)', '10')
    .option(
      '--deadline <seconds>',
      "answer every review within this time, denying what is unfinished (keep it under the webhook's timeoutSeconds)",
      String(DEFAULT_DEADLINE_MS / 1000),
    )
    .option(
      '--offline',
      'decide from the references alone, never contacting a registry (nothing is pinned)',
      false,
    )
    .option('--log-level <level>', `log level (${LOG_LEVELS.join(', ')})`, 'info')
    .option(
      '--kubeconfig <file>',
      'reach the Kubernetes API with this kubeconfig (default: in-cluster when KUBERNETES_SERVICE_HOST is set)',
    )
    .option('--no-kubernetes', 'never use the Kubernetes API (no image pull secrets, no policy resources)')
    .option(
      '--watch-crds',
      'load ImagePolicy/NamespacedImagePolicy resources (default when the API is available)',
    )
    .option('--no-watch-crds', 'do not load policy resources from the cluster')
    .option(
      '--audit',
      're-verify running workloads in this process too: PolicyReports, Events, metrics (docs/controller.md)',
    )
    .option(
      '--audit-interval <duration>',
      'with --audit: time between full resyncs (10s to 24h; default 10m)',
    )
    .option('--notify-url <url>', 'with --audit: POST a CloudEvent on each new violation and recovery')
    .option('--notify-allow-http', 'with --audit: permit a plain http:// --notify-url')
    .option('--max-results <n>', 'with --audit: results kept per PolicyReport', String(DEFAULT_MAX_RESULTS))
    .option(
      '--lease-namespace <name>',
      'with --audit: namespace of the Lease that elects the one replica re-verifying (default: POD_NAMESPACE)',
    )
    .option('--no-leader-election', 'with --audit: every replica re-verifies (only for a single replica)')
    .action(async (opts: ServeOptions) => setExitCode(await runServe(opts, io)));
  addRegistryOptions(command);
}
