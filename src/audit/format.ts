/**
 * Rendering an audit: a table for people, versioned JSON (docs/audit.md), and SARIF 2.1.0 for
 * code-scanning dashboards.
 */
import type { Impact, ImpactChange } from './compare.ts';
import { workloadName } from './inventory.ts';
import { auditRecords } from './record.ts';
import type { AuditResult, ImageResult, Verdict } from './run.ts';
import { reasonsOf, verdictOf } from './run.ts';

export const AUDIT_API_VERSION = 'portcullis.dev/audit/v1';

export function summarizeAudit(result: AuditResult) {
  const count = (v: Verdict[]) => result.workloads.filter((w) => v.includes(w.verdict)).length;
  return {
    workloads: result.workloads.length,
    allowed: count(['allow']),
    warned: count(['warn']),
    denied: count(['deny', 'error']),
    images: result.stats.images,
    decisions: result.stats.decisions,
    digests: result.stats.digests,
  };
}

export function auditToJson(result: AuditResult, time: Date = new Date()): string {
  return (
    JSON.stringify(
      {
        apiVersion: AUDIT_API_VERSION,
        kind: 'AuditReport',
        policySet: { version: result.policySetVersion },
        summary: summarizeAudit(result),
        workloads: auditRecords(result, time),
        problems: result.problems,
      },
      null,
      2,
    ) + '\n'
  );
}

function oneReason(result: ImageResult): string {
  const verdict = verdictOf(result);
  if (verdict === 'allow') return '';
  if (verdict === 'warn' && !('error' in result)) return result.decision.warnings[0] ?? '';
  return reasonsOf(result)[0] ?? '';
}

/** Columns: workload, container path, image, verdict, reason (the first; JSON has them all). */
export function auditToTable(result: AuditResult): string {
  const rows: string[][] = [['WORKLOAD', 'CONTAINER', 'IMAGE', 'VERDICT', 'REASON']];
  for (const w of result.workloads) {
    const name = workloadName(w.workload);
    for (const p of w.workload.problems) rows.push([name, '', '', 'DENY', p]);
    for (const { at, result: r } of w.images) {
      rows.push([name, at.path, at.image, verdictOf(r).toUpperCase(), oneReason(r)]);
    }
  }
  const widths = [0, 1, 2, 3].map((c) => Math.min(60, Math.max(...rows.map((r) => r[c]!.length))));
  const lines = rows.map((r) =>
    r
      .map((cell, c) => (c < 4 ? cell.padEnd(widths[c]!) : cell))
      .join('  ')
      .trimEnd(),
  );
  for (const p of result.problems) lines.push(`ERROR ${p}`);
  const s = summarizeAudit(result);
  lines.push(
    '',
    `${s.workloads} workload(s), ${s.images} image(s), ${s.decisions} decision(s), ${s.digests} digest(s): ` +
      `${s.allowed} compliant, ${s.warned} with warnings, ${s.denied} denied` +
      (result.problems.length ? `, ${result.problems.length} input error(s)` : ''),
  );
  return lines.join('\n') + '\n';
}

/** `policy/rule` ids of what made an image denied or warned; the first is the SARIF ruleId. */
export function failedRuleIds(result: ImageResult): string[] {
  if ('error' in result) return ['portcullis/error'];
  const d = result.decision;
  if (d.noMatch) return ['portcullis/no-match'];
  const ids: string[] = [];
  for (const p of d.policies) {
    if (p.verdict !== 'fail' || p.mode === 'audit') continue;
    const rules = p.rules.filter((r) => r.verdict === 'fail');
    if (rules.length === 0) ids.push(p.name);
    for (const r of rules) ids.push(`${p.name}/${r.name}`);
  }
  if (d.reasons.length > 0 && ids.length === 0) ids.push('portcullis/input');
  return ids.length > 0 ? ids : ['portcullis/warning'];
}

