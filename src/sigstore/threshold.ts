/**
 * "k of n authorities": evaluate a set of authorities against the candidate signatures of one image.
 *
 * Counting rules: each authority counts at most once; each signature (identified by the digest of
 * its signature bytes, so copies of one signature are one signature) satisfies at most one
 * authority; the assignment is a maximum matching, so the order of authorities cannot make a
 * satisfiable policy fail. Candidates and verification attempts are bounded; whatever is not
 * checked within the bounds does not count. The decision explains itself: which authority was
 * satisfied by what, and for each failure the most telling reason.
 */
import { maximumMatching } from './matching.ts';
import type { Authority, SigningAuthority } from './authority.ts';
import { COSIGN_SIGN_PREDICATE_TYPE, digestArtifact } from './bundle/artifact.ts';
import { SigstoreError, describeError, mostTelling, type SigstoreErrorCode } from './errors.ts';
import {
  prepareLegacySignature,
  verifyPreparedLegacySignature,
  type LegacySignature,
  type PreparedLegacySignature,
} from './legacy/cosign-signature.ts';
import { DEFAULT_LIMITS, type VerificationLimits } from './limits.ts';
import { parseBundle, verifyBundle, type VerifiedSignature } from './verifier.ts';

export type SignatureCandidate =
  /** A Sigstore bundle (bytes, JSON text or parsed JSON), e.g. from an OCI referrer. */
  | { readonly kind: 'bundle'; readonly source: string; readonly bundle: unknown }
  /** One layer of a legacy cosign `.sig` manifest. */
  | { readonly kind: 'legacy'; readonly source: string; readonly signature: LegacySignature };

export interface EvaluationInput {
  readonly authorities: readonly Authority[];
  /** Distinct authorities required. Default 1. */
  readonly threshold?: number;
  readonly candidates: readonly SignatureCandidate[];
  /** The digest being admitted, `sha256:<hex>`. */
  readonly imageDigest: string;
  /** Required in-toto predicateType of bundle signatures. Default cosign's image-signing type. */
  readonly predicateType?: string;
  readonly limits?: VerificationLimits;
}

export type FailureCode =
  SigstoreErrorCode | 'NO_SIGNATURES' | 'STATIC_FAIL' | 'SIGNATURE_ALREADY_COUNTED' | 'NOT_CHECKED';

export interface AuthorityResult {
  readonly authority: string;
  readonly kind: Authority['kind'];
  readonly satisfied: boolean;
  /** When satisfied by a signature: what verified, and where it came from. */
  readonly signature?: VerifiedSignature & { readonly source: string };
  /** Satisfied: what satisfied it. Failed: why, one line. */
  readonly reason: string;
  readonly code?: FailureCode;
}

export interface AuthorityDecision {
  readonly satisfied: boolean;
  readonly threshold: number;
  readonly satisfiedCount: number;
  readonly reason: string;
  readonly authorities: readonly AuthorityResult[];
  /** Candidates beyond the limit, not looked at. */
  readonly ignoredCandidates: number;
}

interface Attempt {
  readonly candidate: number;
  readonly result?: VerifiedSignature;
  readonly error?: SigstoreError;
}

