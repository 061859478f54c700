/** One input text to images: size and binary checks, format detection, then the format's extractor. */
import { isMap, isScalar } from 'yaml';
import { extractCompose, isComposeDocument } from './compose.ts';
import { extractDockerfile } from './dockerfile.ts';
import { FindingLimitReached, Findings } from './findings.ts';
import { extractKubernetesObject } from './kubernetes.ts';
import type { YamlDocumentContext } from './kubernetes.ts';
import { LIMITS } from './types.ts';
import type { ExtractionResult, ExtractOptions, SourceProblem } from './types.ts';
import {
  YamlWorkLimitReached,
  describeNode,
  nodePosition,
  parseYamlDocuments,
  shareWorkBudget,
} from './yaml-documents.ts';

export const TEMPLATE_HINT =
  'this looks like a template (it contains "{{"): render it first, e.g. `helm template ... | portcullis check -`';

const DOCKERFILE_NAME = /^(?:(?:Docker|Container)file(?:\..+)?|.+\.(?:docker|container)file)$/i;
const YAML_NAME = /\.(?:ya?ml|json)$/i;

export function isDockerfileName(file: string): boolean {
  const base = file.split(/[\\/]/).pop() ?? file;
  return DOCKERFILE_NAME.test(base) && !/\.dockerignore$/i.test(base);
}

export function isYamlName(file: string): boolean {
  return YAML_NAME.test(file);
}

/**
 * Finds the images in one file's text, choosing the format from the file name (`Dockerfile`, `Dockerfile.*`,
 * `*.Dockerfile`, `Containerfile`; `*.yaml`, `*.yml`, `*.json`) or, for stdin and other names, from the content
 * (a first instruction of FROM or ARG means a Dockerfile, anything else is read as YAML or JSON).
 */
export function extractImages(file: string, text: string, options: ExtractOptions = {}): ExtractionResult {
  const unreadable = checkText(file, text);
  if (unreadable !== undefined) return { images: [], problems: [unreadable] };
  const findings = new Findings();
  try {
    if (looksLikeDockerfile(file, text)) extractDockerfile(file, text, findings, options);
    else extractYaml(file, text, findings);
  } catch (error) {
    if (error instanceof FindingLimitReached) {
      findings.problems.push({
        file,
        message: `more than ${LIMITS.maxFindingsPerFile} images and problems in one file; the rest was not read`,
        code: 'LIMIT_EXCEEDED',
      });
    } else if (error instanceof YamlWorkLimitReached) {
      findings.problems.push({
        file,
        message: `${error.message}; the rest was not read`,
        code: 'LIMIT_EXCEEDED',
      });
    } else {
      // A bug of ours must not turn into a crash or, worse, into a file silently checked as empty.
      const detail = error instanceof Error ? error.message : String(error);
      findings.problems.push({
        file,
        message: `could not be read as a manifest: ${detail}`,
        code: 'READ_FAILED',
      });
    }
  }
  const byPosition = (a: { source: { line: number; column: number } }, b: typeof a): number =>
    a.source.line - b.source.line || a.source.column - b.source.column;
  return { images: findings.images.sort(byPosition), problems: findings.problems };
}

function checkText(file: string, text: string): SourceProblem | undefined {
  // A UTF-16 code unit is at most 3 UTF-8 bytes, so the exact count is only needed near the limit.
  const bytes = text.length * 3 <= LIMITS.maxFileBytes ? text.length : Buffer.byteLength(text, 'utf8');
  if (bytes > LIMITS.maxFileBytes) return tooLarge(file, bytes);
  const nul = text.indexOf('\u0000');
  if (nul >= 0) {
    const before = text.slice(0, nul);
    const line = before.split('\n').length;
    const column = nul - before.lastIndexOf('\n');
    return {
      file,
      line,
      column,
      message: 'binary data (a NUL byte): not a Kubernetes manifest, Compose file or Dockerfile',
      code: 'BINARY',
    };
  }
  return undefined;
}

/** `bytes` undefined: the input was cut off while reading, so only "larger" is known. */
export function tooLarge(file: string, bytes?: number): SourceProblem {
  const limit = `${LIMITS.maxFileBytes / 1024 / 1024} MiB (${LIMITS.maxFileBytes} bytes)`;
  const what = file === '-' ? 'stdin' : 'file';
  const message =
    bytes === undefined
      ? `${what} is larger than the ${limit} limit`
      : `${what} has ${bytes} bytes, more than the ${limit} limit`;
  return { file, message, code: 'TOO_LARGE' };
}

function looksLikeDockerfile(file: string, text: string): boolean {
  if (isDockerfileName(file)) return true;
  if (isYamlName(file)) return false;
  for (const line of text.split('\n', 1000)) {
    if (/^\s*(#|$)/.test(line)) continue;
    return /^\s*(FROM|ARG)\s/i.test(line);
  }
  return false;
}

function extractYaml(file: string, text: string, findings: Findings): void {
  const parsed = parseYamlDocuments(file, text);
  // Helm and other Go templates are not YAML until rendered; say so rather than only "invalid YAML".
  const template = text.includes('{{') ? `; ${TEMPLATE_HINT}` : '';
  for (const problem of parsed.problems) {
    findings.problems.push(
      problem.code === 'YAML_SYNTAX' ? { ...problem, message: problem.message + template } : problem,
    );
  }
  shareWorkBudget(parsed.documents);
  parsed.documents.forEach((doc, documentIndex) => {
    // A document with syntax errors has been reported; its partial tree could show images that are not there.
    if (doc.errors.length > 0) return;
    const root = doc.contents;
    if (root === null || (isScalar(root) && root.value === null)) return;
    const ctx: YamlDocumentContext = { file, doc, lineCounter: parsed.lineCounter, documentIndex, findings };
    if (!isMap(root)) {
      findings.problem({
        file,
        ...nodePosition(parsed.lineCounter, root),
        message: `YAML document ${documentIndex} is ${describeNode(root)}, not a mapping: not a Kubernetes object or Compose file`,
        code: 'WRONG_TYPE',
      });
      return;
    }
    if (isComposeDocument(ctx, root)) extractCompose(ctx, root);
    else extractKubernetesObject(ctx, root);
  });
}
