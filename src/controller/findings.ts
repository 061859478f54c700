/**
 * What the controller knows about one image of one workload after a verification: the decision (or the
 * error that prevented one), reduced to the findings reports, events, metrics and notifications share.
 * Pure: no I/O.
 */
import type { Decision } from '../engine/decision.ts';

/** A corev1.ObjectReference to the workload (the Pod's controlling owner, or the Pod itself). */
export interface WorkloadRef {
  readonly apiVersion: string;
  readonly kind: string;
  readonly name: string;
  /** Absent for cluster-scoped findings. */
  readonly namespace?: string;
  readonly uid?: string;
}

export interface ImageCheck {
  readonly workload: WorkloadRef;
  /** As written in the pod spec: what a restart would pull, so a moved tag is judged by its new target. */
  readonly image: string;
  /** Where the image is written in the pod spec, for the audit trail. */
  readonly path?: string;
  /** Absent when no decision was reached (`error` says why). */
  readonly decision?: Decision;
  readonly error?: string;
  readonly checkedAt: Date;
}

export type ReportResult = 'pass' | 'fail' | 'warn' | 'error' | 'skip';

/** One policy's verdict on one image of one workload. */
export interface Finding {
  readonly policy: string;
  /** The failing rule(s), comma separated; the policy name when no single rule is to blame. */
  readonly rule: string;
  readonly result: ReportResult;
  readonly message: string;
}

/** Policy labels for findings that belong to no single policy. */
export const NO_DECISION_POLICY = '(error)';
export const NO_MATCH_POLICY = '(none)';

/**
 * Failing enforce- and audit-mode policies are `fail` (audit mode exists for exactly this), warn-mode
 * ones `warn`; a decision without a digest (registry unreachable, tag gone) is `error`: it could not be
 * evaluated, which is not the same as a violation but is never compliance either.
 */
export function findingsOf(check: ImageCheck): Finding[] {
  const { decision } = check;
  if (!decision) {
    return [
      {
        policy: NO_DECISION_POLICY,
        rule: NO_DECISION_POLICY,
        result: 'error',
        message: check.error ?? 'no decision',
      },
    ];
  }
  if (decision.digest === undefined && decision.policies.length === 0) {
    const why = decision.reasons.join('; ') || 'the image digest could not be resolved';
    return [{ policy: NO_DECISION_POLICY, rule: NO_DECISION_POLICY, result: 'error', message: why }];
  }
  if (decision.policies.length === 0) {
    const denied = !decision.allowed;
    return [
      {
        policy: NO_MATCH_POLICY,
        rule: NO_MATCH_POLICY,
        result: denied ? 'fail' : decision.outcome === 'warn' ? 'warn' : 'skip',
        message:
          decision.reasons[0] ??
          decision.warnings[0] ??
          `no policy matched (noMatch: ${decision.noMatch ?? 'deny'})`,
      },
    ];
  }
  return decision.policies.map((p) => {
    const failed = p.rules.filter((r) => r.verdict === 'fail');
    if (p.verdict === 'pass') {
      return {
        policy: p.name,
        rule: p.name,
        result: 'pass',
        message: `${decision.image}: policy ${p.name} passed`,
      };
    }
    const message = failed.length
      ? failed.map((r) => `rule ${r.name}: ${r.reason}`).join('; ')
      : (p.reason ?? `policy ${p.name} failed`);
    // Without a digest every rule that needed one failed for that reason: the registry, not the image.
    const result: ReportResult =
      decision.digest === undefined ? 'error' : p.mode === 'warn' ? 'warn' : 'fail';
    return { policy: p.name, rule: failed.map((r) => r.name).join(',') || p.name, result, message };
  });
}

/** Findings that make a workload non-compliant: failures and errors (fail closed), not warnings. */
export function violations(findings: readonly Finding[]): Finding[] {
  return findings.filter((f) => f.result === 'fail' || f.result === 'error');
}

/** Whether failures `a` weigh more than `b`: more of them, then an error over a plain failure. */
export function worseThan(a: readonly Finding[], b: readonly Finding[]): boolean {
  if (a.length !== b.length) return a.length > b.length;
  return a.some((f) => f.result === 'error') && !b.some((f) => f.result === 'error');
}

export function workloadKey(w: WorkloadRef): string {
  return `${w.namespace ?? ''}/${w.kind}/${w.name}`;
}
