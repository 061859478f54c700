/** Runs `portcullis install` in-process and parses what it prints. */
import { parseAllDocuments } from 'yaml';
import { cli } from '../cli/run.ts';

export interface Obj {
  apiVersion: string;
  kind: string;
  metadata: {
    name: string;
    namespace?: string;
    labels?: Record<string, string>;
    annotations?: Record<string, string>;
  };
  // Test code reads deep into the objects; the assertions are the type checks.
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  [key: string]: any;
}

export const POLICIES = 'examples/policies';

export async function install(args: string[]): Promise<{ objects: Obj[]; yaml: string }> {
  const r = await cli(['install', ...args]);
  if (r.code !== 0) throw new Error(`install exited ${r.code}: ${r.stderr}`);
  const docs = parseAllDocuments(r.stdout);
  if (!Array.isArray(docs)) throw new Error('no documents');
  const objects = docs.map((d) => {
    if (d.errors.length) throw new Error(d.errors.map((e) => e.message).join('; '));
    return d.toJS() as Obj;
  });
  return { objects, yaml: r.stdout };
}

export function find(objects: readonly Obj[], kind: string, name?: string): Obj {
  const found = objects.filter((o) => o.kind === kind && (name === undefined || o.metadata.name === name));
  if (found.length !== 1) throw new Error(`expected one ${kind} ${name ?? ''}, found ${found.length}`);
  return found[0] as Obj;
}
