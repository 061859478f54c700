/**
 * Bounded YAML (and JSON) parsing with source positions.
 *
 * The `yaml` package is driven token by token (Lexer -> Parser -> Composer) instead of through
 * `parseAllDocuments`, so that a hostile file (10 MB of `[`, or millions of tiny documents) is cut off
 * after a fixed number of tokens or nesting levels, long before it can exhaust memory.
 */
import {
  Composer,
  Lexer,
  LineCounter,
  Parser,
  YAMLParseError,
  isAlias,
  isMap,
  isScalar,
  isSeq,
  visit,
} from 'yaml';
import type { Alias, Document, Node, YAMLMap, YAMLSeq } from 'yaml';
import { LIMITS } from './types.ts';
import type { SourceProblem } from './types.ts';

export interface ParsedYaml {
  documents: Document.Parsed[];
  lineCounter: LineCounter;
  problems: SourceProblem[];
}

export interface Position {
  line: number;
  column: number;
}

export function parseYamlDocuments(file: string, text: string): ParsedYaml {
  const lineCounter = new LineCounter();
  const documents: Document.Parsed[] = [];
  const problems: SourceProblem[] = [];
  // Parser.parse() would announce the first line itself; driving it token by token, we must.
  lineCounter.addNewLine(0);
  const parser = new Parser(lineCounter.addNewLine);
  // The library's own unique-key check compares each key with every earlier one: quadratic, so that
  // 30 000 distinct keys took 16 s. Duplicates are found in one pass by rejectDuplicateKeys instead.
  const composer = new Composer({ prettyErrors: false, uniqueKeys: false });
  const at = (offset: number): Position => {
    const { line, col } = lineCounter.linePos(offset);
    return { line, column: col };
  };
  const stop = (message: string): ParsedYaml => {
    problems.push({ file, ...at(parser.offset), message, code: 'YAML_TOO_COMPLEX' });
    return { documents: [], lineCounter, problems };
  };
  try {
    let tokens = 0;
    for (const lexeme of new Lexer().lex(text)) {
      if (++tokens > LIMITS.maxYamlTokens) {
        return stop(
          `YAML is too large to check: more than ${LIMITS.maxYamlTokens} tokens; split it into smaller files`,
        );
      }
      for (const cst of parser.next(lexeme)) documents.push(...composer.next(cst));
      if (documents.length > LIMITS.maxYamlDocuments) {
        return stop(`YAML has more than ${LIMITS.maxYamlDocuments} documents; split it into smaller files`);
      }
      if (parser.stack.length > LIMITS.maxYamlDepth) {
        return stop(`YAML is nested more than ${LIMITS.maxYamlDepth} levels deep`);
      }
    }
    for (const cst of parser.end()) documents.push(...composer.next(cst));
    documents.push(...composer.end());
  } catch (error) {
    // The parser is not expected to throw, but a stack overflow or a bug in it must not escape as a crash.
    const detail = error instanceof Error ? error.message : String(error);
    return stop(`YAML parser failed: ${detail}`);
  }
  for (const doc of documents) if (doc.errors.length === 0) rejectDuplicateKeys(doc);
  let reported = 0;
  const syntaxErrors = [...documents.flatMap((doc) => doc.errors), ...composer.streamInfo().errors];
  for (const error of syntaxErrors) {
    if (reported++ === LIMITS.maxYamlErrorsPerFile) {
      problems.push({
        file,
        message: `invalid YAML: ${syntaxErrors.length - LIMITS.maxYamlErrorsPerFile} more errors not shown`,
        code: 'YAML_SYNTAX',
      });
      break;
    }
    problems.push({
      file,
      ...at(error.pos[0]),
      message: `invalid YAML: ${error.message}`,
      code: 'YAML_SYNTAX',
    });
  }
  return { documents, lineCounter, problems };
}

/**
 * Duplicate keys are an error, not "last one wins": tools disagree on which one wins (encoding/json takes the
 * last, go-yaml refuses), so a checked `image` could differ from the deployed one. Keys are compared as
 * strings, which is stricter than YAML (`1` and `"1"` collide) in the safe direction.
 */
function rejectDuplicateKeys(doc: Document.Parsed): void {
  visit(doc, {
    Map: (_key, map) => {
      const keys = new Set<string>();
      for (const pair of map.items) {
        if (!isScalar(pair.key)) continue;
        const key = String(pair.key.value);
        if (keys.has(key)) {
          const offset = pair.key.range?.[0] ?? 0;
          doc.errors.push(
            new YAMLParseError([offset, offset + 1], 'DUPLICATE_KEY', 'Map keys must be unique'),
          );
        }
        keys.add(key);
      }
    },
  });
}

