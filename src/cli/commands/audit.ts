import { appendFile } from 'node:fs/promises';
import { Option, type Command } from 'commander';
import { auditRecords } from '../../audit/record.ts';
import type { CommandContext, Io } from '../command.ts';
import { collect } from '../command.ts';
import {
  addRegistryOptions,
  registryClientFromFlags,
  timeoutMs,
  type RegistryFlags,
} from '../registry-options.ts';
import { loadPoliciesOrExplain } from './common.ts';
import { EXIT_ALLOWED, EXIT_DENIED, EXIT_ERROR, UsageError } from '../exit-codes.ts';
import { createDecider, type ImageDecider } from '../../app/decide.ts';
import { EvidenceMemo } from '../../app/evidence.ts';
import type { PolicySet } from '../../policy/model.ts';
import type { RegistryClient } from '../../registry/client.ts';
import { createKubernetesApi, KubernetesApiError } from '../../kubernetes/api.ts';
import { inventoryFromCluster, inventoryFromPaths, type Inventory } from '../../audit/inventory.ts';
import { auditWorkloads, AUDIT_CONCURRENCY, type AuditResult } from '../../audit/run.ts';
import { compareAudits } from '../../audit/compare.ts';
import { auditToJson, auditToSarif, auditToTable, impactToJson, impactToText } from '../../audit/format.ts';

export interface AuditOptions extends RegistryFlags {
  readonly kubeconfig?: string;
  readonly fromFile?: string[];
  readonly policy?: string[];
  readonly compare?: string[];
  readonly output: 'table' | 'json' | 'sarif';
  readonly offline: boolean;
  /** Append one audit record per workload (JSON lines), as `serve --audit-log` does for admissions. */
  readonly auditLog?: string;
}

/** Whether some policy selects on namespace labels (then the cluster's namespaces are read). */
function selectsOnNamespaceLabels(sets: readonly (PolicySet | undefined)[]): boolean {
  return sets.some((set) => set?.policies.some((p) => p.match?.namespaceSelector !== undefined));
}

/** From files, the namespaces no Namespace object described: their labels are unknown (fail closed). */
function unlabelledNamespaces(inventory: Inventory): string | undefined {
  const names = [
    ...new Set(
      inventory.workloads.flatMap((w) =>
        w.namespace !== undefined && w.namespaceLabels === undefined ? [w.namespace] : [],
      ),
    ),
  ].sort();
  if (names.length === 0) return undefined;
  const shown = names.slice(0, 10).join(', ') + (names.length > 10 ? `, and ${names.length - 10} more` : '');
  return (
    `no Namespace object in the files for ${names.length} namespace(s) (${shown}), so every ` +
    'namespaceSelector is assumed to select their workloads; add `kubectl get namespaces -o json` to the dumps'
  );
}

async function loadInventory(opts: AuditOptions, namespaceLabels: boolean): Promise<Inventory> {
  if (opts.fromFile && opts.fromFile.length > 0) return inventoryFromPaths(opts.fromFile);
  try {
    const api = createKubernetesApi(opts.kubeconfig !== undefined ? { kubeconfig: opts.kubeconfig } : {});
    return await inventoryFromCluster(api, { namespaceLabels });
  } catch (error) {
    if (error instanceof KubernetesApiError)
      throw new UsageError(`cannot list the cluster's workloads: ${error.message}`);
    throw error;
  }
}

function progressLine(io: Io, label: string) {
  const tty = (io.stderr as NodeJS.WriteStream).isTTY === true;
  if (!tty) return undefined;
  return (done: number, total: number) => {
    io.stderr.write(`\r${label} ${done}/${total} distinct images`);
    if (done === total) io.stderr.write('\r\x1b[K');
  };
}

