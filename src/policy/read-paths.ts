/**
 * Collecting policy files from the paths a user named: files as given, directories recursively
 * (*.yaml, *.yml, *.json). Entries starting with `.` are skipped, which also skips the `..data` and
 * `..<timestamp>` twins of a mounted Kubernetes ConfigMap. Everything is bounded: the number of files,
 * and the bytes read from each (read through a handle, so a file that grows after `stat` cannot make us
 * read more).
 */
import { open, readdir, realpath, stat } from 'node:fs/promises';
import { extname, join } from 'node:path';
import type { Diagnostic, PolicyFile } from './diagnostic.ts';
import { MAX_FILE_BYTES } from './source.ts';

export const MAX_FILES = 10_000;
const POLICY_EXTENSIONS = new Set(['.yaml', '.yml', '.json']);

export function mib(bytes: number): string {
  return `${(bytes / (1024 * 1024)).toFixed(1)} MiB`;
}

export function tooLarge(file: string, bytes: number): Diagnostic {
  return {
    file,
    line: 1,
    column: 1,
    path: '',
    message: `file is ${mib(bytes)}; policy files are limited to ${mib(MAX_FILE_BYTES)}`,
    severity: 'error',
  };
}

function problem(file: string, message: string): Diagnostic {
  return { file, line: 0, column: 0, path: '', message, severity: 'error' };
}

function errorText(error: unknown): string {
  const e = error as { code?: unknown; message?: unknown } | null;
  if (e?.code === 'ENOENT') return 'no such file or directory';
  if (e?.code === 'EACCES') return 'permission denied';
  return typeof e?.message === 'string' ? e.message : String(error);
}

/** Files in path order, so the result does not depend on directory listing order. */
export async function readPolicyFiles(
  paths: readonly string[],
): Promise<{ files: PolicyFile[]; problems: Diagnostic[] }> {
  const problems: Diagnostic[] = [];
  const found: string[] = [];
  const walked = new Set<string>();

  const walk = async (dir: string, top: string): Promise<number> => {
    let entries;
    try {
      const real = await realpath(dir);
      if (walked.has(real)) return 0; // a symlink loop, or a directory named twice
      walked.add(real);
      entries = (await readdir(dir)).sort();
    } catch (error) {
      problems.push(problem(dir, `cannot read directory: ${errorText(error)}`));
      return 0;
    }
    let count = 0;
    for (const name of entries) {
      if (name.startsWith('.')) continue;
      if (found.length >= MAX_FILES) {
        problems.push(problem(top, `more than ${MAX_FILES} policy files; refusing to load the rest`));
        return count;
      }
      const full = join(dir, name);
      try {
        const info = await stat(full);
        if (info.isDirectory()) count += await walk(full, top);
        else if (info.isFile() && POLICY_EXTENSIONS.has(extname(name).toLowerCase())) {
          found.push(full);
          count++;
        }
      } catch (error) {
        problems.push(problem(full, `cannot read: ${errorText(error)}`));
      }
    }
    return count;
  };

  for (const path of paths) {
    try {
      const info = await stat(path);
      if (info.isDirectory()) {
        if ((await walk(path, path)) === 0) {
          problems.push(problem(path, 'no policy files (*.yaml, *.yml, *.json) in this directory'));
        }
      } else if (info.isFile()) found.push(path);
      else problems.push(problem(path, 'not a regular file or directory'));
    } catch (error) {
      problems.push(problem(path, `cannot read: ${errorText(error)}`));
    }
  }

  const files: PolicyFile[] = [];
  const read = new Set<string>();
  for (const path of found) {
    try {
      const real = await realpath(path);
      if (read.has(real)) continue;
      read.add(real);
      const text = await readBounded(path);
      if (typeof text === 'number') problems.push(tooLarge(path, text));
      else if (text === undefined) problems.push(problem(path, 'file is not valid UTF-8 text'));
      else files.push({ path, text });
    } catch (error) {
      problems.push(problem(path, `cannot read: ${errorText(error)}`));
    }
  }
  return { files, problems };
}

/** The file's text; its size when over the limit; undefined when it is not UTF-8. */
async function readBounded(path: string): Promise<string | number | undefined> {
  const handle = await open(path, 'r');
  try {
    const size = (await handle.stat()).size;
    if (size > MAX_FILE_BYTES) return size;
    const buffer = Buffer.alloc(MAX_FILE_BYTES + 1);
    let length = 0;
    while (length < buffer.length) {
      const { bytesRead } = await handle.read(buffer, length, buffer.length - length, length);
      if (bytesRead === 0) break;
      length += bytesRead;
    }
    if (length > MAX_FILE_BYTES) return length;
    let text: string;
    try {
      text = new TextDecoder('utf-8', { fatal: true }).decode(buffer.subarray(0, length));
    } catch {
      return undefined;
    }
    return text.startsWith('\uFEFF') ? text.slice(1) : text;
  } finally {
    await handle.close();
  }
}
