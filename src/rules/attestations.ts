/**
 * `attestations`: every listed attestation is required. For each, a threshold of its authorities
 * (compiled exactly as for `signatures`) must each have signed a statement of exactly the listed
 * predicate type, bound to the image digest, that satisfies the CEL condition. Never "any
 * attestation": the type is compared exactly before and during verification (GHSA-vjxv-45g9-9296,
 * GHSA-739f-hw6h-7wq8), and a payload that does not parse is a failure (GHSA-w6c6-c85g-mmv6).
 *
 * Evaluation is pure: candidates come from the attestation provider, the decision time from the facts.
 * A statement (by signature bytes) satisfies at most one authority, as for signatures.
 */
import { maximumMatching } from '../sigstore/matching.ts';
import type { Bundle } from '@sigstore/bundle';
import type { CompiledCondition, VariableDecl } from '../cel/compile.ts';
import { compileCondition, evaluateCondition } from '../cel/index.ts';
import { ATTESTATION_VARIABLES } from '../cel/variables.ts';
import type { AttestationFacts, ImageFacts } from '../engine/facts.ts';
import type { AttestationEvidence, RuleOutcome } from '../engine/outcome.ts';
import { fail } from '../engine/outcome.ts';
import type { AttestationsRule, PolicySet, RequiredAttestation, SignatureSource } from '../policy/model.ts';
import type { ImageReference } from '../reference/types.ts';
import { policyApplies } from '../policy/match.ts';
import type { Authority, SigningAuthority } from '../sigstore/authority.ts';
import { digestArtifact, type Artifact } from '../sigstore/bundle/artifact.ts';
import { SigstoreError, describeError, mostTelling } from '../sigstore/errors.ts';
import { isObject } from '../sigstore/json.ts';
import {
  legacyAttestationToBundleJSON,
  type AttestationCandidate,
} from '../sigstore/legacy/cosign-attestation.ts';
import { DEFAULT_LIMITS, type VerificationLimits } from '../sigstore/limits.ts';
import { parseBundle, verifyBundle, type VerifiedSignature } from '../sigstore/verifier.ts';
import {
  compileAuthorityList,
  compileThreshold,
  describeSource,
  signatureSourceKey,
  type SignatureSourceNeed,
} from './signatures.ts';
import { isRecord, tracking } from './support.ts';
import type { CompileContext, RuleKindDefinition } from './types.ts';

/** Short names (cosign `--type`, policy-controller) and the predicate type URIs they stand for. */
export const PREDICATE_TYPE_SHORT_NAMES: Readonly<Record<string, string>> = {
  slsaprovenance: 'https://slsa.dev/provenance/v0.2',
  slsaprovenance02: 'https://slsa.dev/provenance/v0.2',
  slsaprovenance1: 'https://slsa.dev/provenance/v1',
  spdx: 'https://spdx.dev/Document',
  spdxjson: 'https://spdx.dev/Document',
  cyclonedx: 'https://cyclonedx.org/bom',
  vuln: 'https://cosign.sigstore.dev/attestation/vuln/v1',
  openvex: 'https://openvex.dev/ns',
  custom: 'https://cosign.sigstore.dev/attestation/v1',
};

/** A full predicate type for a short name or a URI; undefined for anything else. */
export function expandPredicateType(value: string): string | undefined {
  const short = PREDICATE_TYPE_SHORT_NAMES[value.toLowerCase()];
  if (short !== undefined) return short;
  return /^[A-Za-z][A-Za-z0-9+.-]*:[^\s]+$/.test(value) ? value : undefined;
}

/** What an attestation condition may read (docs/cel.md): ATTESTATION_VARIABLES plus two shortcuts. */
export const ATTESTATION_CONDITION_VARIABLES: readonly VariableDecl[] = [
  ...ATTESTATION_VARIABLES,
  { name: 'predicateType', description: 'statement.predicateType' },
  { name: 'subject', description: 'statement.subject' },
];