export async function runAudit(opts: AuditOptions, io: Io): Promise<number> {
  if (opts.kubeconfig !== undefined && opts.fromFile && opts.fromFile.length > 0) {
    throw new UsageError(
      'give either --kubeconfig (the cluster) or --from-file (dumps and manifests), not both',
    );
  }
  if (opts.compare && opts.output === 'sarif') {
    throw new UsageError('--compare prints an impact preview: use --output table or json');
  }
  const current = await loadPoliciesOrExplain(opts.policy, io);
  const candidate = opts.compare ? await loadPoliciesOrExplain(opts.compare, io) : undefined;
  const byLabels = selectsOnNamespaceLabels([current, candidate]);
  const inventory = await loadInventory(opts, byLabels);
  for (const note of inventory.notes ?? []) io.stderr.write(`portcullis: note: ${note}\n`);
  if (byLabels && opts.fromFile && opts.fromFile.length > 0) {
    const note = unlabelledNamespaces(inventory);
    if (note) io.stderr.write(`portcullis: note: ${note}\n`);
  }
  let registry: RegistryClient | undefined;
  if (!opts.offline) registry = await registryClientFromFlags(opts);
  // One memo for this run, shared by both sides of --compare: a fact is keyed by the digest and exactly
  // what was asked (sources, formats, base entries), never by a policy, and holds unverified candidates
  // that each decision verifies against its own policies; so the candidate set reuses what the current
  // one fetched, and a policy's keys or identities cannot be met by evidence another policy asked for.
  const evidence = new EvidenceMemo();
  const deciderOf = (set: PolicySet): ImageDecider =>
    createDecider(
      set,
      registry
        ? { offline: false, registry, timeoutMs: timeoutMs(opts), evidence }
        : { offline: true, timeoutMs: timeoutMs(opts), evidence },
    );
  const run = (set: PolicySet, label: string): Promise<AuditResult> => {
    const onProgress = progressLine(io, label);
    return auditWorkloads(inventory, deciderOf(set), {
      policySet: set,
      concurrency: AUDIT_CONCURRENCY,
      ...(onProgress ? { onProgress } : {}),
    });
  };
  try {
    const result = await run(current, 'auditing');
    for (const p of result.problems) io.stderr.write(`portcullis: ${p}\n`);
    if (opts.auditLog !== undefined) await appendRecords(opts.auditLog, result);
    if (candidate) {
      const impact = compareAudits(result, await run(candidate, 'previewing'));
      io.stdout.write(opts.output === 'json' ? impactToJson(impact) : impactToText(impact));
      if (result.problems.length > 0) return EXIT_ERROR;
      return impact.becomeDenied.length > 0 ? EXIT_DENIED : EXIT_ALLOWED;
    }
    io.stdout.write(
      opts.output === 'json'
        ? auditToJson(result)
        : opts.output === 'sarif'
          ? auditToSarif(result)
          : auditToTable(result),
    );
    if (result.problems.length > 0) return EXIT_ERROR;
    return result.workloads.every((w) => w.verdict === 'allow' || w.verdict === 'warn')
      ? EXIT_ALLOWED
      : EXIT_DENIED;
  } finally {
    await registry?.close();
  }
}

/** The same trail as the webhook's: appended whole, one line per workload. */
async function appendRecords(file: string, result: AuditResult): Promise<void> {
  const lines = auditRecords(result).map((r) => JSON.stringify(r) + '\n');
  try {
    await appendFile(file, lines.join(''), { mode: 0o640 });
  } catch (error) {
    throw new UsageError(
      `cannot write the audit log ${file}: ${(error as NodeJS.ErrnoException).code ?? (error as Error).message}`,
    );
  }
}

export function registerAudit(program: Command, { io, setExitCode }: CommandContext): void {
  const command = program
    .command('audit')
    .description(
      "judge every image of the cluster's workloads (or of dumps and manifests) against the policies",
    )
    .option('--kubeconfig <file>', 'the cluster to audit (default: the in-cluster service account)')
    .option(
      '-f, --from-file <path>',
      'kubectl get -A -o json dumps or manifest directories (repeatable)',
      collect,
    )
    .option('-p, --policy <path>', 'policy file or directory (repeatable)', collect)
    .option(
      '--compare <path>',
      'impact preview: what would change if these policies replaced --policy (repeatable)',
      collect,
    )
    .addOption(
      new Option('-o, --output <format>', 'output format')
        .choices(['table', 'json', 'sarif'])
        .default('table'),
    )
    .option(
      '--audit-log <file>',
      'append one audit record per workload (JSON lines, the webhook audit log format)',
    )
    .option('--offline', 'use only what the references say; never contact a registry', false)
    .action(async (opts: AuditOptions) => setExitCode(await runAudit(opts, io)));
  addRegistryOptions(command);
}
