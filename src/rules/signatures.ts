/**
 * `signatures`: a threshold of named authorities (key, keyless, static) must be satisfied by signatures
 * over the image digest. Names follow policy-controller's ClusterImagePolicy authorities, so a CIP
 * translates field by field (docs/policy-language.md, "signatures").
 *
 * Keys and trust roots are read and checked when the policy loads (a bad PEM or a missing file is a lint
 * error at its line); evaluation is pure: it hands the candidates the signature provider found to
 * src/sigstore's evaluateAuthorities, with the digest resolved once for the decision.
 */
import { dirname, isAbsolute, resolve } from 'node:path';
import type { ImageFacts, SignatureEvidence } from '../engine/facts.ts';
import type { AuthorityEvidence, RuleOutcome } from '../engine/outcome.ts';
import { fail } from '../engine/outcome.ts';
import type { PolicySet, SignatureFormat, SignatureSource, SignaturesRule } from '../policy/model.ts';
import type { ImageReference } from '../reference/types.ts';
import { policyApplies } from '../policy/match.ts';
import { parseReference } from '../reference/index.ts';
import { cosignAttachmentTag } from '../registry/cosign.ts';
import type {
  Authority,
  AuthoritySpec,
  SignatureSourceSpec,
  StringMatchSpec,
  TlogSpec,
} from '../sigstore/authority.ts';
import { compileAuthority } from '../sigstore/authority.ts';
import { describeError } from '../sigstore/errors.ts';
import { parsePublicKeyPem } from '../sigstore/key/public-key.ts';
import {
  evaluateAuthorities,
  type AuthorityDecision,
  type AuthorityResult,
  type SignatureCandidate,
} from '../sigstore/threshold.ts';
import { loadPublicGoodTrustRoot } from '../sigstore/trust/public-good.ts';
import { loadTrustedRoot, type TrustRoot } from '../sigstore/trust/trusted-root.ts';
import { isRecord, tracking } from './support.ts';
import type { CompileContext, PathSegment, RuleKindDefinition } from './types.ts';
import { readBoundedFileSync } from '../util/bounded-file.ts';
import { compileMatcher } from '../sigstore/identity/matcher.ts';

/** The name of the bundled (offline) Sigstore public-good trust root. */
export const PUBLIC_GOOD = 'public-good';

/**
 * Friendly names for Fulcio certificate extensions (https://github.com/sigstore/fulcio/blob/main/docs/oid-info.md).
 * The 1.2–1.6 ones are the deprecated GitHub-specific extensions, still present in Fulcio certificates.
 */
export const FULCIO_EXTENSIONS: Readonly<Record<string, string>> = {
  githubWorkflowTrigger: '1.3.6.1.4.1.57264.1.2',
  githubWorkflowSha: '1.3.6.1.4.1.57264.1.3',
  githubWorkflowName: '1.3.6.1.4.1.57264.1.4',
  githubWorkflowRepository: '1.3.6.1.4.1.57264.1.5',
  githubWorkflowRef: '1.3.6.1.4.1.57264.1.6',
  issuerV2: '1.3.6.1.4.1.57264.1.8',
  buildSignerURI: '1.3.6.1.4.1.57264.1.9',
  buildSignerDigest: '1.3.6.1.4.1.57264.1.10',
  runnerEnvironment: '1.3.6.1.4.1.57264.1.11',
  sourceRepositoryURI: '1.3.6.1.4.1.57264.1.12',
  sourceRepositoryDigest: '1.3.6.1.4.1.57264.1.13',
  sourceRepositoryRef: '1.3.6.1.4.1.57264.1.14',
  sourceRepositoryIdentifier: '1.3.6.1.4.1.57264.1.15',
  sourceRepositoryOwnerURI: '1.3.6.1.4.1.57264.1.16',
  sourceRepositoryOwnerIdentifier: '1.3.6.1.4.1.57264.1.17',
  buildConfigURI: '1.3.6.1.4.1.57264.1.18',
  buildConfigDigest: '1.3.6.1.4.1.57264.1.19',
  buildTrigger: '1.3.6.1.4.1.57264.1.20',
  runInvocationURI: '1.3.6.1.4.1.57264.1.21',
  sourceRepositoryVisibilityAtSigning: '1.3.6.1.4.1.57264.1.22',
};