/** DSSE payloads (SBOMs, provenance) are larger than signatures; the registry bounds blobs at 16 MiB. */
export const ATTESTATION_VERIFICATION_LIMITS: VerificationLimits = {
  ...DEFAULT_LIMITS,
  maxBundleBytes: 24 * 1024 * 1024,
  maxPayloadBytes: 16 * 1024 * 1024,
};

/** Verified statements whose condition is evaluated, per rule (each evaluation is bounded by its cost budget). */
const MAX_CONDITION_EVALUATIONS = 32;
const MAX_ATTESTATIONS_PER_RULE = 16;
const MAX_TYPES = 8;

/**
 * Which attestation sources the policies that apply to `ref` need (pure). Empty when no applicable
 * policy has an attestations rule with a signing authority: then nothing is fetched.
 */
export function requiredAttestationSources(policySet: PolicySet, ref: ImageReference): SignatureSourceNeed[] {
  const needs = new Map<string, SignatureSource>();
  for (const policy of policySet.policies) {
    if (!policyApplies(policy, ref)) continue;
    for (const rule of policy.rules) {
      if (rule.kind !== 'attestations') continue;
      for (const a of rule.attestations)
        for (const source of a.sources) needs.set(signatureSourceKey(source), source);
    }
  }
  return [...needs].map(([key, source]) => ({ source, key, formats: ['bundle', 'legacy'] }));
}

// ---------------------------------------------------------------------------------------------------
// Compile

function conditionMessage(expression: string, e: { message: string; line: number; column: number }): string {
  // The linter places single-line plain and quoted scalars exactly; block and folded scalars only at
  // their start, so the message always says where inside the expression.
  const where = expression.includes('\n')
    ? ` (line ${e.line}, column ${e.column} of the expression)`
    : ` (column ${e.column} of the expression)`;
  return `invalid condition: ${e.message}${where}`;
}

function compileItem(ctx: CompileContext, raw: unknown, index: number): RequiredAttestation | undefined {
  if (!isRecord(raw)) {
    ctx.error([index], 'an attestation must be a mapping with predicateType and authorities');
    return undefined;
  }
  const { ctx: inner, failed } = tracking(ctx);
  const name = typeof raw.name === 'string' ? raw.name : `attestation-${index}`;
  const many = raw.predicateTypes !== undefined;
  const field = many ? 'predicateTypes' : 'predicateType';
  const written: unknown[] = many
    ? Array.isArray(raw.predicateTypes)
      ? raw.predicateTypes
      : [undefined]
    : [raw.predicateType];
  const predicateTypes: string[] = [];
  if (many && raw.predicateType !== undefined) {
    inner.error([index, 'predicateTypes'], 'give either predicateType or predicateTypes, not both');
  } else if (
    written.length === 0 ||
    written.length > MAX_TYPES ||
    written.some((t) => typeof t !== 'string')
  ) {
    inner.error(
      [index, field],
      many
        ? `predicateTypes must be a list of 1 to ${MAX_TYPES} URIs or short names`
        : 'an attestation needs a predicateType (a URI or a short name) or predicateTypes (a list)',
    );
  }
  written.forEach((t, i) => {
    if (typeof t !== 'string') return;
    const path = many ? [index, field, i] : [index, field];
    const type = expandPredicateType(t);
    if (type === undefined)
      inner.error(
        path,
        `predicateType ${JSON.stringify(t)} is neither a URI nor a short name (${Object.keys(PREDICATE_TYPE_SHORT_NAMES).join(', ')})`,
        { found: JSON.stringify(t) },
      );
    else if (!predicateTypes.includes(type)) predicateTypes.push(type);
  });
  const items = Array.isArray(raw.authorities) ? (raw.authorities as unknown[]) : [];
  if (items.length === 0)
    inner.error([index, 'authorities'], 'an attestation needs at least one authority', {
      expected: 'a list of authorities',
    });
  const { authorities, sources } = compileAuthorityList(inner, items, [index, 'authorities'], 'attestation');
  const threshold = compileThreshold(inner, raw.threshold, items.length, [index, 'threshold']);
  let condition: CompiledCondition | undefined;
  if (raw.condition !== undefined) {
    if (typeof raw.condition !== 'string') {
      inner.error([index, 'condition'], 'condition must be a CEL expression (a string)');
    } else {
      const compiled = compileCondition(raw.condition, { variables: ATTESTATION_CONDITION_VARIABLES });
      if (compiled.ok) condition = compiled.program;
      else
        for (const e of compiled.errors)
          inner.error([index, 'condition'], conditionMessage(raw.condition, e), {
            offset: e.offset,
            found: JSON.stringify(
              raw.condition.length > 80 ? `${raw.condition.slice(0, 80)}...` : raw.condition,
            ),
          });
    }
  }
  if (failed() || predicateTypes.length === 0) return undefined;
  return {
    name,
    predicateType: predicateTypes.join(' or '),
    predicateTypes,
    authorities,
    threshold: threshold as number,
    ...(condition ? { condition } : {}),
    sources,
  };
}

