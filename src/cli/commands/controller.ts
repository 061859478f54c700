/**
 * `portcullis controller`: continuous re-verification of what runs (docs/controller.md). A separate
 * command rather than `serve --audit`: it needs write access to PolicyReports and Events that the
 * webhook should not have, and it scales (one replica) differently from the webhook (several).
 */
import type { Command } from 'commander';
import { createServer, type Server } from 'node:http';
import { randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { hostname } from 'node:os';
import type { AddressInfo } from 'node:net';
import { pino, type Logger } from 'pino';
import type { CommandContext, Io } from '../command.ts';
import { collect } from '../command.ts';
import {
  addRegistryOptions,
  registryWithPullSecrets,
  timeoutMs,
  type RegistryFlags,
} from '../registry-options.ts';
import { EXIT_ALLOWED, EXIT_ERROR, UsageError } from '../exit-codes.ts';
import { openPolicySource } from '../policy-source.ts';
import { createDecider } from '../../app/decide.ts';
import { createKubernetesApi, type ControllerApi, type LeaseApi, type Pod } from '../../kubernetes/api.ts';
import type { PullSecretCredentials } from '../../webhook/credentials.ts';
import { LeaderElector } from '../../controller/leader.ts';
import type { PolicySet } from '../../policy/model.ts';
import type { RegistryClient } from '../../registry/client.ts';
import { Controller } from '../../controller/loop.ts';
import { ControllerMetrics } from '../../controller/metrics.ts';
import { CloudEventNotifier, NotifyConfigError } from '../../controller/notify.ts';
import { DEFAULT_MAX_RESULTS } from '../../controller/reports.ts';
import { controllerAuditRecords } from '../../controller/audit-trail.ts';
import type { AuditSink } from '../../webhook/audit.ts';
import { openAuditLog } from '../audit-log.ts';
import { namespaceFlag } from '../namespace-flag.ts';

export interface ControllerCommandOptions extends RegistryFlags, ReverifyFlags {
  readonly policy?: string[];
  readonly kubeconfig?: string;
  readonly interval: string;
  readonly metricsPort?: string;
  readonly metricsHost: string;
  /** False with --no-watch-crds. */
  readonly watchCrds?: boolean;
  /** False with --no-pull-secrets. */
  readonly pullSecrets?: boolean;
  readonly logLevel: string;
  readonly auditLog?: string;
}

export interface ControllerControl {
  /** Stops the controller (instead of SIGTERM/SIGINT). */
  readonly signal?: AbortSignal;
  readonly onStarted?: (controller: Controller, metricsPort: number | undefined) => void;
  /** Fast file watching for tests. */
  readonly watchOptions?: { debounceMs?: number; pollMs?: number };
  /** Fast retries for tests. */
  readonly kubernetesBackoff?: { initialMs?: number; maxMs?: number };
}

const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace'];

/** `90`, `90s`, `10m`, `1h`: between 10 seconds and 24 hours. */
export function parseInterval(value: string, flag = '--interval'): number {
  const m = /^(\d{1,6})(s|m|h)?$/.exec(value);
  const ms = m ? Number(m[1]) * { s: 1_000, m: 60_000, h: 3_600_000 }[(m[2] ?? 's') as 's' | 'm' | 'h'] : NaN;
  if (!(ms >= 10_000 && ms <= 86_400_000))
    throw new UsageError(
      `${flag} must be a duration between 10s and 24h (e.g. 90s, 10m, 1h), not ${JSON.stringify(value)}`,
    );
  return ms;
}

function parsePort(value: string): number {
  const port = Number(value);
  if (!/^\d+$/.test(value) || port > 65535)
    throw new UsageError(`--metrics-port must be 0-65535, not ${JSON.stringify(value)}`);
  return port;
}

function parseMaxResults(value: string): number {
  const n = Number(value);
  if (!/^\d+$/.test(value) || n < 1 || n > 5_000)
    throw new UsageError(`--max-results must be 1-5000, not ${JSON.stringify(value)}`);
  return n;
}

/** Flags that shape re-verification, shared by `controller` and `serve --audit`. */
export interface ReverifyFlags {
  readonly notifyUrl?: string;
  readonly notifyAllowHttp?: boolean;
  readonly maxResults: string;
  /** Where the leader-election Lease lives (default: this pod's namespace). */
  readonly leaseNamespace?: string;
  /** False with --no-leader-election. */
  readonly leaderElection?: boolean;
}

export interface ReverifyWiring {
  readonly api: ControllerApi & LeaseApi;
  /** The whole policy set in force now (it is reloaded elsewhere). */
  readonly policies: () => PolicySet | undefined;
  /** The registry client; shared with the webhook under `serve --audit` (its caches are by digest). */
  readonly registry: RegistryClient;
  /** Clients holding workloads' pull secrets; absent: every image is read with `registry`. */
  readonly credentials?: PullSecretCredentials;
  readonly timeoutMs: number;
  readonly intervalMs: number;
  readonly metrics: ControllerMetrics;
  readonly logger: Logger;
  readonly audit: AuditSink;
}

export interface ReverifySettings {
  readonly maxResults: number;
  readonly notifier?: CloudEventNotifier;
  /** Absent with --no-leader-election. */
  readonly lease?: { readonly namespace: string; readonly name: string };
}

/** The Lease every re-verifying process competes for: `controller` and `serve --audit` alike. */
export const LEASE_NAME = 'portcullis-controller';
const SERVICE_ACCOUNT_NAMESPACE = '/var/run/secrets/kubernetes.io/serviceaccount/namespace';

/** --lease-namespace, else POD_NAMESPACE (downward API), else the service account's, else `default`. */
function leaseNamespace(flag: string | undefined): string {
  let namespace: string | undefined = flag ?? process.env.POD_NAMESPACE;
  if (namespace === undefined) {
    try {
      namespace = readFileSync(SERVICE_ACCOUNT_NAMESPACE, 'utf8').trim();
    } catch {
      namespace = 'default';
    }
  }
  return namespaceFlag(namespace, '--lease-namespace');
}

/** The flags checked before anything is opened; UsageError says which flag is wrong. */
export function reverifySettings(flags: ReverifyFlags, logger: Logger): ReverifySettings {
  const maxResults = parseMaxResults(flags.maxResults);
  let notifier: CloudEventNotifier | undefined;
  if (flags.notifyUrl !== undefined) {
    try {
      notifier = new CloudEventNotifier({
        url: flags.notifyUrl,
        allowHttp: flags.notifyAllowHttp === true,
        onFailure: (event, why) => logger.warn({ id: event.id, type: event.type, why }, 'notification lost'),
      });
    } catch (error) {
      if (error instanceof NotifyConfigError) throw new UsageError(error.message);
      throw error;
    }
  }
  const lease =
    flags.leaderElection === false
      ? undefined
      : { namespace: leaseNamespace(flags.leaseNamespace), name: LEASE_NAME };
  return { maxResults, ...(notifier ? { notifier } : {}), ...(lease ? { lease } : {}) };
}

export interface Reverifier {
  readonly controller: Controller;
  /**
   * Re-verifies until the signal aborts, while this process holds the Lease: of several replicas only
   * the leader writes reports and sends Events (docs/controller.md, "Several replicas").
   */
  run(signal: AbortSignal): Promise<void>;
}

/**
 * The controller, wired: deciders with no verdict or tag cache (a resync is a re-verification,
 * signatures and attestations included), notifications, and the audit trail in the shared record format.
 */
export function reverifier(
  { maxResults, notifier, lease }: ReverifySettings,
  wiring: ReverifyWiring,
): Reverifier {
  const { logger, audit } = wiring;
  const controller = new Controller({
    api: wiring.api,
    policies: wiring.policies,
    makeDecider: (set, evidence, client) =>
      createDecider(set, {
        offline: false,
        registry: client ?? wiring.registry,
        timeoutMs: wiring.timeoutMs,
        evidence,
      }),
    ...(wiring.credentials
      ? {
          credentials: (pod: Pod) => wiring.credentials!.forObject(pod.metadata.namespace ?? '', pod, 'Pod'),
        }
      : {}),
    intervalMs: wiring.intervalMs,
    metrics: wiring.metrics,
    maxResults,
    ...(notifier ? { notifier } : {}),
    log: (level, message, fields) => logger[level](fields ?? {}, message),
    // One record per workload per resync, in the webhook's and `audit`'s format.
    onResync: (checks, time, policySet) => {
      for (const record of controllerAuditRecords(checks, policySet.version, time)) audit.write(record);
    },
  });
  if (!lease) return { controller, run: (signal) => controller.run(signal) };
  const elector = new LeaderElector({
    api: wiring.api,
    ...lease,
    identity: `${hostname()}_${randomUUID().slice(0, 8)}`,
    log: (level, message, fields) => logger[level](fields ?? {}, message),
  });
  return { controller, run: (signal) => elector.run(signal, (leading) => controller.run(leading)) };
}
export async function runController(
  opts: ControllerCommandOptions,
  io: Io,
  control: ControllerControl = {},
): Promise<number> {
  const intervalMs = parseInterval(opts.interval);
  const metricsPort = opts.metricsPort === undefined ? undefined : parsePort(opts.metricsPort);
  if (!opts.policy || opts.policy.length === 0)
    throw new UsageError('at least one --policy PATH is required');
  if (!LOG_LEVELS.includes(opts.logLevel))
    throw new UsageError(`--log-level must be one of ${LOG_LEVELS.join(', ')}`);
  const logger = pino(
    { level: opts.logLevel, base: { service: 'portcullis-controller' } },
    io.stderr as NodeJS.WritableStream & { write(s: string): boolean },
  );
  const settings = reverifySettings(opts, logger);
  let api;
  try {
    api = createKubernetesApi(opts.kubeconfig ? { kubeconfig: opts.kubeconfig } : {});
  } catch (error) {
    throw new UsageError((error as Error).message);
  }
  const audit = openAuditLog(opts.auditLog, io, logger);
  const { registry, credentials } = await registryWithPullSecrets(
    opts,
    opts.pullSecrets !== false ? api : undefined,
  );
  const metrics = new ControllerMetrics();
  let controller: Controller | undefined;
  // The deciders are the controller's own (no caches); the store's are unused.
  const source = openPolicySource({
    paths: opts.policy,
    makeDecider: (set) => createDecider(set, { offline: false, registry, timeoutMs: timeoutMs(opts) }),
    ...(opts.watchCrds !== false ? { kubernetes: api } : {}),
    logger,
    // Policies got stricter (or looser): judge what runs by them now, not at the next interval.
    onReload: (result) => {
      if (result.status === 'loaded') controller?.resyncSoon();
    },
    ...(control.kubernetesBackoff ? { kubernetesBackoff: control.kubernetesBackoff } : {}),
  });
  let server: Server | undefined;
  try {
    const running = reverifier(settings, {
      api,
      policies: () => source.store.policySet(),
      registry,
      ...(credentials ? { credentials } : {}),
      timeoutMs: timeoutMs(opts),
      intervalMs,
      metrics,
      logger,
      audit,
    });
    controller = running.controller;
    const stop = new AbortController();
    const signal = control.signal ?? stop.signal;
    if (!control.signal) {
      const done = () => stop.abort();
      process.once('SIGTERM', done);
      process.once('SIGINT', done);
    }
    const first = await source.start(aborted(signal), control.watchOptions);
    if (!first) return EXIT_ALLOWED;
    if (first.status === 'rejected') {
      for (const line of first.diagnostics) io.stderr.write(line + '\n');
      io.stderr.write(`portcullis: the policy set has ${first.diagnostics.length} error(s); not starting\n`);
      return EXIT_ERROR;
    }
    if (metricsPort !== undefined) server = await serveMetrics(metrics, opts.metricsHost, metricsPort);
    const port = server ? (server.address() as AddressInfo).port : undefined;
    logger.info(
      {
        intervalMs,
        policies: first.status === 'loaded' ? first.policies : undefined,
        metricsPort: port,
        notify: opts.notifyUrl !== undefined,
        watchCrds: source.resources !== undefined,
      },
      'portcullis controller started',
    );
    control.onStarted?.(controller, port);
    await running.run(signal);
    logger.info('shutting down');
    return EXIT_ALLOWED;
  } finally {
    if (server) await new Promise<void>((r) => server!.close(() => r()));
    await source.close();
    await credentials?.close();
    await registry.close();
    await audit.close();
  }
}

function aborted(signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal.aborted) return resolve();
    signal.addEventListener('abort', () => resolve(), { once: true });
  });
}

