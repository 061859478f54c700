import { loadPolicySet } from '../../src/policy/load.ts';
import type { LoadResult, PolicyFile } from '../../src/policy/load.ts';
import { formatDiagnostic } from '../../src/policy/format-diagnostic.ts';

export const HEAD = 'apiVersion: portcullis.dev/v1alpha1\nkind: ImagePolicy\n';

/** A valid policy document (lines 1-9) with `rules` to fill in at line 10 onwards. */
export function policy(name: string, rules: string, extraSpec = ''): string {
  return `${HEAD}metadata:\n  name: ${name}\nspec:\n${extraSpec}  images:\n    - glob: ghcr.io/acme/**\n  rules:\n${rules}`;
}

/** Every diagnostic as its one-line form, in order. */
export function lines(result: LoadResult): string[] {
  return (result.ok ? result.warnings : result.diagnostics).map(formatDiagnostic);
}

export function lint(files: Record<string, string> | string): string[] {
  const list: PolicyFile[] =
    typeof files === 'string'
      ? [{ path: 'p.yaml', text: files }]
      : Object.entries(files).map(([path, text]) => ({ path, text }));
  return lines(loadPolicySet(list));
}