function compile(raw: unknown, ctx: CompileContext): AttestationsRule | undefined {
  if (!Array.isArray(raw) || raw.length === 0) {
    ctx.error([], 'attestations must be a non-empty list of required attestations', {
      expected: 'a list of {name, predicateType, authorities, condition}',
    });
    return undefined;
  }
  if (raw.length > MAX_ATTESTATIONS_PER_RULE) {
    ctx.error([], `at most ${MAX_ATTESTATIONS_PER_RULE} attestations per rule, found ${raw.length}`);
    return undefined;
  }
  const { ctx: inner, failed } = tracking(ctx);
  const names = new Map<string, number>();
  const attestations: RequiredAttestation[] = [];
  raw.forEach((item, index) => {
    const a = compileItem(inner, item, index);
    const name = isRecord(item) && typeof item.name === 'string' ? item.name : `attestation-${index}`;
    const first = names.get(name);
    if (first !== undefined)
      inner.error(
        [index, 'name'],
        `attestation name ${JSON.stringify(name)} is used twice (also [${first}])`,
      );
    else names.set(name, index);
    if (a) attestations.push(a);
  });
  if (failed()) return undefined;
  return { kind: 'attestations', name: ctx.name, source: ctx.source, attestations };
}

// ---------------------------------------------------------------------------------------------------
// Evaluate

/** A candidate read as far as possible without trusting it: its (unverified) predicate type. */
interface Prepared {
  readonly source: string;
  readonly bundle?: Bundle;
  readonly predicateType?: string;
  readonly statement?: Record<string, unknown>;
  /** Why it could not be read (unparsable payload, malformed). */
  readonly problem?: string;
  /** A message-signature bundle (an image signature), not an attestation. */
  readonly signatureOnly?: boolean;
}

function prepare(c: AttestationCandidate): Prepared {
  try {
    const json =
      c.kind === 'legacy'
        ? legacyAttestationToBundleJSON(c.attestation, ATTESTATION_VERIFICATION_LIMITS)
        : c.bundle;
    const bundle = parseBundle(json, ATTESTATION_VERIFICATION_LIMITS);
    if (bundle.content.$case !== 'dsseEnvelope')
      // A plain image signature stored beside the attestations: not an attestation, not a problem.
      return { source: c.source, signatureOnly: true };
    let statement: unknown;
    try {
      statement = JSON.parse(Buffer.from(bundle.content.dsseEnvelope.payload).toString('utf8'));
    } catch {
      return { source: c.source, problem: 'DSSE payload is not JSON' };
    }
    if (!isObject(statement) || typeof statement.predicateType !== 'string')
      return { source: c.source, problem: 'DSSE payload is not an in-toto statement with a predicateType' };
    return { source: c.source, bundle, predicateType: statement.predicateType, statement };
  } catch (e) {
    return { source: c.source, problem: describeError(e) };
  }
}

/** What is left of the rule's verification attempts and condition evaluations. */
interface Budget {
  attempts: number;
  conditions: number;
}

