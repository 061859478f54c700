/**
 * The controller's audit trail: after each resync, one record per workload in the same format as the
 * webhook's audit lines and `portcullis audit` (src/audit/record.ts), so "why was this blocked" and
 * "is it still compliant" are answered from one log. Told apart by `source` (`admission` / `audit`) and
 * by `process: "controller"`.
 */
import type { WorkloadAuditRecord } from '../audit/record.ts';
import { auditImage } from '../webhook/audit.ts';
import type { ImageResult } from '../webhook/engine.ts';
import { workloadKey, type ImageCheck } from './findings.ts';

export interface ControllerAuditRecord extends WorkloadAuditRecord {
  readonly process: 'controller';
}

const RANK = { allow: 0, warn: 1, deny: 2 } as const;

export function controllerAuditRecords(
  checks: readonly ImageCheck[],
  policySetVersion: string,
  time: Date,
): ControllerAuditRecord[] {
  const byWorkload = new Map<string, ImageCheck[]>();
  for (const check of checks) {
    const key = workloadKey(check.workload);
    byWorkload.set(key, [...(byWorkload.get(key) ?? []), check]);
  }
  return [...byWorkload.values()].map((group) => {
    const w = group[0]!.workload;
    const images = group.map((c) => {
      const result: ImageResult = c.decision ? { decision: c.decision } : { error: c.error ?? 'no decision' };
      return auditImage({ path: c.path ?? 'spec', image: c.image }, result);
    });
    const verdict = images.reduce<'allow' | 'warn' | 'deny'>((worst, i) => {
      const v = i.verdict === 'error' ? 'deny' : i.verdict;
      return RANK[v] > RANK[worst] ? v : worst;
    }, 'allow');
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
