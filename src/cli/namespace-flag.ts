/** RFC 1123 label: what a namespace name must be (install/options.ts checks its flags the same way). */
import { UsageError } from './exit-codes.ts';

const NAMESPACE = /^[a-z0-9](?:[-a-z0-9]{0,61}[a-z0-9])?$/;

/** `value` when it is a namespace name; else a usage error naming `flag`. */
export function namespaceFlag(value: string, flag: string): string {
  if (!NAMESPACE.test(value))
    throw new UsageError(
      `${flag} takes a namespace name (lower-case letters, digits and '-', at most 63), not ${JSON.stringify(value)}`,
    );
  return value;
}
