/** Files, directories and stdin to images. Unreadable paths become problems, so the check fails closed. */
import { open, readdir, realpath, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { extractImages, isDockerfileName, isYamlName, tooLarge } from './extract.ts';
import { LIMITS } from './types.ts';
import type { ExtractionResult, ExtractOptions, SourceProblem } from './types.ts';

/** Directories that never hold deployable manifests and can be huge. */
const SKIPPED_DIRECTORIES = new Set(['.git', 'node_modules']);

type TextOrProblem = { text: string } | { problem: SourceProblem };
/** What a walk finds, in order: candidate files, and the paths it could not look into. */
type Found = { file: string } | { problem: SourceProblem };

/**
 * Extracts images from each path in order: '-' is stdin (read once), a file is read whatever its name,
 * a directory is walked recursively (sorted, not following symlinked directories out of a cycle) for
 * `*.yaml`, `*.yml`, `*.json`, `Dockerfile`, `Dockerfile.*`, `*.Dockerfile` and `Containerfile` files.
 */
export async function extractFromPaths(
  paths: string[],
  readStdin: () => Promise<string> = () => readStream(process.stdin),
  options: ExtractOptions = {},
): Promise<ExtractionResult> {
  const result: ExtractionResult = { images: [], problems: [] };
  let stdin: Promise<TextOrProblem> | undefined;
  const add = (file: string, input: TextOrProblem): void => {
    if ('problem' in input) {
      result.problems.push(input.problem);
      return;
    }
    const extracted = extractImages(file, input.text, options);
    result.images.push(...extracted.images);
    result.problems.push(...extracted.problems);
  };
  for (const path of paths) {
    if (path === '-') {
      stdin ??= readStdin().then(
        (text) => ({ text }),
        (error: unknown) => ({ problem: readProblem('-', error) }),
      );
      add('-', await stdin);
      continue;
    }
    let info;
    try {
      info = await stat(path);
    } catch (error) {
      result.problems.push(readProblem(path, error));
      continue;
    }
    if (info.isDirectory()) {
      const state: Walk = { found: [], files: 0, seen: new Set() };
      await walk(path, state, 0).catch((error: unknown) => {
        if (!(error instanceof WalkLimitReached)) throw error;
      });
      for (const entry of state.found) {
        if ('problem' in entry) result.problems.push(entry.problem);
        else add(entry.file, await readBounded(entry.file));
      }
    } else if (info.isFile()) {
      add(path, await readBounded(path));
    } else {
      result.problems.push({ file: path, message: 'not a regular file or directory', code: 'READ_FAILED' });
    }
  }
  return result;
}

interface Walk {
  found: Found[];
  files: number;
  /** Real paths of the directories entered, so that symlink cycles end. */
  seen: Set<string>;
}

async function walk(dir: string, state: Walk, depth: number): Promise<void> {
  const { found, seen } = state;
  let real: string;
  let entries;
  try {
    real = await realpath(dir);
    entries = await readdir(dir, { withFileTypes: true });
  } catch (error) {
    found.push({ problem: readProblem(dir, error) });
    return;
  }
  if (seen.has(real)) return;
  seen.add(real);
  if (depth > LIMITS.maxDirectoryDepth) {
    const message = `directories nested more than ${LIMITS.maxDirectoryDepth} deep`;
    found.push({ problem: { file: dir, message, code: 'LIMIT_EXCEEDED' } });
    return;
  }
  entries.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  for (const entry of entries) {
    const path = join(dir, entry.name);
    let isDirectory = entry.isDirectory();
    let isFile = entry.isFile();
    if (entry.isSymbolicLink()) {
      try {
        const target = await stat(path);
        isDirectory = target.isDirectory();
        isFile = target.isFile();
      } catch (error) {
        found.push({ problem: readProblem(path, error) });
        continue;
      }
    }
    if (isDirectory) {
      if (!SKIPPED_DIRECTORIES.has(entry.name)) await walk(path, state, depth + 1);
    } else if (isFile && (isYamlName(entry.name) || isDockerfileName(entry.name))) {
      if (state.files++ === LIMITS.maxFilesPerWalk) {
        const message = `more than ${LIMITS.maxFilesPerWalk} candidate files; the rest were not checked`;
        found.push({ problem: { file: dir, message, code: 'LIMIT_EXCEEDED' } });
        throw new WalkLimitReached();
      }
      found.push({ file: path });
    }
  }
}

/** Reads at most the size limit plus one byte, so a file growing under us cannot exceed it either. */
async function readBounded(file: string): Promise<TextOrProblem> {
  let handle;
  try {
    handle = await open(file, 'r');
    const { size } = await handle.stat();
    if (size > LIMITS.maxFileBytes) return { problem: tooLarge(file, size) };
    const buffer = Buffer.alloc(Math.min(size, LIMITS.maxFileBytes) + 1);
    let length = 0;
    for (;;) {
      const { bytesRead } = await handle.read(buffer, length, buffer.length - length, null);
      if (bytesRead === 0) break;
      length += bytesRead;
      if (length === buffer.length) break;
    }
    if (length > LIMITS.maxFileBytes) return { problem: tooLarge(file) };
    return decode(file, buffer.subarray(0, length));
  } catch (error) {
    return { problem: readProblem(file, error) };
  } finally {
    await handle?.close();
  }
}

function decode(file: string, bytes: Buffer): TextOrProblem {
  // NUL first: binary files are usually also invalid UTF-8, and "binary" is the more useful message.
  if (bytes.includes(0)) {
    return { text: bytes.toString('latin1') }; // extractImages reports the NUL with its position
  }
  try {
    return { text: new TextDecoder('utf-8', { fatal: true }).decode(bytes) };
  } catch {
    return { problem: { file, message: 'not valid UTF-8 text', code: 'NOT_UTF8' } };
  }
}

async function readStream(stream: NodeJS.ReadableStream): Promise<string> {
  const chunks: Buffer[] = [];
  let length = 0;
  for await (const chunk of stream) {
    const buffer = typeof chunk === 'string' ? Buffer.from(chunk) : chunk;
    length += buffer.length;
    if (length > LIMITS.maxFileBytes) throw new StdinTooLarge();
    chunks.push(buffer);
  }
  const bytes = Buffer.concat(chunks);
  if (bytes.includes(0)) return bytes.toString('latin1');
  return new TextDecoder('utf-8', { fatal: true }).decode(bytes);
}

class StdinTooLarge extends Error {
  readonly code = 'TOO_LARGE';
  constructor() {
    super('stdin is too large');
    this.name = 'StdinTooLarge';
  }
}

function readProblem(file: string, error: unknown): SourceProblem {
  if (error instanceof StdinTooLarge) return tooLarge(file);
  if (error instanceof TypeError && /encoded data was not valid/i.test(error.message)) {
    return { file, message: 'not valid UTF-8 text', code: 'NOT_UTF8' };
  }
  const code = (error as { code?: unknown }).code;
  const reasons: Record<string, string> = {
    ENOENT: 'no such file or directory',
    EACCES: 'permission denied',
    EPERM: 'permission denied',
    EISDIR: 'is a directory',
    ELOOP: 'too many levels of symbolic links',
  };
  const reason =
    typeof code === 'string'
      ? (reasons[code] ?? code)
      : error instanceof Error
        ? error.message
        : String(error);
  return { file, message: `cannot read: ${reason}`, code: 'READ_FAILED' };
}

class WalkLimitReached extends Error {
  readonly code = 'LIMIT_EXCEEDED';
  constructor() {
    super('walk limit reached');
    this.name = 'WalkLimitReached';
  }
}
