/**
 * One line per diagnostic, in the `file:line:column: severity: message` shape editors and CI annotate:
 * `p.yaml:12:9: error: wrong type: expected a list (at spec.rules[0].tags.forbid; found "latest", expected a list)`.
 */
import type { Diagnostic } from './diagnostic.ts';

/** Control characters (a newline in a YAML error, a tab in a value) would break the one-line shape. */
function oneLine(text: string): string {
  // eslint-disable-next-line no-control-regex
  return text.replace(/[\u0000-\u001f\u007f]+/g, ' ');
}

export function formatDiagnostic(d: Diagnostic): string {
  const where = d.line > 0 ? `${d.file}:${d.line}:${d.column}` : d.file || '(policy set)';
  const saw = [
    d.found !== undefined ? `found ${d.found}` : '',
    d.expected !== undefined ? `expected ${d.expected}` : '',
  ]
    .filter(Boolean)
    .join(', ');
  const details = [d.path ? `at ${d.path}` : '', saw].filter(Boolean).join('; ');
  const tail = details ? ` (${details})` : '';
  return oneLine(`${where}: ${d.severity}: ${d.message}${tail}`);
}