interface Attempt {
  readonly candidate: number;
  readonly verified?: VerifiedSignature;
  /** Verified and the condition held. */
  readonly satisfied: boolean;
  readonly code: 'OK' | 'CONDITION_ERROR' | 'CONDITION_FALSE' | 'UNVERIFIED';
  readonly reason: string;
  readonly error?: SigstoreError;
}

function signerOf(v: VerifiedSignature): Record<string, unknown> {
  const san = v.certificate?.sans.find((s) => s.type !== 'dns');
  return {
    authority: v.authority,
    keyFingerprint: v.keyFingerprint,
    ...(v.certificate?.issuer !== undefined ? { issuer: v.certificate.issuer } : {}),
    ...(san ? { subject: san.value } : {}),
    sans: (v.certificate?.sans ?? []).map((s) => ({ type: s.type, value: s.value })),
    signedAt: v.signedAt.map((d) => d.toISOString()),
  };
}

function imageOf(facts: ImageFacts, digest: string): Record<string, unknown> {
  const ref = facts.reference;
  return {
    reference: facts.image,
    ...(ref ? { registry: ref.registry, repository: ref.repository } : {}),
    ...(ref?.tag !== undefined ? { tag: ref.tag } : {}),
    digest,
  };
}

function tryAuthority(
  authority: SigningAuthority,
  required: RequiredAttestation,
  prepared: readonly Prepared[],
  indexes: readonly number[],
  artifact: Artifact,
  context: { facts: ImageFacts; digest: string; now: Date; budget: Budget },
): Attempt[] {
  const out: Attempt[] = [];
  for (const i of indexes) {
    if (context.budget.attempts <= 0) break;
    context.budget.attempts--;
    const p = prepared[i] as Prepared;
    let verified: VerifiedSignature;
    try {
      verified = verifyBundle(p.bundle as Bundle, {
        artifact,
        authority,
        // The statement's own type, which is one of the required ones (checked again here, exactly).
        predicateType: p.predicateType as string,
        limits: ATTESTATION_VERIFICATION_LIMITS,
      });
    } catch (e) {
      const error =
        e instanceof SigstoreError
          ? e
          : new SigstoreError('SIGNATURE_INVALID', `signature invalid: ${describeError(e)}`);
      out.push({ candidate: i, satisfied: false, code: 'UNVERIFIED', reason: error.message, error });
      continue;
    }
    const by = `${verified.summary} (${p.source})`;
    if (!required.condition) {
      out.push({ candidate: i, verified, satisfied: true, code: 'OK', reason: by });
      continue;
    }
    if (context.budget.conditions <= 0) {
      out.push({
        candidate: i,
        verified,
        satisfied: false,
        code: 'CONDITION_ERROR',
        reason: `condition error: more than ${MAX_CONDITION_EVALUATIONS} statements to evaluate in this rule; the rest were not checked`,
      });
      continue;
    }
    context.budget.conditions--;
    const statement = p.statement as Record<string, unknown>;
    const bindings: Record<string, unknown> = {
      statement,
      predicateType: statement.predicateType,
      signer: signerOf(verified),
      image: imageOf(context.facts, context.digest),
    };
    if (statement.predicate !== undefined) bindings.predicate = statement.predicate;
    if (statement.subject !== undefined) bindings.subject = statement.subject;
    const result = evaluateCondition(required.condition, bindings, { now: context.now });
    if (!result.ok)
      out.push({
        candidate: i,
        verified,
        satisfied: false,
        code: 'CONDITION_ERROR',
        reason: `condition error: ${result.error} (statement signed by ${by})`,
      });
    else if (!result.value)
      out.push({
        candidate: i,
        verified,
        satisfied: false,
        code: 'CONDITION_FALSE',
        reason: `condition false: ${oneLine(required.condition.expression)} (statement signed by ${by})`,
      });
    else out.push({ candidate: i, verified, satisfied: true, code: 'OK', reason: by });
  }
  return out;
}

