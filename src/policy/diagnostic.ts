/** Problems found while loading a policy set, each pointing at the exact place in the file. */
import type { PolicySet } from './model.ts';

export interface Diagnostic {
  readonly file: string;
  /** 1-based; 0 when the problem concerns the file (or the set) as a whole. */
  readonly line: number;
  /** 1-based; 0 when the problem concerns the file (or the set) as a whole. */
  readonly column: number;
  /** Where in the document, e.g. `spec.rules[1].tags.forbid[0]`; empty for the document or file itself. */
  readonly path: string;
  readonly message: string;
  readonly found?: string;
  readonly expected?: string;
  readonly severity: 'error' | 'warning';
}

export type LoadResult =
  | { readonly ok: true; readonly policySet: PolicySet; readonly warnings: readonly Diagnostic[] }
  | { readonly ok: false; readonly diagnostics: readonly Diagnostic[] };

export interface PolicyFile {
  readonly path: string;
  readonly text: string;
}
