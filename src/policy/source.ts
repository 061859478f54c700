/**
 * Reading policy files: YAML (or JSON, which the YAML parser reads too) into documents that still know
 * where each value came from, so every diagnostic can name file:line:column.
 */
import { isAlias, isMap, isPair, isScalar, isSeq, LineCounter, parseAllDocuments, Scalar } from 'yaml';
import type { Document, EmptyStream, Node as YamlNode, Pair } from 'yaml';
import type { PathSegment } from '../rules/types.ts';

/**
 * Bounds that keep a hostile file from costing more than a small, fixed amount of work. 1 MiB is also
 * the most a Kubernetes ConfigMap holds, and several times the largest realistic policy file (a deny
 * list of ten thousand digests is under 1 MiB).
 */
export const MAX_FILE_BYTES = 1024 * 1024;
export const MAX_DOCUMENTS_PER_FILE = 1000;
export const MAX_ALIAS_COUNT = 100;
/**
 * Lines plus flow separators and brackets: a cheap upper bound on the number of values, checked before parsing, since
 * parsing cost grows with it. Ten thousand digests (the schema's longest list) are about 10,000.
 */
export const MAX_VALUES = 50_000;

export interface Position {
  readonly line: number;
  readonly column: number;
}

export interface SourceProblem extends Position {
  readonly message: string;
  readonly severity: 'error' | 'warning';
}

export interface SourceDocument {
  readonly index: number;
  readonly doc: Document.Parsed;
  /** Plain JSON-like data; undefined when the document could not be converted. */
  readonly data: unknown;
  readonly text: string;
  readonly lines: LineCounter;
}

export interface ParsedFile {
  readonly documents: SourceDocument[];
  readonly problems: SourceProblem[];
}

function positionOf(lines: LineCounter, offset: number): Position {
  const { line, col } = lines.linePos(offset);
  return { line, column: col };
}

function firstLine(message: string): string {
  const line = message.split('\n')[0] ?? message;
  // yaml appends " at line L, column C" to some messages; the diagnostic carries the position already.
  return line.replace(/ at line \d+, column \d+:?$/, '').trim();
}

export function parseSource(text: string): ParsedFile {
  const lines = new LineCounter();
  const problems: SourceProblem[] = [];
  const values = countValues(text);
  if (values > MAX_VALUES) {
    const message = `file has more than ${MAX_VALUES} lines, separators and brackets (${values}); policy files are far smaller`;
    return { documents: [], problems: [{ line: 1, column: 1, message, severity: 'error' }] };
  }
  let parsed: Document.Parsed[] | EmptyStream;
  try {
    // Duplicate keys are found by duplicateKeys() below: yaml's own check is quadratic in a map's size.
    parsed = parseAllDocuments(text, {
      lineCounter: lines,
      prettyErrors: false,
      uniqueKeys: false,
      strict: true,
    });
  } catch (error) {
    return {
      documents: [],
      problems: [{ line: 1, column: 1, message: unparseable(error), severity: 'error' }],
    };
  }
  const all: Document.Parsed[] = [...parsed];
  if ('empty' in parsed) {
    // An empty stream still carries errors (e.g. a lone directive).
    for (const e of parsed.errors)
      problems.push({ ...positionOf(lines, e.pos[0]), message: firstLine(e.message), severity: 'error' });
  }
  const documents: SourceDocument[] = [];
  all.forEach((doc, index) => {
    if (index >= MAX_DOCUMENTS_PER_FILE) {
      if (index === MAX_DOCUMENTS_PER_FILE) {
        const at = doc.range[0];
        problems.push({
          ...positionOf(lines, at),
          message: `too many documents in one file (more than ${MAX_DOCUMENTS_PER_FILE})`,
          severity: 'error',
        });
      }
      return;
    }
    for (const e of doc.errors) {
      problems.push({ ...positionOf(lines, e.pos[0]), message: unparseable(e), severity: 'error' });
    }
    const duplicates = doc.errors.length > 0 ? [] : duplicateKeys(doc);
    for (const d of duplicates) {
      const first = positionOf(lines, d.first);
      problems.push({
        ...positionOf(lines, d.at),
        message: `duplicate key "${d.key}" (first at line ${first.line}, column ${first.column})`,
        severity: 'error',
      });
    }
    if (duplicates.length > 0) return;
    for (const w of doc.warnings) {
      problems.push({ ...positionOf(lines, w.pos[0]), message: firstLine(w.message), severity: 'warning' });
    }
    if (doc.errors.length > 0 || doc.contents === null) return;
    let data: unknown;
    try {
      data = doc.toJS({ maxAliasCount: MAX_ALIAS_COUNT });
    } catch (error) {
      const message = error instanceof Error ? error.message : String(error);
      const excessive = /alias/i.test(message);
      problems.push({
        ...positionOf(lines, doc.contents.range[0]),
        message: excessive
          ? `too many alias expansions (limit ${MAX_ALIAS_COUNT}); aliases that multiply the document are refused`
          : `the document could not be read: ${firstLine(message)}`,
        severity: 'error',
      });
      return;
    }
    // `---` followed by nothing (or only comments) is an empty document, not a broken one.
    if (data === null || data === undefined) return;
    documents.push({ index, doc, data, text, lines });
  });
  return { documents, problems };
}