function oneLine(expression: string): string {
  const s = expression.replace(/\s+/g, ' ').trim();
  return s.length > 200 ? `${s.slice(0, 200)}...` : s;
}

function authorityFailure(
  required: RequiredAttestation,
  authority: string,
  attempts: readonly Attempt[],
  total: number,
): string {
  if (attempts.some((a) => a.satisfied))
    return 'its statements were already counted for other authorities (a statement counts once)';
  const cond =
    attempts.find((a) => a.code === 'CONDITION_ERROR') ?? attempts.find((a) => a.code === 'CONDITION_FALSE');
  if (cond) return cond.reason;
  if (attempts.length === 0) return 'not checked: verification attempt limit reached';
  // The same ranking as signature thresholds: the failure a user can act on first.
  const best = mostTelling(attempts, (a) => a.error?.code);
  const more = total > 1 ? ` (${total} statements checked)` : '';
  return `attestation of type ${required.predicateType} not signed by authority ${authority}: ${best.reason}${more}`;
}

interface Judged {
  readonly evidence: AttestationEvidence;
}

function judge(
  required: RequiredAttestation,
  facts: ImageFacts,
  digest: string,
  found: AttestationFacts | undefined,
  budget: Budget,
  read: (c: AttestationCandidate) => Prepared,
): Judged {
  const failed = (reason: string, count = 0): Judged => ({
    evidence: {
      name: required.name,
      predicateType: required.predicateType,
      satisfied: false,
      reason,
      found: count,
    },
  });
  const candidates: AttestationCandidate[] = [];
  const looked: string[] = [];
  if (required.sources.length > 0) {
    if (!found) return failed('attestations were not fetched for this image');
    for (const source of required.sources) {
      const s = found.sources.find((x) => x.key === signatureSourceKey(source));
      if (!s) return failed(`attestations from ${describeSource(source, facts.reference)} were not fetched`);
      if (!s.candidates.available) return failed(s.candidates.reason);
      looked.push(s.location);
      candidates.push(...s.candidates.value);
    }
  }
  const limited = candidates.slice(0, ATTESTATION_VERIFICATION_LIMITS.maxCandidates);
  const prepared = limited.map(read);
  const matching = prepared.flatMap((p, i) =>
    p.predicateType !== undefined && required.predicateTypes.includes(p.predicateType) ? [i] : [],
  );

  const statics = required.authorities.filter(
    (a): a is Extract<Authority, { kind: 'static' }> => a.kind === 'static',
  );
  const signers = required.authorities.filter((a): a is SigningAuthority => a.kind !== 'static');
  const staticPass = statics.filter((a) => a.action === 'pass');

  if (matching.length === 0 && staticPass.length < required.threshold) {
    const types = [
      ...new Set(prepared.flatMap((p) => (p.predicateType === undefined ? [] : [p.predicateType]))),
    ];
    const unreadable = prepared.filter((p) => p.problem !== undefined);
    const unread = unreadable.length
      ? `; ${unreadable.length} unreadable: ${(unreadable[0] as Prepared).problem}`
      : '';
    const ignored =
      candidates.length > limited.length
        ? `; ${candidates.length - limited.length} beyond the limit not read`
        : '';
    const where = looked.length ? ` in ${looked.join(', ')}` : '';
    return failed(
      `no attestations of type ${required.predicateType} found${where} (found types: ${types.length ? types.join(', ') : 'none'}${unread}${ignored})`,
    );
  }

  const artifact = digestArtifact(digest);
  const context = {
    facts,
    digest,
    now: found?.time ?? new Date(0),
    budget,
  };
  const attempts = new Map<string, Attempt[]>();
  for (const authority of signers)
    attempts.set(authority.name, tryAuthority(authority, required, prepared, matching, artifact, context));
  const satisfying = new Map<string, Attempt[]>();
  for (const [name, list] of attempts)
    satisfying.set(
      name,
      list.filter((a) => a.satisfied),
    );
  const matchOf = maximumMatching(
    satisfying.keys(),
    satisfying,
    (a) => (a.verified as VerifiedSignature).signatureId,
  );

  const results = required.authorities.map((a) => {
    if (a.kind === 'static')
      return { name: a.name, satisfied: a.action === 'pass', reason: a.message, attempt: undefined };
    const m = matchOf.get(a.name);
    if (m) return { name: a.name, satisfied: true, reason: m.reason, attempt: m };
    return {
      name: a.name,
      satisfied: false,
      reason: authorityFailure(required, a.name, attempts.get(a.name) ?? [], matching.length),
      attempt: undefined,
    };
  });
  const count = results.filter((r) => r.satisfied).length;
  const n = results.length;
  const satisfied = count >= required.threshold;
  let reason: string;
  const describe = (r: { name: string; reason: string }) => `${r.name}: ${r.reason}`;
  if (satisfied) {
    const by = results
      .filter((r) => r.satisfied)
      .map(describe)
      .join('; ');
    reason = `${required.predicateType} ${n > 1 ? `threshold ${required.threshold} of ${n} met (${count}): ` : 'by '}${by}`;
  } else if (n === 1) {
    reason = (results[0] as { reason: string }).reason;
  } else {
    reason = `threshold ${required.threshold} of ${n} not met (${count}): ${results
      .filter((r) => !r.satisfied)
      .map(describe)
      .join('; ')}`;
  }
  const statements = results.flatMap((r) => {
    const v = r.attempt?.verified;
    if (!r.satisfied || !v || !r.attempt) return [];
    const signer = signerOf(v);
    return [
      {
        authority: r.name,
        predicateType: (prepared[r.attempt.candidate] as Prepared).predicateType as string,
        source: (prepared[r.attempt.candidate] as Prepared).source,
        keyFingerprint: v.keyFingerprint,
        ...(typeof signer.subject === 'string' ? { subject: signer.subject } : {}),
        ...(typeof signer.issuer === 'string' ? { issuer: signer.issuer } : {}),
      },
    ];
  });
  return {
    evidence: {
      name: required.name,
      predicateType: required.predicateType,
      satisfied,
      reason,
      found: matching.length,
      ...(statements.length ? { statements } : {}),
    },
  };
}

