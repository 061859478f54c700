/**
 * Impact preview: the same inventory audited under the current policy set and under a candidate one,
 * and what would change if the candidate replaced the current set.
 */
import type { AuditedWorkload, AuditResult, Verdict } from './run.ts';
import { deniedReasons } from './run.ts';

export interface ImpactChange {
  readonly workload: AuditedWorkload['workload'];
  readonly before: Verdict;
  readonly after: Verdict;
  /** Why it would be denied (becoming denied) or why it is denied today (becoming allowed). */
  readonly reasons: readonly string[];
}

export interface Impact {
  readonly currentVersion: string;
  readonly candidateVersion: string;
  readonly becomeDenied: readonly ImpactChange[];
  readonly becomeAllowed: readonly ImpactChange[];
  /** Workloads whose verdict is the same under both (warn and allow count as different). */
  readonly unchanged: number;
}

const denied = (v: Verdict) => v === 'deny' || v === 'error';

/** Both results must come from the same inventory (workloads are paired by position). */
export function compareAudits(current: AuditResult, candidate: AuditResult): Impact {
  if (current.workloads.length !== candidate.workloads.length) {
    throw new Error('impact preview needs both audits of the same inventory');
  }
  const becomeDenied: ImpactChange[] = [];
  const becomeAllowed: ImpactChange[] = [];
  let unchanged = 0;
  current.workloads.forEach((before, i) => {
    const after = candidate.workloads[i]!;
    if (denied(after.verdict) && !denied(before.verdict)) {
      becomeDenied.push({
        workload: after.workload,
        before: before.verdict,
        after: after.verdict,
        reasons: deniedReasons(after),
      });
    } else if (!denied(after.verdict) && denied(before.verdict)) {
      becomeAllowed.push({
        workload: after.workload,
        before: before.verdict,
        after: after.verdict,
        reasons: deniedReasons(before),
      });
    } else unchanged++;
  });
  return {
    currentVersion: current.policySetVersion,
    candidateVersion: candidate.policySetVersion,
    becomeDenied,
    becomeAllowed,
    unchanged,
  };
}