const DOTTED_OID = /^[0-2](?:\.(?:0|[1-9]\d{0,9})){1,30}$/;
const AUTHORITY_KINDS = ['key', 'keyless', 'static'] as const;
const MAX_KEY_FILE_BYTES = 64 * 1024;
const MAX_TRUST_ROOT_BYTES = 4 * 1024 * 1024;
const PROBE_DIGEST = `sha256:${'0'.repeat(64)}`;

// ---------------------------------------------------------------------------------------------------
// Signature sources

/** Identifies a source across the rule (what it needs) and the facts (what was fetched). */
export function signatureSourceKey(source: SignatureSource): string {
  const repo = source.repository ? `${source.repository.registry}/${source.repository.repository}` : '';
  return `${repo}|${source.tagPrefix}`;
}

/** Where a source is for an image, for messages: `registry/repo` plus the tag prefix when set. */
export function describeSource(source: SignatureSource, ref?: ImageReference): string {
  const repo =
    source.repository ?? (ref ? { registry: ref.registry, repository: ref.repository } : undefined);
  const where = repo ? `${repo.registry}/${repo.repository}` : "the image's repository";
  return source.tagPrefix ? `${where} (tag prefix ${JSON.stringify(source.tagPrefix)})` : where;
}

export interface SignatureSourceNeed {
  readonly source: SignatureSource;
  readonly key: string;
  /** Which formats some applicable rule counts from this source. */
  readonly formats: readonly ('legacy' | 'bundle')[];
}

/**
 * Which signature sources the policies that apply to `ref` need (pure). Empty when no applicable policy
 * has a signatures rule with a signing authority: then no signature is fetched at all.
 */
export function requiredSignatureSources(policySet: PolicySet, ref: ImageReference): SignatureSourceNeed[] {
  const needs = new Map<string, { source: SignatureSource; formats: Set<'legacy' | 'bundle'> }>();
  for (const policy of policySet.policies) {
    if (!policyApplies(policy, ref)) continue;
    for (const rule of policy.rules) {
      if (rule.kind !== 'signatures') continue;
      for (const source of rule.sources) {
        const key = signatureSourceKey(source);
        const entry = needs.get(key) ?? { source, formats: new Set() };
        if (rule.format !== 'bundle') entry.formats.add('legacy');
        if (rule.format !== 'legacy') entry.formats.add('bundle');
        needs.set(key, entry);
      }
    }
  }
  return [...needs].map(([key, { source, formats }]) => ({ source, key, formats: [...formats].sort() }));
}

// ---------------------------------------------------------------------------------------------------
// Compile

function relativeTo(ctx: CompileContext, path: string): string {
  return isAbsolute(path) ? path : resolve(dirname(ctx.source.file), path);
}

function fileProblem(e: unknown): string {
  const code = (e as { code?: unknown } | null)?.code;
  if (code === 'ENOENT') return 'no such file';
  if (code === 'EACCES') return 'permission denied';
  if (code === 'EISDIR') return 'not a regular file';
  return describeError(e);
}

function readSmallFile(path: string, max: number): string {
  return readBoundedFileSync(path, max).toString('utf8');
}

/** A tiny helper: report at a path under `authorities[i]`. */
type At = (path: readonly PathSegment[], message: string, found?: unknown) => void;

function matchSpec(raw: Record<string, unknown>, field: string, at: At): StringMatchSpec | undefined {
  const exact = raw[field];
  const regexp = raw[`${field}RegExp`];
  if (exact !== undefined && regexp !== undefined) {
    at([`${field}RegExp`], `give either ${field} or ${field}RegExp, not both`);
    return undefined;
  }
  if (typeof exact === 'string' && exact.length > 0) return { exact };
  if (typeof regexp === 'string' && regexp.length > 0) {
    try {
      // The matcher the verifier will use: it refuses what would escape the anchors (`x)|(`) and overlong
      // patterns, so the error points here rather than at the authority.
      compileMatcher({ regexp }, `${field}RegExp`);
    } catch (e) {
      const why = describeError(e).replace(/^[^:]*: (invalid regular expression: )?/, '');
      at([`${field}RegExp`], `invalid regular expression ${JSON.stringify(regexp)}: ${why}`, regexp);
      return undefined;
    }
    return { regexp };
  }
  at([], `missing ${field} or ${field}RegExp`);
  return undefined;
}

