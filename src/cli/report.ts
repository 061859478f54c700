/**
 * Rendering decisions for people (text) and machines (JSON, the contract in docs/output.md).
 */
import type { Decision } from '../engine/decision.ts';
import type { ImageOccurrence, SourceProblem } from '../sources/index.ts';
import { styler } from './style.ts';

export const REPORT_API_VERSION = 'portcullis.dev/report/v1';

export interface ReportEntry {
  readonly decision: Decision;
  /** Where `check` found the image; absent for `verify`. */
  readonly source?: ImageOccurrence['source'];
  readonly note?: string;
}

export interface Report {
  readonly command: 'verify' | 'check';
  readonly policySetVersion: string;
  readonly entries: readonly ReportEntry[];
  /** Inputs that could not be read: reported, and they make the run exit 2. */
  readonly problems: readonly SourceProblem[];
}

export function summarize(entries: readonly ReportEntry[]) {
  const count = (o: string) => entries.filter((e) => e.decision.outcome === o).length;
  return { images: entries.length, allowed: count('allow'), warned: count('warn'), denied: count('deny') };
}

export function toJson(report: Report): string {
  const body = {
    apiVersion: REPORT_API_VERSION,
    kind: 'Report',
    command: report.command,
    policySet: { version: report.policySetVersion },
    summary: summarize(report.entries),
    results: report.entries.map((e) => ({
      ...e.decision,
      ...(e.source ? { source: e.source } : {}),
      ...(e.note ? { note: e.note } : {}),
    })),
    problems: report.problems,
  };
  return JSON.stringify(body, null, 2) + '\n';
}

export function toText(report: Report, stream: NodeJS.WritableStream): string {
  const style = styler(stream);
  const lines: string[] = [];
  for (const { decision: d, source, note } of report.entries) {
    const label =
      d.outcome === 'allow'
        ? style(['bold', 'green'], 'ALLOW')
        : d.outcome === 'warn'
          ? style(['bold', 'yellow'], 'WARN ')
          : style(['bold', 'red'], 'DENY ');
    const resolved = d.reference && d.reference !== d.image ? style('dim', ` (${d.reference})`) : '';
    const digest = d.digest && !d.image.includes(d.digest) ? style('dim', ` @ ${d.digest}`) : '';
    lines.push(`${label} ${d.image}${resolved}${digest}`);
    if (source) lines.push(style('dim', `      at ${describeSource(source)}`));
    if (note) lines.push(style('dim', `      note: ${note}`));
    for (const r of d.reasons) lines.push(`      ${r}`);
    for (const w of d.warnings) lines.push(`      ${style('yellow', 'warning:')} ${w}`);
    if (d.outcome === 'allow' && d.policies.length > 0) {
      const passed = d.policies.map((p) => `${p.name} (${p.rules.map((r) => r.name).join(', ')})`);
      lines.push(style('dim', `      passed: ${passed.join('; ')}`));
    } else if (d.outcome === 'allow' && d.noMatch) {
      lines.push(style('dim', `      no policy applies (noMatch: ${d.noMatch})`));
    }
  }
  for (const p of report.problems) {
    const where = [p.file, p.line, p.column].filter((x) => x !== undefined).join(':');
    lines.push(`${style(['bold', 'red'], 'ERROR')} ${where}: ${p.message}`);
  }
  const s = summarize(report.entries);
  const problems = report.problems.length ? `, ${report.problems.length} input error(s)` : '';
  lines.push(
    `${s.images} image(s): ${s.allowed} allowed, ${s.warned} allowed with warnings, ${s.denied} denied${problems}`,
  );
  return lines.join('\n') + '\n';
}

function describeSource(source: NonNullable<ReportEntry['source']>): string {
  const where = `${source.file}:${source.line}:${source.column}`;
  const owner =
    source.format === 'kubernetes' && source.kind
      ? `${source.kind} ${[source.namespace, source.name].filter(Boolean).join('/')}`
      : source.format === 'compose' && source.name
        ? `service ${source.name}`
        : source.format === 'dockerfile' && source.name
          ? `stage ${source.name}`
          : '';
  return [where, owner.trim(), source.path].filter(Boolean).join(' ');
}
