/**
 * The controller's audit trail: after each resync, one record per workload in the same format as the
 * webhook's audit lines and `portcullis audit` (src/audit/record.ts), so "why was this blocked" and
 * "is it still compliant" are answered from one log. Told apart by `source` (`admission` / `audit`) and
 * by `process: "controller"`.
 */
import type { WorkloadAuditRecord } from '../audit/record.ts';
import { worst } from '../audit/run.ts';
import { auditImage } from '../webhook/audit.ts';
import type { ImageResult } from '../webhook/engine.ts';
import { workloadKey, type ImageCheck } from './findings.ts';

export interface ControllerAuditRecord extends WorkloadAuditRecord {
  readonly process: 'controller';
}

export function controllerAuditRecords(
  checks: readonly ImageCheck[],
  policySetVersion: string,
  time: Date,
): ControllerAuditRecord[] {
  const byWorkload = new Map<string, ImageCheck[]>();
  for (const check of checks) {
    const key = workloadKey(check.workload);
    const group = byWorkload.get(key);
    if (group) group.push(check);
    else byWorkload.set(key, [check]);
  }
  return [...byWorkload.values()].map((group) => {
    const w = group[0]!.workload;
    const images = group.map((c) => {
      const result: ImageResult = c.decision ? { decision: c.decision } : { error: c.error ?? 'no decision' };
      return auditImage({ path: c.path ?? 'spec', image: c.image }, result);
    });
    // As `portcullis audit` records it: an error is a denial.
    const worstOf = worst(images.map((i) => i.verdict));
    const verdict = worstOf === 'error' ? 'deny' : worstOf;
    return {
      time: time.toISOString(),
      source: 'audit',
      process: 'controller',
      kind: `${w.apiVersion}/${w.kind}`,
      namespace: w.namespace ?? '',
      name: w.name,
      owners: [],
      allowed: verdict !== 'deny',
      verdict,
      policySetVersion,
      images,
      reasons: images
        .filter((i) => i.verdict === 'deny' || i.verdict === 'error')
        .flatMap((i) => i.reasons.map((r) => `${i.image}: ${r}`)),
    };
  });
}
