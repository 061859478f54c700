/**
 * `--audit-log FILE` of the long-running commands (`serve`, `controller`): opened at start, so a bad
 * path is a usage error that names the flag before anything runs, never a failure at the first record.
 */
import type { Logger } from 'pino';
import { openAuditSink, type AuditSink } from '../webhook/audit.ts';
import type { Io } from './command.ts';
import { UsageError } from './exit-codes.ts';

/** The file, or stdout when `path` is undefined; a later write error is logged (records are not decisions). */
export function openAuditLog(path: string | undefined, io: Io, logger: Logger): AuditSink {
  try {
    return openAuditSink(path, io.stdout, (error) =>
      logger.error({ error: error.message }, 'audit log write failed'),
    );
  } catch (error) {
    throw new UsageError(
      `cannot open --audit-log ${path}: ${(error as NodeJS.ErrnoException).code ?? (error as Error).message}`,
    );
  }
}
