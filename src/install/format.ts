/** Prints the manifests: multi-document YAML with the reasons as comments, or a JSON `v1/List`. */
import { Document, isMap, isSeq } from 'yaml';
import type { KubeObject } from './objects.ts';
import { objectComments, ruleReasons } from './comments.ts';

export const OUTPUT_FORMATS = ['yaml', 'json'] as const;
export type OutputFormat = (typeof OUTPUT_FORMATS)[number];

const asComment = (text: string): string =>
  wrap(text, 100)
    .map((line) => ` ${line}`)
    .join('\n');

function wrap(text: string, width: number): string[] {
  const lines: string[] = [];
  let line = '';
  for (const word of text.split(/\s+/)) {
    if (line && line.length + 1 + word.length > width) {
      lines.push(line);
      line = word;
    } else line = line ? `${line} ${word}` : word;
  }
  if (line) lines.push(line);
  return lines;
}

export function formatManifests(
  objects: readonly KubeObject[],
  format: OutputFormat,
  header?: string,
): string {
  if (format === 'json')
    return `${JSON.stringify({ apiVersion: 'v1', kind: 'List', metadata: {}, items: objects }, null, 2)}\n`;
  const docs = objects.map((object, i) => {
    const doc = new Document(object);
    const comment = objectComments.get(object);
    const lines = [i === 0 && header ? header : undefined, comment].filter((c) => c !== undefined);
    if (lines.length) doc.commentBefore = lines.map(asComment).join('\n');
    const rules = doc.get('rules', true);
    if (Array.isArray(object.rules) && isSeq(rules)) {
      object.rules.forEach((r: object, index: number) => {
        const node = rules.items[index];
        const reason = ruleReasons.get(r);
        if (reason && isMap(node)) node.commentBefore = asComment(reason);
      });
    }
    return doc.toString({ lineWidth: 0 });
  });
  return docs.join('---\n');
}