interface TrustRootCache {
  readonly get: (ctx: CompileContext, value: string, at: At) => TrustRoot | undefined;
}

function trustRoots(): TrustRootCache {
  const loaded = new Map<string, TrustRoot>();
  return {
    get(ctx, value, at) {
      const path = value === PUBLIC_GOOD ? PUBLIC_GOOD : relativeTo(ctx, value);
      const cached = loaded.get(path);
      if (cached) return cached;
      try {
        const root =
          path === PUBLIC_GOOD
            ? loadPublicGoodTrustRoot()
            : loadTrustedRoot(readSmallFile(path, MAX_TRUST_ROOT_BYTES), { name: value });
        loaded.set(path, root);
        return root;
      } catch (e) {
        const what = path === PUBLIC_GOOD ? 'the public-good trust root' : `trust root ${path}`;
        at([], `cannot load ${what}: ${fileProblem(e)}`, value);
        return undefined;
      }
    },
  };
}

function compileSource(raw: unknown, at: At): SignatureSourceSpec | undefined {
  if (raw === undefined) return undefined;
  if (!isRecord(raw)) {
    at([], 'source must be a mapping with repository and/or tagPrefix');
    return undefined;
  }
  const out: { repository?: string; tagPrefix?: string } = {};
  if (typeof raw.repository === 'string') {
    try {
      const ref = parseReference(raw.repository);
      if (ref.tag !== undefined || ref.digest !== undefined)
        throw new Error('give a repository without tag or digest');
      out.repository = `${ref.registry}/${ref.repository}`;
    } catch (e) {
      at(
        ['repository'],
        `invalid signature repository ${JSON.stringify(raw.repository)}: ${describeError(e)}`,
        raw.repository,
      );
      return undefined;
    }
  }
  if (typeof raw.tagPrefix === 'string') {
    try {
      cosignAttachmentTag(PROBE_DIGEST, 'sig', raw.tagPrefix);
    } catch {
      at(
        ['tagPrefix'],
        `tag prefix ${JSON.stringify(raw.tagPrefix)} does not make a valid tag (letters, digits, '_', '.', '-')`,
        raw.tagPrefix,
      );
      return undefined;
    }
    out.tagPrefix = raw.tagPrefix;
  }
  return out;
}

function toSource(spec: SignatureSourceSpec | undefined): SignatureSource {
  const repo = spec?.repository;
  const slash = repo ? repo.indexOf('/') : -1;
  return {
    ...(repo ? { repository: { registry: repo.slice(0, slash), repository: repo.slice(slash + 1) } } : {}),
    tagPrefix: spec?.tagPrefix ?? '',
  };
}

function compileTlog(raw: unknown, at: At): TlogSpec | undefined {
  if (raw === undefined) return undefined;
  if (!isRecord(raw)) {
    at([], 'tlog must be a mapping, e.g. {required: false}');
    return undefined;
  }
  return {
    ...(typeof raw.required === 'boolean' ? { required: raw.required } : {}),
    ...(typeof raw.threshold === 'number' ? { threshold: raw.threshold } : {}),
  };
}

const MAX_KEYS_PER_AUTHORITY = 32;