const aliasTargets = new WeakMap<Document.Parsed, Map<Alias, Node | undefined>>();

/**
 * Follows an alias to its anchored node; anchors cannot be aliases themselves, so one step suffices.
 *
 * `Alias.resolve` scans the whole document on every call, which makes a document of many aliases
 * quadratic (20 000 aliases took a minute); one pass per document resolves them all, with the same rule:
 * the last node with that anchor before the alias, in document order.
 */
export function deref(doc: Document.Parsed, node: unknown): unknown {
  if (!isAlias(node)) return node;
  let targets = aliasTargets.get(doc);
  if (targets === undefined) {
    const resolved = new Map<Alias, Node | undefined>();
    const anchors = new Map<string, Node>();
    visit(doc, {
      Node: (_key, visited) => {
        if (isAlias(visited)) resolved.set(visited, anchors.get(visited.source));
        else if (visited.anchor !== undefined) anchors.set(visited.anchor, visited);
      },
    });
    targets = resolved;
    aliasTargets.set(doc, targets);
  }
  return targets.get(node);
}

/** Aliases let a small file make us look at the same big mapping many times; this bounds the total. */
export class YamlWorkLimitReached extends Error {
  readonly code = 'LIMIT_EXCEEDED';
  constructor() {
    super(`YAML aliases and merge keys make reading this file take more than ${LIMITS.maxYamlWork} steps`);
    this.name = 'YamlWorkLimitReached';
  }
}

const budgets = new WeakMap<Document.Parsed, { left: number }>();

/** All documents of one file draw on one budget of mapping entries looked at. */
export function shareWorkBudget(documents: readonly Document.Parsed[]): void {
  const budget = { left: LIMITS.maxYamlWork };
  for (const doc of documents) budgets.set(doc, budget);
}

function spend(doc: Document.Parsed, steps: number): void {
  const budget = budgets.get(doc);
  if (budget === undefined) return;
  budget.left -= steps;
  if (budget.left < 0) throw new YamlWorkLimitReached();
}

/**
 * The value node of `key` in a mapping, honouring YAML merge keys (`<<: *defaults`), which Compose files
 * and go-yaml based Kubernetes tooling both accept. Keys written in the map win over merged ones, and
 * earlier merge sources over later ones. Returns undefined when the key is absent; a YAML null counts as absent.
 */
export function getField(
  doc: Document.Parsed,
  map: YAMLMap,
  key: string,
  seen: Set<YAMLMap> = new Set(),
): Node | undefined {
  spend(doc, map.items.length + 1);
  seen.add(map);
  const merges: unknown[] = [];
  for (const pair of map.items) {
    const k = deref(doc, pair.key);
    if (!isScalar(k)) continue;
    if (k.value === key) {
      const value = deref(doc, pair.value);
      if (value === null || value === undefined) return undefined;
      if (isScalar(value) && value.value === null) return undefined;
      return value as Node;
    }
    if (k.value === '<<' && k.source === '<<') merges.push(deref(doc, pair.value));
  }
  for (const merge of merges) {
    const sources = isSeq(merge) ? merge.items.map((item) => deref(doc, item)) : [merge];
    // Each merged mapping is looked into once per lookup, so chains and diamonds of merges stay linear.
    for (const source of sources) {
      if (!isMap(source) || seen.has(source)) continue;
      const found = getField(doc, source, key, seen);
      if (found !== undefined) return found;
    }
  }
  return undefined;
}

export function describeNode(node: unknown): string {
  if (isMap(node)) return 'a mapping';
  if (isSeq(node)) return 'a list';
  if (isScalar(node)) {
    const value = node.value;
    if (value === null) return 'null';
    if (typeof value === 'string') return 'a string';
    if (typeof value === 'number' || typeof value === 'bigint') return `a number (${String(value)})`;
    if (typeof value === 'boolean') return `a boolean (${String(value)})`;
    return 'a non-string value';
  }
  return 'an unknown node';
}

export function stringValue(node: unknown): string | undefined {
  return isScalar(node) && typeof node.value === 'string' ? node.value : undefined;
}

export function nodePosition(lineCounter: LineCounter, node: Node): Position {
  const offset = node.range?.[0] ?? 0;
  const { line, col } = lineCounter.linePos(offset);
  return { line, column: col };
}

export type { YAMLMap, YAMLSeq };
