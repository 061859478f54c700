import type { Command } from 'commander';
import type { CommandContext, Io } from '../command.ts';
import { collect, outputOption } from '../command.ts';
import { addRegistryOptions } from '../registry-options.ts';
import type { DecisionOptions } from './common.ts';
import { DECISION_CONCURRENCY, deciderFor, loadPoliciesOrExplain, progress } from './common.ts';
import { extractFromPaths } from '../../sources/index.ts';
import { toJson, toText, type ReportEntry } from '../report.ts';
import { EXIT_ALLOWED, EXIT_DENIED, EXIT_ERROR, UsageError } from '../exit-codes.ts';
import { mapLimit } from '../../util/map-limit.ts';
import type { AdmissionContext } from '../../engine/facts.ts';
import type { ImageSource } from '../../sources/types.ts';
import { namespaceFlag } from '../namespace-flag.ts';

export interface CheckOptions extends DecisionOptions {
  /** Dockerfile ARG values, as `docker build --build-arg` takes them. */
  readonly buildArg?: string[];
  /** The namespace of manifests that name none (as `kubectl apply -n`); otherwise unknown. */
  readonly namespace?: string;
}

/**
 * The Kubernetes context `spec.match` sees: the manifest's kind, namespace and labels. Compose files and
 * Dockerfiles have none, and an unknown context makes every `match` count as matching (fail closed).
 */
export function manifestContext(
  source: ImageSource,
  defaultNamespace?: string,
): AdmissionContext | undefined {
  if (source.format !== 'kubernetes') return undefined;
  const namespace = source.namespace ?? defaultNamespace;
  return {
    ...(source.kind !== undefined ? { kind: source.kind } : {}),
    ...(namespace !== undefined && namespace !== '' ? { namespace } : {}),
    labels: source.labels ?? {},
  };
}

function parseBuildArgs(values: readonly string[] = []): Record<string, string> {
  const args: Record<string, string> = {};
  for (const value of values) {
    const eq = value.indexOf('=');
    if (eq <= 0) throw new UsageError(`--build-arg takes NAME=VALUE, not ${JSON.stringify(value)}`);
    args[value.slice(0, eq)] = value.slice(eq + 1);
  }
  return args;
}

export async function runCheck(paths: string[], opts: CheckOptions, io: Io): Promise<number> {
  const buildArgs = parseBuildArgs(opts.buildArg);
  if (opts.namespace !== undefined) namespaceFlag(opts.namespace, '--namespace');
  const policySet = await loadPoliciesOrExplain(opts.policy, io);
  const { images, problems } = await extractFromPaths(paths, io.readStdin, { buildArgs });
  const { decider, close } = await deciderFor(policySet, opts);
  let entries: ReportEntry[];
  try {
    const tick = progress(io, images.length);
    let done = 0;
    entries = await mapLimit(images, DECISION_CONCURRENCY, async (occurrence) => {
      const context = manifestContext(occurrence.source, opts.namespace);
      const decision = await decider.decide(occurrence.image, context ? { context } : {});
      tick(++done);
      return { decision, source: occurrence.source, ...(occurrence.note ? { note: occurrence.note } : {}) };
    });
  } finally {
    await close();
  }
  const report = { command: 'check' as const, policySetVersion: policySet.version, entries, problems };
  io.stdout.write(opts.output === 'json' ? toJson(report) : toText(report, io.stdout));
  if (problems.length > 0) return EXIT_ERROR;
  return entries.every((e) => e.decision.allowed) ? EXIT_ALLOWED : EXIT_DENIED;
}

export function registerCheck(program: Command, { io, setExitCode }: CommandContext): void {
  const command = program
    .command('check')
    .description('find every image in Kubernetes manifests, Compose files and Dockerfiles, and verify each')
    .argument('<path...>', 'files or directories; - reads standard input')
    .option('-p, --policy <path>', 'policy file or directory (repeatable)', collect)
    .addOption(outputOption())
    .option('--offline', 'use only what the references say; never contact a registry', false)
    .option('-n, --namespace <name>', "namespace of manifests that name none, for policies' spec.match")
    .option(
      '--build-arg <name=value>',
      'Dockerfile ARG value, as docker build takes it (repeatable)',
      collect,
    )
    .action(async (paths: string[], opts: CheckOptions) => setExitCode(await runCheck(paths, opts, io)));
  addRegistryOptions(command);
}
