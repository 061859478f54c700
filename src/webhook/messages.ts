/**
 * Text that reaches people through the API server: denial messages and warnings. Part of it comes from
 * registries (error bodies, tags), so control characters are neutralised before a terminal sees them,
 * and everything is bounded.
 */
import type { Decision } from '../engine/decision.ts';
import type { Mode } from '../policy/model.ts';

/**
 * The API server keeps at most 256 runes of a warning once the warnings of a response pass 4096 runes
 * (k8s.io/apiserver endpoints/filters/warning.go), and drops warnings that are not valid HTTP header
 * text. We stay inside both limits ourselves so what is cut is chosen here.
 */
export const WARNING_MAX_RUNES = 256;
export const WARNINGS_TOTAL_RUNES = 4096;
/** A denial line is kept readable; the full detail is in the audit log. */
export const DENIAL_LINE_MAX_RUNES = 2048;
export const DENIAL_MAX_LINES = 50;

// eslint-disable-next-line no-control-regex
const CONTROL = /[\u0000-\u001f\u007f-\u009f\u2028\u2029]/gu;

/** One line of printable text: control characters (newlines, escapes) become spaces. */
export function oneLine(text: string): string {
  return text.replace(CONTROL, ' ');
}

export function truncateRunes(text: string, max: number): string {
  const runes = Array.from(text);
  if (runes.length <= max) return text;
  return runes.slice(0, max - 1).join('') + '…';
}

/** Warnings the API server will pass on unaltered: printable, deduplicated, bounded each and in total. */
export function formatWarnings(lines: readonly string[]): string[] {
  const out: string[] = [];
  const seen = new Set<string>();
  let total = 0;
  let dropped = 0;
  const reserve = 80; // room for the closing "N more" line
  for (const line of lines) {
    const text = truncateRunes(oneLine(line), WARNING_MAX_RUNES);
    if (seen.has(text)) continue;
    seen.add(text);
    const runes = Array.from(text).length;
    if (total + runes > WARNINGS_TOTAL_RUNES - reserve) {
      dropped++;
      continue;
    }
    total += runes;
    out.push(text);
  }
  if (dropped > 0) out.push(`${dropped} more warning(s) not shown; see the Portcullis audit log`);
  return out;
}

/** The denial message: one line per image, each printable and bounded, at most DENIAL_MAX_LINES. */
export function formatDenial(lines: readonly string[]): string {
  const shown = lines.slice(0, DENIAL_MAX_LINES).map((l) => truncateRunes(oneLine(l), DENIAL_LINE_MAX_RUNES));
  if (lines.length > DENIAL_MAX_LINES) {
    shown.push(
      `${lines.length - DENIAL_MAX_LINES} more denied image(s) not shown; see the Portcullis audit log`,
    );
  }
  return shown.join('\n');
}

/**
 * One line per failing rule of each failed policy of `mode`, or the policy's own reason when it failed
 * as a whole: `<label>, rule <rule>: <reason>` / `<label>: <reason>`, where `label(name)` names the policy.
 */
export function failureLines(d: Decision, mode: Mode, label: (policy: string) => string): string[] {
  return d.policies
    .filter((p) => p.mode === mode && p.verdict === 'fail')
    .flatMap((p) =>
      p.reason !== undefined
        ? [`${label(p.name)}: ${p.reason}`]
        : p.rules
            .filter((r) => r.verdict === 'fail')
            .map((r) => `${label(p.name)}, rule ${r.name}: ${r.reason}`),
    );
}
