/**
 * The audit trail: one JSON line per admission decision, to stdout or a file. Field names are a
 * contract for log pipelines (docs/webhook.md, "Audit log").
 */
import { createWriteStream, openSync, type WriteStream } from 'node:fs';
import type { Mode } from '../policy/model.ts';
import type { PodImage } from '../kubernetes/pod-spec.ts';
import type { ImageResult } from './engine.ts';
import { failureLines } from './messages.ts';

export interface AuditImage {
  readonly path: string;
  readonly image: string;
  readonly reference?: string;
  readonly digest?: string;
  /** `error`: no decision (internal error or deadline); denied. */
  readonly verdict: 'allow' | 'warn' | 'deny' | 'error';
  readonly mode?: Mode;
  readonly policies: readonly {
    readonly name: string;
    readonly version: string;
    readonly mode: Mode;
    readonly verdict: 'pass' | 'fail';
  }[];
  readonly reasons: readonly string[];
  readonly warnings: readonly string[];
}

export interface AuditRecord {
  readonly time: string;
  /** Which part of Portcullis decided: the webhook (`admission`) or `portcullis audit` / the controller. */
  readonly source: 'admission';
  readonly webhook: 'validate' | 'mutate' | 'imagereview';
  readonly uid: string;
  readonly user: string;
  readonly operation: string;
  /** `group/version/Kind`, `v1/Pod` for the core group. */
  readonly kind: string;
  readonly subResource?: string;
  readonly namespace: string;
  readonly name: string;
  readonly dryRun: boolean;
  readonly allowed: boolean;
  /** `skip`: not checked, for the reason in `skipped`. */
  readonly verdict: 'allow' | 'warn' | 'deny' | 'skip';
  readonly skipped?: string;
  /** `sha256:` of the policy set that decided (names and versions of each policy are per image). */
  readonly policySetVersion?: string;
  readonly images: readonly AuditImage[];
  readonly reasons: readonly string[];
  /** The JSON Patch replacements made by /mutate. */
  readonly pinned?: readonly { readonly path: string; readonly value: string }[];
  /**
   * Image pull secrets read for this request (`namespace/name`), those missing or unusable (`notes`),
   * and why they could not be read at all (`problem`).
   */
  readonly pullSecrets?: {
    readonly used: readonly string[];
    readonly notes: readonly string[];
    readonly problem?: string;
  };
}

export function auditImage(at: Pick<PodImage, 'path' | 'image'>, result: ImageResult): AuditImage {
  if ('error' in result) {
    return {
      path: at.path,
      image: at.image,
      verdict: 'error',
      policies: [],
      reasons: [result.error],
      warnings: [],
    };
  }
  const d = result.decision;
  return {
    path: at.path,
    image: at.image,
    ...(d.reference !== undefined ? { reference: d.reference } : {}),
    ...(d.digest !== undefined ? { digest: d.digest } : {}),
    verdict: d.outcome,
    mode: d.mode,
    policies: d.policies.map((p) => ({ name: p.name, version: p.version, mode: p.mode, verdict: p.verdict })),
    reasons: [
      ...d.reasons,
      // Audit-mode failures are recorded, never shown: this is where they are kept.
      ...failureLines(d, 'audit', (name) => `policy ${name} (audit)`),
    ],
    warnings: d.warnings,
  };
}

export interface AuditSink {
  /** One JSON line: a webhook record, or an audit/controller record of the same format. */
  write(record: AuditRecord | { readonly source: 'audit' }): void;
  close(): Promise<void>;
}

/**
 * Lines to stdout, or appended to `file`. A line is written whole (one write call per record). The file
 * is opened now, so a bad path fails at start (throws), not at the first decision; a later write error
 * goes to `onError` (the process keeps answering: the decision itself does not depend on the log).
 */
export function openAuditSink(
  file?: string,
  stdout: NodeJS.WritableStream = process.stdout,
  onError: (error: Error) => void = () => {},
): AuditSink {
  let stream: WriteStream | undefined;
  if (file !== undefined) {
    stream = createWriteStream('', { fd: openSync(file, 'a', 0o640) });
    stream.on('error', onError);
  }
  const out = stream ?? stdout;
  return {
    write(record) {
      out.write(JSON.stringify(record) + '\n');
    },
    close: () =>
      new Promise<void>((resolve) => {
        if (!stream) return resolve();
        stream.end(() => resolve());
      }),
  };
}