export function evaluateAuthorities(input: EvaluationInput): AuthorityDecision {
  const limits = input.limits ?? DEFAULT_LIMITS;
  const n = input.authorities.length;
  const threshold = input.threshold ?? 1;
  if (n === 0) throw new SigstoreError('AUTHORITY_INVALID', 'no authorities to evaluate');
  if (!Number.isInteger(threshold) || threshold < 1 || threshold > n) {
    throw new SigstoreError(
      'AUTHORITY_INVALID',
      `threshold must be an integer from 1 to ${n}, got ${threshold}`,
    );
  }
  digestArtifact(input.imageDigest);
  const names = new Set(input.authorities.map((a) => a.name));
  if (names.size !== n) throw new SigstoreError('AUTHORITY_INVALID', 'authority names must be distinct');

  const candidates = input.candidates.slice(0, limits.maxCandidates);
  const ignoredCandidates = input.candidates.length - candidates.length;
  const parsed = candidates.map((c) => parseCandidate(c, input.imageDigest, limits));

  // 1. Every (signing authority, candidate) pair, within the attempt bound.
  let attemptsLeft = limits.maxAttempts;
  const attempts = new Map<string, Attempt[]>();
  for (const authority of input.authorities) {
    if (authority.kind === 'static') continue;
    const list: Attempt[] = [];
    for (let i = 0; i < candidates.length; i++) {
      if (attemptsLeft <= 0) break;
      attemptsLeft--;
      list.push(attempt(authority, i, parsed[i], input, limits));
    }
    attempts.set(authority.name, list);
  }

  // 2. Maximum matching of authorities to distinct signatures.
  const verified = new Map<string, Attempt[]>();
  for (const [name, list] of attempts)
    verified.set(
      name,
      list.filter((a) => a.result),
    );
  const matchOf = maximumMatching(
    input.authorities.filter((a) => a.kind !== 'static').map((a) => a.name),
    verified,
    (a) => (a.result as VerifiedSignature).signatureId,
  );

  // 3. Explain.
  const results: AuthorityResult[] = input.authorities.map((authority) => {
    if (authority.kind === 'static') {
      return authority.action === 'pass'
        ? { authority: authority.name, kind: 'static', satisfied: true, reason: authority.message }
        : {
            authority: authority.name,
            kind: 'static',
            satisfied: false,
            reason: authority.message,
            code: 'STATIC_FAIL',
          };
    }
    const matched = matchOf.get(authority.name);
    if (matched?.result) {
      const source = (candidates[matched.candidate] as SignatureCandidate).source;
      return {
        authority: authority.name,
        kind: authority.kind,
        satisfied: true,
        signature: { ...matched.result, source },
        reason: `${matched.result.summary} (${source})`,
      };
    }
    return {
      authority: authority.name,
      kind: authority.kind,
      satisfied: false,
      ...failure(attempts.get(authority.name) ?? [], candidates.length),
    };
  });

  const satisfiedCount = results.filter((r) => r.satisfied).length;
  const satisfied = satisfiedCount >= threshold;
  const describe = (r: AuthorityResult): string => `${r.authority}: ${r.reason}`;
  let reason: string;
  if (satisfied) {
    reason = results
      .filter((r) => r.satisfied)
      .map(describe)
      .join('; ');
    if (n > 1) reason = `threshold ${threshold} of ${n} met (${satisfiedCount}): ${reason}`;
  } else if (n === 1) {
    reason = (results[0] as AuthorityResult).reason;
  } else {
    reason = `threshold ${threshold} of ${n} not met (${satisfiedCount}): ${results
      .filter((r) => !r.satisfied)
      .map(describe)
      .join('; ')}`;
  }
  if (ignoredCandidates > 0)
    reason += ` (${ignoredCandidates} signatures beyond the limit of ${limits.maxCandidates} were not checked)`;
  return { satisfied, threshold, satisfiedCount, reason, authorities: results, ignoredCandidates };
}

/** A candidate's authority-independent checks, done once for all authorities. */
type Parsed =
  | { ok: true; bundle: ReturnType<typeof parseBundle> }
  | { ok: true; legacy: PreparedLegacySignature }
  | { ok: false; error: SigstoreError };

function parseCandidate(c: SignatureCandidate, imageDigest: string, limits: VerificationLimits): Parsed {
  try {
    return c.kind === 'legacy'
      ? { ok: true, legacy: prepareLegacySignature(c.signature, imageDigest, limits) }
      : { ok: true, bundle: parseBundle(c.bundle, limits) };
  } catch (e) {
    return { ok: false, error: asSigstoreError(e) };
  }
}

function attempt(
  authority: SigningAuthority,
  index: number,
  parsed: Parsed | undefined,
  input: EvaluationInput,
  limits: VerificationLimits,
): Attempt {
  if (!parsed || !parsed.ok)
    return { candidate: index, error: parsed?.error ?? new SigstoreError('BUNDLE_INVALID', 'unparsed') };
  try {
    const result =
      'legacy' in parsed
        ? verifyPreparedLegacySignature(parsed.legacy, authority, limits)
        : verifyBundle(parsed.bundle, {
            artifact: digestArtifact(input.imageDigest),
            authority,
            predicateType: input.predicateType ?? COSIGN_SIGN_PREDICATE_TYPE,
            limits,
          });
    return { candidate: index, result };
  } catch (e) {
    return { candidate: index, error: asSigstoreError(e) };
  }
}

const asSigstoreError = (e: unknown): SigstoreError =>
  e instanceof SigstoreError
    ? e
    : new SigstoreError('SIGNATURE_INVALID', `signature invalid: ${describeError(e)}`);

function failure(list: readonly Attempt[], candidateCount: number): { reason: string; code: FailureCode } {
  if (candidateCount === 0) return { reason: 'no signatures found', code: 'NO_SIGNATURES' };
  if (list.some((a) => a.result)) {
    return {
      reason: 'its valid signatures were already counted for other authorities (a signature counts once)',
      code: 'SIGNATURE_ALREADY_COUNTED',
    };
  }
  const errors = list.map((a) => a.error as SigstoreError);
  if (errors.length === 0) {
    return { reason: 'not checked: verification attempt limit reached', code: 'NOT_CHECKED' };
  }
  const best = mostTelling(errors, (e) => e.code);
  const unchecked = candidateCount - list.length;
  let reason = best.message;
  if (errors.length > 1) reason += ` (${errors.length} signatures checked)`;
  if (unchecked > 0) reason += ` (${unchecked} not checked: attempt limit reached)`;
  return { reason, code: best.code };
}