function evaluate(rule: AttestationsRule, facts: ImageFacts): RuleOutcome {
  const digest = facts.digest;
  if (!digest)
    return fail(
      'image digest unknown: attestations are checked against the digest, and none was written or resolved',
    );
  if (!digest.available) return fail(`image digest unknown: ${digest.reason}`);
  let found: AttestationFacts | undefined;
  if (facts.attestations) {
    if (!facts.attestations.available) return fail(facts.attestations.reason);
    found = facts.attestations.value;
    if (found.digest !== digest.value)
      return fail(`attestations were fetched for ${found.digest}, not for the image digest ${digest.value}`);
  }
  // One budget for the whole rule: verifications and condition evaluations are bounded per decision.
  const budget: Budget = {
    attempts: ATTESTATION_VERIFICATION_LIMITS.maxAttempts,
    conditions: MAX_CONDITION_EVALUATIONS,
  };
  // Required attestations usually share their sources: each candidate is parsed once for the rule.
  const read = new Map<AttestationCandidate, Prepared>();
  const readOnce = (c: AttestationCandidate): Prepared => {
    let p = read.get(c);
    if (!p) read.set(c, (p = prepare(c)));
    return p;
  };
  const judged = rule.attestations.map(
    (a) => judge(a, facts, digest.value, found, budget, readOnce).evidence,
  );
  const failedOnes = judged.filter((j) => !j.satisfied);
  const line = (j: AttestationEvidence) => `attestation ${j.name}: ${j.reason}`;
  return {
    verdict: failedOnes.length === 0 ? 'pass' : 'fail',
    reason: (failedOnes.length === 0 ? judged : failedOnes).map(line).join('; '),
    evidence: { attestations: judged },
  };
}

export const attestations: RuleKindDefinition<AttestationsRule> = { kind: 'attestations', compile, evaluate };
