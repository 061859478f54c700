import { execFileSync } from 'node:child_process';
import assert from 'node:assert/strict';
import type { ExtractionResult, ImageOccurrence } from '../../src/sources/index.ts';

/** Real objects from kubectl's client-side generators, when kubectl is installed. */
export function kubectl(args: string[]): string | undefined {
  try {
    return execFileSync('kubectl', [...args, '--dry-run=client'], {
      encoding: 'utf8',
      stdio: ['ignore', 'pipe', 'ignore'],
    });
  } catch {
    return undefined;
  }
}

export const hasKubectl =
  kubectl(['create', 'deployment', 'probe', '--image=x:1', '-o', 'json']) !== undefined;

/** 1-based line and column of the `nth` occurrence of `needle` in `text`. */
export function positionOf(text: string, needle: string, nth = 0): { line: number; column: number } {
  let index = -1;
  for (let i = 0; i <= nth; i++) {
    index = text.indexOf(needle, index + 1);
    assert.ok(index >= 0, `${needle} not found`);
  }
  const before = text.slice(0, index);
  return { line: before.split('\n').length, column: index - before.lastIndexOf('\n') };
}

/** The compact form most assertions compare: image, path and position. */
export function brief(result: ExtractionResult): { image: string; path: string; at: string }[] {
  return result.images.map((i: ImageOccurrence) => ({
    image: i.image,
    path: i.source.path,
    at: `${i.source.line}:${i.source.column}`,
  }));
}
