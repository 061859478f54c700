/** One line per diagnostic, in the `file:line:column: severity: message` shape editors and CI annotate. */
import type { Diagnostic } from './diagnostic.ts';

/** Control characters (a newline in a YAML error, a tab in a value) would break the one-line shape. */
function oneLine(text: string): string {
  // eslint-disable-next-line no-control-regex
  return text.replace(/[\u0000-\u001f\u007f]+/g, ' ');
}

export function formatDiagnostic(d: Diagnostic): string {
  const where = d.line > 0 ? `${d.file}:${d.line}:${d.column}` : d.file || '(policy set)';
  const details: string[] = [];
  if (d.path) details.push(`at ${d.path}`);
  if (d.found !== undefined) details.push(`found ${d.found}`);
  if (d.expected !== undefined) details.push(`expected ${d.expected}`);
  const tail = details.length > 0 ? ` (${details.join('; ')})` : '';
  return oneLine(`${where}: ${d.severity}: ${d.message}${tail}`);
}