function countValues(text: string): number {
  let n = 0;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c === 10 || c === 44 || c === 91 || c === 123) n++; // '\n' ',' '[' '{'
  }
  return n;
}

/** The parser's stack gives out on absurd nesting; say that rather than echo a regex engine's complaint. */
function unparseable(error: unknown): string {
  const message = error instanceof Error ? error.message : String(error);
  if (/stack overflow|maximum call stack/i.test(message)) return 'the document is nested too deeply to read';
  return firstLine(message);
}

/** Repeated keys in any mapping of the document, found in one linear walk (no recursion). */
function duplicateKeys(doc: Document.Parsed): { key: string; at: number; first: number }[] {
  const out: { key: string; at: number; first: number }[] = [];
  const stack: unknown[] = [doc.contents];
  while (stack.length > 0) {
    const node = stack.pop();
    if (isMap(node)) {
      const seen = new Map<string, number>();
      for (const pair of node.items) {
        const key = pair.key as YamlNode | null;
        if (isScalar(key) && key.range) {
          const name = String(key.value);
          const first = seen.get(name);
          if (first === undefined) seen.set(name, key.range[0]);
          else out.push({ key: name, at: key.range[0], first });
        }
        stack.push(pair.key, pair.value);
      }
    } else if (isSeq(node)) {
      for (const item of node.items) stack.push(item);
    }
  }
  return out.sort((a, b) => a.at - b.at);
}

function resolve(doc: Document.Parsed, node: unknown): unknown {
  return isAlias(node) ? node.resolve(doc) : node;
}

function pairFor(doc: Document.Parsed, map: unknown, key: string): Pair<unknown, unknown> | undefined {
  const resolved = resolve(doc, map);
  if (!isMap(resolved)) return undefined;
  for (const item of resolved.items) {
    if (!isPair(item)) continue;
    const k = resolve(doc, item.key);
    const name = isScalar(k) ? String(k.value) : undefined;
    if (name === key) return item;
  }
  return undefined;
}

function childOf(doc: Document.Parsed, node: unknown, segment: PathSegment): unknown {
  const resolved = resolve(doc, node);
  if (typeof segment === 'number') return isSeq(resolved) ? resolve(doc, resolved.items[segment]) : undefined;
  const pair = pairFor(doc, resolved, segment);
  return pair ? resolve(doc, pair.value) : undefined;
}

export type Anchor = 'key' | 'value';

/**
 * The position for `path`: the key of the last segment (`anchor: 'key'`, for unknown fields), or the
 * value (wrong types, bad values). When the path does not exist (a missing field), the deepest
 * existing ancestor's value. `offset` moves into a single-line plain or simply-quoted string.
 */
export function locate(
  source: SourceDocument,
  path: readonly PathSegment[],
  anchor: Anchor,
  offset?: number,
): Position {
  const { doc, lines } = source;
  let node: unknown = doc.contents;
  let best: number = doc.contents?.range[0] ?? doc.range[0];
  for (let i = 0; i < path.length; i++) {
    const segment = path[i] as PathSegment;
    const isLast = i === path.length - 1;
    if (isLast && anchor === 'key' && typeof segment === 'string') {
      const pair = pairFor(doc, node, segment);
      const key = pair?.key as YamlNode | undefined;
      if (key?.range) return positionOf(lines, key.range[0]);
    }
    const next = childOf(doc, node, segment);
    const range = (next as YamlNode | undefined)?.range;
    if (!range || isEmptyScalar(next)) {
      // A key written with no value (`metadata:`) has a null scalar; point at its key instead.
      if (typeof segment === 'string') {
        const key = pairFor(doc, node, segment)?.key as YamlNode | undefined;
        if (key?.range) return positionOf(lines, key.range[0]);
      }
      break;
    }
    node = next;
    best = range[0];
    if (isLast && offset !== undefined && isScalar(next)) best += scalarOffset(source.text, next, offset);
  }
  return positionOf(lines, best);
}

function scalarOffset(text: string, node: Scalar, offset: number): number {
  if (!node.range || typeof node.value !== 'string') return 0;
  const raw = text.slice(node.range[0], node.range[1]);
  if (raw.includes('\n')) return 0;
  if (node.type === Scalar.PLAIN && raw === node.value) return offset;
  if (node.type === Scalar.QUOTE_DOUBLE && raw === `"${node.value}"`) return offset + 1;
  if (node.type === Scalar.QUOTE_SINGLE && raw === `'${node.value}'`) return offset + 1;
  return 0;
}

/** `key:` with nothing after it: the null scalar has no text of its own to point at. */
function isEmptyScalar(node: unknown): boolean {
  return isScalar(node) && node.value === null && !!node.range && node.range[0] === node.range[1];
}
