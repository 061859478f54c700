/**
 * The audit trail record of one workload, in the webhook's audit line format (src/webhook/audit.ts,
 * docs/webhook.md "Audit log") so that one log answers both "why was this blocked" (admission) and "why
 * is this running / is it still compliant" (audit). Differences, all additive: `source: 'audit'` (a
 * webhook line has no `source`, read it as `admission`), `owners`, and the admission-only fields
 * (`uid`, `user`, `operation`, `dryRun`, `webhook`) are absent.
 */
import type { AuditImage } from '../webhook/audit.ts';
import { auditImage } from '../webhook/audit.ts';
import type { OwnerRef } from './inventory.ts';
import type { AuditedWorkload, AuditResult } from './run.ts';
import { deniedReasons } from './run.ts';

export interface WorkloadAuditRecord {
  readonly time: string;
  readonly source: 'audit';
  /** `group/version/Kind` as the webhook writes it (`v1/Pod`, `apps/v1/Deployment`), or the bare kind. */
  readonly kind: string;
  readonly namespace: string;
  readonly name: string;
  readonly owners: readonly OwnerRef[];
  readonly allowed: boolean;
  readonly verdict: 'allow' | 'warn' | 'deny';
  readonly policySetVersion: string;
  readonly images: readonly AuditImage[];
  /** Why it is denied: each denied image's reasons prefixed with its path, and unreadable parts. */
  readonly reasons: readonly string[];
}

export function auditRecord(
  audited: AuditedWorkload,
  policySetVersion: string,
  time: Date,
): WorkloadAuditRecord {
  const w = audited.workload;
  const verdict = audited.verdict === 'error' ? 'deny' : audited.verdict;
  return {
    time: time.toISOString(),
    source: 'audit',
    kind: w.apiVersion ? `${w.apiVersion}/${w.kind}` : w.kind,
    namespace: w.namespace ?? '',
    name: w.name,
    owners: w.owners,
    allowed: verdict !== 'deny',
    verdict,
    policySetVersion,
    images: audited.images.map(({ at, result }) => auditImage(at, result)),
    reasons: deniedReasons(audited),
  };
}

export function auditRecords(result: AuditResult, time: Date = new Date()): WorkloadAuditRecord[] {
  return result.workloads.map((w) => auditRecord(w, result.policySetVersion, time));
}