function compileKey(
  ctx: CompileContext,
  raw: unknown,
  name: string,
  at: At,
): { pems: string[]; hash?: string } | undefined {
  if (!isRecord(raw)) {
    at([], 'key must be a mapping with data (PEM) or path (a PEM file)');
    return undefined;
  }
  if ((raw.data === undefined) === (raw.path === undefined)) {
    at(
      [],
      raw.data === undefined
        ? 'key needs data (PEM text) or path (a PEM file)'
        : 'give either key data or key path, not both',
    );
    return undefined;
  }
  let pem: string;
  let field: 'data' | 'path';
  if (typeof raw.path === 'string') {
    field = 'path';
    const path = relativeTo(ctx, raw.path);
    try {
      pem = readSmallFile(path, MAX_KEY_FILE_BYTES);
    } catch (e) {
      at(['path'], `cannot read key file ${path}: ${fileProblem(e)}`, raw.path);
      return undefined;
    }
  } else if (typeof raw.data === 'string') {
    field = 'data';
    pem = raw.data;
  } else {
    return undefined;
  }
  // Several PEM blocks are several keys (rotation): a signature by any one satisfies the authority once.
  const blocks = pem.match(/-----BEGIN PUBLIC KEY-----[\s\S]*?-----END PUBLIC KEY-----/g) ?? [pem];
  if (blocks.length > MAX_KEYS_PER_AUTHORITY) {
    at([field], `at most ${MAX_KEYS_PER_AUTHORITY} keys per authority, found ${blocks.length}`);
    return undefined;
  }
  for (const [i, block] of blocks.entries()) {
    try {
      parsePublicKeyPem(
        block,
        `authority ${JSON.stringify(name)} key${blocks.length > 1 ? ` ${i + 1}` : ''}`,
      );
    } catch (e) {
      at([field], describeError(e), field === 'path' ? raw.path : undefined);
      return undefined;
    }
  }
  return {
    pems: blocks,
    ...(typeof raw.hashAlgorithm === 'string' ? { hash: raw.hashAlgorithm.trim().toLowerCase() } : {}),
  };
}

