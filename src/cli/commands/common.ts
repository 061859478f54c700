import type { PolicySet } from '../../policy/model.ts';
import type { Io } from '../command.ts';
import type { ImageDecider } from '../../app/decide.ts';
import { createDecider } from '../../app/decide.ts';
import { loadPolicyPaths } from '../../policy/load.ts';
import { formatDiagnostic } from '../../policy/format-diagnostic.ts';
import { UsageError } from '../exit-codes.ts';
import { registryClientFromFlags, timeoutMs, type RegistryFlags } from '../registry-options.ts';

export interface DecisionOptions extends RegistryFlags {
  readonly policy?: string[];
  readonly output: 'text' | 'json';
  readonly offline: boolean;
}

/** Loads the policy set or explains why not; policy errors are configuration errors (exit 2). */
export async function loadPoliciesOrExplain(paths: string[] | undefined, io: Io): Promise<PolicySet> {
  if (!paths || paths.length === 0) throw new UsageError('at least one --policy PATH is required');
  const result = await loadPolicyPaths(paths);
  if (!result.ok) {
    for (const d of result.diagnostics) io.stderr.write(formatDiagnostic(d) + '\n');
    const errors = result.diagnostics.filter((d) => d.severity === 'error').length;
    throw new UsageError(`the policy set has ${errors} error(s); nothing was verified`);
  }
  for (const w of result.warnings) io.stderr.write(formatDiagnostic(w) + '\n');
  return result.policySet;
}

/** A decider for the command's flags; `close` releases registry connections. */
export async function deciderFor(
  policySet: PolicySet,
  opts: DecisionOptions,
): Promise<{ decider: ImageDecider; close: () => Promise<void> }> {
  const deadline = timeoutMs(opts);
  if (opts.offline) {
    return { decider: createDecider(policySet, { offline: true, timeoutMs: deadline }), close: async () => {} };
  }
  const registry = await registryClientFromFlags(opts);
  return {
    decider: createDecider(policySet, { offline: false, registry, timeoutMs: deadline }),
    close: () => registry.close(),
  };
}

/** Progress for long runs goes to stderr, and only when a person is watching it. */
export function progress(io: Io, total: number): (done: number) => void {
  const tty = (io.stderr as NodeJS.WriteStream).isTTY === true;
  if (!tty || total < 5) return () => {};
  return (done) => {
    io.stderr.write(`\rverifying ${done}/${total}`);
    if (done === total) io.stderr.write('\r\x1b[K');
  };
}

export const DECISION_CONCURRENCY = 8;
