import type { PolicySet } from '../../policy/model.ts';
import type { Io } from '../main.ts';
import { loadPolicyPaths } from '../../policy/load.ts';
import { formatDiagnostic } from '../../policy/format-diagnostic.ts';
import { UsageError } from '../exit-codes.ts';

export interface DecisionOptions {
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