function compileAuthorityItem(
  ctx: CompileContext,
  raw: Record<string, unknown>,
  name: string,
  roots: TrustRootCache,
  at: (prefix: readonly PathSegment[]) => At,
): Authority | undefined {
  const here = at([]);
  const kinds = AUTHORITY_KINDS.filter((k) => raw[k] !== undefined);
  if (kinds.length !== 1) {
    here(
      [],
      kinds.length === 0
        ? 'an authority needs exactly one of key, keyless or static, got neither'
        : `an authority needs exactly one of key, keyless or static, got ${kinds.join(' and ')}`,
    );
    return undefined;
  }
  const kind = kinds[0] as (typeof AUTHORITY_KINDS)[number];
  if (kind === 'static') {
    const extra = ['source', 'tlog', 'trustRoot'].filter((k) => raw[k] !== undefined);
    if (extra.length > 0) {
      here([extra[0] as string], `a static authority takes no ${extra.join(', ')}: it checks no signature`);
      return undefined;
    }
    const s = raw.static;
    if (!isRecord(s) || (s.action !== 'pass' && s.action !== 'fail')) {
      here(['static', 'action'], 'static action must be pass or fail');
      return undefined;
    }
    return compileAuthority({
      kind: 'static',
      name,
      action: s.action,
      ...(typeof s.message === 'string' ? { message: s.message } : {}),
    });
  }

  let ok = true;
  const flag: At = (path, message, found) => {
    ok = false;
    here(path, message, found);
  };
  const signatures = compileSource(raw.source, (p, m, f) => flag(['source', ...p], m, f));
  const tlog = compileTlog(raw.tlog, (p, m, f) => flag(['tlog', ...p], m, f));
  let trustRoot: TrustRoot | undefined;
  if (typeof raw.trustRoot === 'string') {
    trustRoot = roots.get(ctx, raw.trustRoot, (p, m, f) => flag(['trustRoot', ...p], m, f));
  }

  let spec: AuthoritySpec | undefined;
  if (kind === 'key') {
    const key = compileKey(ctx, raw.key, name, (p, m, f) => flag(['key', ...p], m, f));
    if (!key) return undefined;
    // A key authority that requires the log needs the log's keys: the public-good ones unless named.
    if (tlog?.required && !trustRoot && ok)
      trustRoot = roots.get(ctx, PUBLIC_GOOD, (p, m, f) => flag(['tlog', ...p], m, f));
    spec = {
      kind: 'key',
      name,
      keys: key.pems,
      ...(key.hash ? { hashAlgorithm: key.hash as 'sha256' } : {}),
      ...(tlog ? { tlog } : {}),
      ...(trustRoot ? { trustRoot } : {}),
      ...(signatures ? { signatures } : {}),
    };
  } else {
    const k = raw.keyless;
    if (!isRecord(k)) {
      flag(['keyless'], 'keyless must be a mapping with identities');
      return undefined;
    }
    if (k.trustRoot !== undefined) {
      if (raw.trustRoot !== undefined)
        flag(['keyless', 'trustRoot'], 'give trustRoot once (on the authority or in keyless)');
      else if (typeof k.trustRoot === 'string')
        trustRoot = roots.get(ctx, k.trustRoot, (p, m, f) => flag(['keyless', 'trustRoot', ...p], m, f));
    }
    if (!trustRoot && ok) trustRoot = roots.get(ctx, PUBLIC_GOOD, (p, m, f) => flag(['keyless', ...p], m, f));
    const identities = (Array.isArray(k.identities) ? k.identities : []).map((id: unknown, i: number) => {
      const idAt: At = (p, m, f) => flag(['keyless', 'identities', i, ...p], m, f);
      if (!isRecord(id)) {
        idAt([], 'an identity is a mapping of issuer (or issuerRegExp) and subject (or subjectRegExp)');
        return undefined;
      }
      const issuer = matchSpec(id, 'issuer', idAt);
      const subject = matchSpec(id, 'subject', idAt);
      return issuer && subject ? { issuer, subject } : undefined;
    });
    if (identities.length === 0)
      flag(['keyless', 'identities'], 'keyless needs at least one identity (issuer and subject)');
    const extensions = (Array.isArray(k.extensions) ? k.extensions : []).map((ext: unknown, i: number) => {
      const extAt: At = (p, m, f) => flag(['keyless', 'extensions', i, ...p], m, f);
      if (!isRecord(ext) || typeof ext.oid !== 'string') {
        extAt(
          [],
          'an extension constraint is a mapping of oid (dotted, or a name like githubWorkflowRepository) and value or valueRegExp',
        );
        return undefined;
      }
      const oid = FULCIO_EXTENSIONS[ext.oid] ?? ext.oid;
      if (!DOTTED_OID.test(oid)) {
        extAt(
          ['oid'],
          `${JSON.stringify(ext.oid)} is neither a dotted OID nor a known name (${Object.keys(FULCIO_EXTENSIONS).join(', ')})`,
          ext.oid,
        );
        return undefined;
      }
      const value = matchSpec(ext, 'value', extAt);
      return value ? { oid, value } : undefined;
    });
    if (!ok || !trustRoot) return undefined;
    spec = {
      kind: 'keyless',
      name,
      identities: identities as { issuer: StringMatchSpec; subject: StringMatchSpec }[],
      ...(extensions.length > 0
        ? { extensions: extensions as { oid: string; value: StringMatchSpec }[] }
        : {}),
      trustRoot,
      ...(tlog ? { tlog } : {}),
      // policy-controller's name: a certificate without an embedded CT-log timestamp is accepted.
      ...(k.insecureIgnoreSCT === true ? { ctlogThreshold: 0 } : {}),
      ...(signatures ? { signatures } : {}),
    };
  }
  if (!ok) return undefined;
  try {
    return compileAuthority(spec);
  } catch (e) {
    here([], describeError(e));
    return undefined;
  }
}

