/**
 * A file a flag names (`--registry-config`, `--predicate`), read within a size bound: a usage error that
 * names the flag when it is not a regular file or too large, and the system's code when it cannot be read.
 */
import { readBoundedFile } from '../util/bounded-file.ts';
import { UsageError } from './exit-codes.ts';

export async function readFlagFile(flag: string, what: string, path: string, max: number): Promise<string> {
  try {
    return (await readBoundedFile(path, max)).toString('utf8');
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === undefined) throw new UsageError(`${flag} ${path}: ${(error as Error).message}`);
    throw new UsageError(`cannot read ${what} ${path}: ${code}`);
  }
}