/** /metrics (Prometheus text) and /healthz; nothing else. */
async function serveMetrics(metrics: ControllerMetrics, host: string, port: number): Promise<Server> {
  const server = createServer((req, res) => {
    if (req.method === 'GET' && req.url === '/metrics') {
      metrics.registry.metrics().then(
        (text) => res.writeHead(200, { 'content-type': metrics.registry.contentType }).end(text),
        () => res.writeHead(500).end(),
      );
    } else if (req.method === 'GET' && req.url === '/healthz') res.writeHead(200).end('ok\n');
    else res.writeHead(404).end();
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', (e) => reject(new UsageError(`cannot listen on ${host}:${port}: ${e.message}`)));
    server.listen(port, host, resolve);
  });
  return server;
}

export function registerController(program: Command, { io, setExitCode }: CommandContext): void {
  const command = program
    .command('controller')
    .description(
      're-verify running workloads continuously: PolicyReports, Events, metrics and notifications (docs/controller.md)',
    )
    .option('-p, --policy <path>', 'policy file or directory (repeatable)', collect)
    .option('--kubeconfig <file>', 'reach the Kubernetes API with this kubeconfig (default: in-cluster)')
    .option('--interval <duration>', 'time between full resyncs (10s to 24h: 90s, 10m, 1h)', '10m')
    .option('--notify-url <url>', 'POST a CloudEvent here on each new violation and each recovery (https)')
    .option('--notify-allow-http', 'permit a plain http:// --notify-url (a sidecar on localhost)')
    .option('--metrics-port <port>', 'serve /metrics and /healthz on this port (default: no server)')
    .option('--metrics-host <address>', 'address of the metrics server', '0.0.0.0')
    .option(
      '--max-results <n>',
      'results kept per PolicyReport (failures first)',
      String(DEFAULT_MAX_RESULTS),
    )
    .option(
      '--audit-log <file>',
      'append one JSON line per workload per resync to this file (default: stdout)',
    )
    .option('--log-level <level>', `log level (${LOG_LEVELS.join(', ')})`, 'info')
    .option('--no-watch-crds', 'do not load ImagePolicy/NamespacedImagePolicy resources from the cluster')
    .option(
      '--lease-namespace <name>',
      `namespace of the leader-election Lease ${LEASE_NAME} (default: POD_NAMESPACE, else the service account's)`,
    )
    .option('--no-leader-election', 'run without the Lease (only if a single process can ever run)')
    .option(
      '--no-pull-secrets',
      "read registries with --docker-config only, not with the pods' image pull secrets (no access to secrets needed)",
    )
    .action(async (opts: ControllerCommandOptions) => setExitCode(await runController(opts, io)));
  addRegistryOptions(command);
}