function compile(raw: unknown, outer: CompileContext): SignaturesRule | undefined {
  if (!isRecord(raw)) {
    outer.error([], 'signatures must be a mapping with authorities', { expected: 'a mapping' });
    return undefined;
  }
  const { ctx, failed } = tracking(outer);
  const items = Array.isArray(raw.authorities) ? (raw.authorities as unknown[]) : [];
  if (items.length === 0)
    ctx.error(['authorities'], 'signatures needs at least one authority', {
      expected: 'a list of authorities',
    });
  const { authorities, sources } = compileAuthorityList(ctx, items, ['authorities'], 'rule');

  const threshold = compileThreshold(ctx, raw.threshold, items.length, ['threshold']);
  const format = (typeof raw.format === 'string' ? raw.format : 'any') as SignatureFormat;
  if (!['legacy', 'bundle', 'any'].includes(format)) {
    ctx.error(['format'], 'format must be legacy, bundle or any', { found: JSON.stringify(raw.format) });
  }
  if (failed()) return undefined;
  return {
    kind: 'signatures',
    name: ctx.name,
    source: ctx.source,
    authorities,
    threshold: threshold as number,
    format,
    sources,
  };
}

/**
 * A threshold of distinct authorities out of `count` listed (default 1), reported at `path`; undefined
 * when it is not one.
 */
export function compileThreshold(
  ctx: CompileContext,
  raw: unknown,
  count: number,
  path: readonly PathSegment[],
): number | undefined {
  const threshold = raw === undefined ? 1 : raw;
  if (typeof threshold !== 'number' || !Number.isInteger(threshold) || threshold < 1) {
    ctx.error(path, 'threshold must be a whole number of authorities, at least 1', {
      found: JSON.stringify(threshold),
    });
    return undefined;
  }
  if (count > 0 && threshold > count) {
    ctx.error(
      path,
      `threshold ${threshold} is more than the ${count} authorities listed, so no image could pass`,
      {
        found: String(threshold),
        expected: `at most ${count}`,
      },
    );
    return undefined;
  }
  return threshold;
}

/**
 * Compiles a list of authorities (a signatures rule's, an attestation's), reporting at `path` +
 * `[index, ...]`; `where` names what holds the list, in the duplicate-name message. Returns the
 * authorities and the distinct sources their signers use.
 */
export function compileAuthorityList(
  ctx: CompileContext,
  items: readonly unknown[],
  path: readonly PathSegment[],
  where: string,
): { authorities: Authority[]; sources: SignatureSource[] } {
  const roots = trustRoots();
  const names = new Map<string, number>();
  const authorities: Authority[] = [];
  items.forEach((item, index) => {
    const at =
      (prefix: readonly PathSegment[]): At =>
      (p, message, found) =>
        ctx.error(
          [...path, index, ...prefix, ...p],
          message,
          found === undefined ? {} : { found: JSON.stringify(found) },
        );
    if (!isRecord(item)) {
      at([])([], 'an authority must be a mapping');
      return;
    }
    const name = typeof item.name === 'string' ? item.name : `authority-${index}`;
    const first = names.get(name);
    if (first !== undefined) {
      at(['name'])(
        [],
        `authority name ${JSON.stringify(name)} is used twice in this ${where} (also ${String(path.at(-1))}[${first}])`,
        name,
      );
    } else {
      names.set(name, index);
    }
    const authority = compileAuthorityItem(ctx, item, name, roots, at);
    if (authority) authorities.push(authority);
  });
  const sources = new Map<string, SignatureSource>();
  for (const a of authorities) {
    if (a.kind === 'static') continue;
    const source = toSource(a.signatures);
    sources.set(signatureSourceKey(source), source);
  }
  return { authorities, sources: [...sources.values()] };
}

// ---------------------------------------------------------------------------------------------------
// Evaluate

function evidenceOf(r: AuthorityResult): AuthorityEvidence {
  const s = r.signature;
  const san = s?.certificate?.sans[0];
  return {
    name: r.authority,
    kind: r.kind,
    satisfied: r.satisfied,
    reason: r.reason,
    ...(r.code ? { code: r.code } : {}),
    ...(s
      ? {
          signature: {
            source: s.source,
            keyFingerprint: s.keyFingerprint,
            ...(san ? { subject: san.value } : {}),
            ...(s.certificate?.issuer ? { issuer: s.certificate.issuer } : {}),
            tlog: s.tlog.map((t) => ({
              logId: t.logId,
              logIndex: t.logIndex,
              ...(t.integratedTime ? { integratedTime: t.integratedTime.toISOString() } : {}),
            })),
          },
        }
      : {}),
  };
}

