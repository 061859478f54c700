/**
 * Identity patterns. An exact value matches by string equality; a regular expression must match the
 * WHOLE value: it is compiled as `^(?:pattern)$`. cosign (Go RE2 MatchString) and @sigstore/verify
 * (`String.match`) both match unanchored, so `https://github.com/acme/.*` there also accepts
 * `https://github.com/acme/x.evil.com/...`-style look-alikes; here it cannot.
 * Values longer than the input bound never match (regex work stays bounded).
 */
import { SigstoreError, describeError } from '../errors.ts';
import { DEFAULT_LIMITS } from '../limits.ts';

export type StringMatchSpec = { readonly exact: string } | { readonly regexp: string };

export interface StringMatcher {
  /** For messages: `"value"` or `/pattern/`. */
  readonly description: string;
  matches(value: string | undefined): boolean;
}

const MAX_PATTERN_LENGTH = 1024;

export function compileMatcher(
  spec: StringMatchSpec,
  where: string,
  maxInput: number = DEFAULT_LIMITS.maxMatchInput,
): StringMatcher {
  if ('exact' in spec) {
    const exact = spec.exact;
    if (typeof exact !== 'string' || exact.length === 0) {
      throw new SigstoreError('AUTHORITY_INVALID', `${where}: exact value must be a non-empty string`);
    }
    return { description: JSON.stringify(exact), matches: (v) => v === exact };
  }
  const source = spec.regexp;
  if (typeof source !== 'string' || source.length === 0) {
    throw new SigstoreError('AUTHORITY_INVALID', `${where}: regular expression must be a non-empty string`);
  }
  if (source.length > MAX_PATTERN_LENGTH) {
    throw new SigstoreError(
      'AUTHORITY_INVALID',
      `${where}: regular expression longer than ${MAX_PATTERN_LENGTH} characters`,
    );
  }
  let re: RegExp;
  try {
    // The pattern must compile on its own first: wrapped only, an unbalanced `x)|(` would become
    // `^(?:x)|()$`, which matches any value that merely starts with x.
    new RegExp(source);
    re = new RegExp(`^(?:${source})$`);
  } catch (e) {
    throw new SigstoreError('AUTHORITY_INVALID', `${where}: invalid regular expression: ${describeError(e)}`);
  }
  return {
    description: `/${source}/`,
    matches: (v) => typeof v === 'string' && v.length <= maxInput && re.test(v),
  };
}