/** SARIF 2.1.0: one result per denied or warned image. */
export function auditToSarif(result: AuditResult, version = '0.0.0'): string {
  const rules = new Map<string, { id: string; shortDescription: { text: string } }>();
  const results: unknown[] = [];
  const rule = (id: string) => {
    if (!rules.has(id)) rules.set(id, { id, shortDescription: { text: describeRule(id) } });
    return [...rules.keys()].indexOf(id);
  };
  for (const w of result.workloads) {
    const wl = w.workload;
    const logical = {
      fullyQualifiedName: `${wl.kind}/${wl.namespace ?? ''}/${wl.name}`,
      name: wl.name,
      kind: 'resource',
    };
    const location = {
      ...(wl.file !== undefined ? { physicalLocation: { artifactLocation: { uri: toUri(wl.file) } } } : {}),
      logicalLocations: [logical],
    };
    const items: {
      ruleIds: string[];
      level: 'error' | 'warning';
      text: string;
      path?: string;
      image?: string;
    }[] = [];
    for (const p of wl.problems) items.push({ ruleIds: ['portcullis/input'], level: 'error', text: p });
    for (const { at, result: r } of w.images) {
      const v = verdictOf(r);
      if (v === 'allow') continue;
      const reasons = v === 'warn' && !('error' in r) ? r.decision.warnings : reasonsOf(r);
      items.push({
        ruleIds: failedRuleIds(r),
        level: v === 'warn' ? 'warning' : 'error',
        text: `${workloadName(wl)} ${at.path}: ${at.image}: ${reasons.join('; ') || v}`,
        path: at.path,
        image: at.image,
      });
    }
    for (const item of items) {
      const ruleId = item.ruleIds[0]!;
      results.push({
        ruleId,
        ruleIndex: rule(ruleId),
        level: item.level,
        message: { text: item.text },
        locations: [location],
        properties: {
          ...(item.image !== undefined ? { image: item.image, path: item.path } : {}),
          rules: item.ruleIds,
        },
      });
    }
  }
  return (
    JSON.stringify(
      {
        $schema: 'https://json.schemastore.org/sarif-2.1.0.json',
        version: '2.1.0',
        runs: [
          {
            tool: {
              driver: {
                name: 'portcullis',
                version,
                informationUri: 'https://portcullis.dev',
                rules: [...rules.values()],
              },
            },
            results,
            properties: { policySetVersion: result.policySetVersion },
          },
        ],
      },
      null,
      2,
    ) + '\n'
  );
}

function describeRule(id: string): string {
  switch (id) {
    case 'portcullis/error':
      return 'The image could not be decided (internal error or deadline); denied';
    case 'portcullis/no-match':
      return 'No policy applies to the image, and noMatch does not allow it';
    case 'portcullis/input':
      return 'The workload or image reference could not be read';
    case 'portcullis/warning':
      return 'The image is allowed with a warning';
    default:
      return `Policy rule ${id}`;
  }
}

/** A relative file path as a URI reference (SARIF artifactLocation.uri). */
function toUri(file: string): string {
  return file.split(/[\\/]/).map(encodeURIComponent).join('/');
}

function changeJson(c: ImpactChange) {
  return {
    kind: c.workload.kind,
    namespace: c.workload.namespace ?? '',
    name: c.workload.name,
    owners: c.workload.owners,
    before: c.before,
    after: c.after,
    reasons: c.reasons,
  };
}

export function impactToJson(impact: Impact): string {
  return (
    JSON.stringify(
      {
        apiVersion: AUDIT_API_VERSION,
        kind: 'ImpactPreview',
        current: { version: impact.currentVersion },
        candidate: { version: impact.candidateVersion },
        summary: {
          becomeDenied: impact.becomeDenied.length,
          becomeAllowed: impact.becomeAllowed.length,
          unchanged: impact.unchanged,
        },
        becomeDenied: impact.becomeDenied.map(changeJson),
        becomeAllowed: impact.becomeAllowed.map(changeJson),
      },
      null,
      2,
    ) + '\n'
  );
}

export function impactToText(impact: Impact): string {
  const lines: string[] = [];
  const section = (title: string, changes: readonly ImpactChange[], why: string) => {
    lines.push(`${title} (${changes.length}):`);
    for (const c of changes) {
      lines.push(`  ${workloadName(c.workload)} (${c.before} -> ${c.after})`);
      for (const r of c.reasons) lines.push(`      ${why}${r}`);
    }
  };
  section('Would become denied', impact.becomeDenied, '');
  section('Would become allowed', impact.becomeAllowed, 'denied today: ');
  lines.push(
    '',
    `${impact.becomeDenied.length} would become denied, ${impact.becomeAllowed.length} would become allowed, ${impact.unchanged} unchanged`,
  );
  return lines.join('\n') + '\n';
}