/**
 * Verification results by the fetched signatures (the fact's object) and the rule. Decisions that share a
 * digest's evidence within one audit run or controller resync (src/app/evidence.ts) hand this rule the
 * very same fact object, and checking its candidates again could only give the same answer: the check
 * reads no clock, and the rule's keys and trust roots were fixed when it compiled. Keyed by identity, so
 * an entry lives exactly as long as that evidence; the webhook's facts are new for every decision.
 */
const verified = new WeakMap<SignatureEvidence, WeakMap<SignaturesRule, AuthorityDecision>>();

/** How many threshold evaluations were computed and how many reused (for tests and the audit bench). */
export const signatureVerificationStats = { computed: 0, reused: 0 };

/**
 * The threshold decision for `rule` over `candidates`, which it derived from `fetched` (sources and format
 * are the rule's) for `fetched.digest`; computed once per (fetched, rule). Without fetched evidence (static
 * authorities only) there is nothing to share.
 */
function verifyOnce(
  rule: SignaturesRule,
  fetched: SignatureEvidence | undefined,
  candidates: readonly SignatureCandidate[],
  imageDigest: string,
): AuthorityDecision {
  const byRule = fetched && verified.get(fetched);
  const known = byRule?.get(rule);
  if (known) {
    signatureVerificationStats.reused++;
    return known;
  }
  const decision = evaluateAuthorities({
    authorities: rule.authorities,
    threshold: rule.threshold,
    candidates,
    imageDigest,
  });
  signatureVerificationStats.computed++;
  if (byRule) byRule.set(rule, decision);
  else if (fetched) verified.set(fetched, new WeakMap([[rule, decision]]));
  return decision;
}

function evaluate(rule: SignaturesRule, facts: ImageFacts): RuleOutcome {
  const digest = facts.digest;
  if (!digest)
    return fail(
      'image digest unknown: signatures are checked against the digest, and none was written or resolved',
    );
  if (!digest.available) return fail(`image digest unknown: ${digest.reason}`);

  const candidates: SignatureCandidate[] = [];
  const looked: string[] = [];
  let fetched: SignatureEvidence | undefined;
  if (rule.sources.length > 0) {
    const signatures = facts.signatures;
    if (!signatures) return fail('signatures were not fetched for this image');
    if (!signatures.available) return fail(signatures.reason);
    if (signatures.value.digest !== digest.value) {
      return fail(
        `signatures were fetched for ${signatures.value.digest}, not for the image digest ${digest.value}`,
      );
    }
    fetched = signatures.value;
    for (const source of rule.sources) {
      const found = signatures.value.sources.find((s) => s.key === signatureSourceKey(source));
      if (!found) return fail(`signatures from ${describeSource(source, facts.reference)} were not fetched`);
      if (!found.candidates.available) return fail(found.candidates.reason);
      looked.push(found.location);
      for (const c of found.candidates.value)
        if (rule.format === 'any' || c.kind === rule.format) candidates.push(c);
    }
  }

  const decision = verifyOnce(rule, fetched, candidates, digest.value);
  let reason = decision.reason;
  const only = decision.authorities.length === 1 ? decision.authorities[0] : undefined;
  // One authority: its own line, named (the multi-authority reason already names each one).
  if (only)
    reason = `${only.authority}: ${only.reason}${decision.ignoredCandidates > 0 ? ` (${decision.ignoredCandidates} signatures not checked)` : ''}`;
  if (candidates.length === 0 && looked.length > 0) {
    const kind = rule.format === 'any' ? '' : `${rule.format} `;
    reason += ` (looked for ${kind}signatures of ${digest.value} in ${looked.join(', ')})`;
  }
  return {
    verdict: decision.satisfied ? 'pass' : 'fail',
    reason,
    evidence: {
      signatures: {
        digest: digest.value,
        threshold: decision.threshold,
        satisfiedCount: decision.satisfiedCount,
        candidates: candidates.length,
        authorities: decision.authorities.map(evidenceOf),
      },
    },
  };
}

export const signatures: RuleKindDefinition<SignaturesRule> = { kind: 'signatures', compile, evaluate };
