/**
 * Wiring: facts from the providers, then the pure engine. The one place that knows which providers run
 * for a decision; the CLI (and later the webhook) call this and never assemble facts themselves.
 */
import type { Decision } from '../engine/decision.ts';
import type { AdmissionContext, ImageFacts } from '../engine/facts.ts';
import type { PolicySet } from '../policy/model.ts';
import type { RegistryClient } from '../registry/client.ts';
import type { ContentSource } from '../registry/content.ts';
import { evaluate } from '../engine/evaluate.ts';
import { known, unavailable, type Fact } from '../engine/facts.ts';
import type { ImageReference } from '../reference/types.ts';
import { canonical } from '../reference/index.ts';
import { VerdictCache, type TagCache } from './verdict-cache.ts';
import { referenceFacts } from '../providers/reference-facts.ts';
import { resolveDigest } from '../providers/registry-facts.ts';
import { withAttestations } from '../providers/attestations.ts';
import { requiredContent, withImageContent } from '../providers/image-content.ts';
import { requiredAttestationSources } from '../rules/attestations.ts';
import { identityOf, type EvidenceKind, type EvidenceMemo } from './evidence.ts';
import { selectsOnContext } from './context.ts';
import { fetchSignatures } from '../providers/signatures.ts';
import { sourceOpener } from '../providers/attachment-sources.ts';
import {
  isLayoutReference,
  layoutImageReference,
  parseLayoutReference,
} from '../registry/layout-reference.ts';
import { openOciLayout } from '../registry/layout.ts';
import { forOneDecision } from '../registry/per-decision.ts';
import { DEFAULT_LIMITS } from '../registry/limits.ts';
import { requiredSignatureSources } from '../rules/signatures.ts';

export interface DecideOptions {
  /** No network: digests come only from references written with one. */
  readonly offline: boolean;
  /** Required unless offline. */
  readonly registry?: RegistryClient;
  /** The whole decision's deadline, registry round trips included. */
  readonly timeoutMs: number;
  /** The decision time (CEL `now`, image age); default the clock. */
  readonly now?: () => Date;
  /** Long-running deciders (the webhook) reuse verdicts and recent tag resolutions; see verdict-cache.ts. */
  readonly cache?: { readonly verdicts: VerdictCache; readonly tags?: TagCache };
  /**
   * One run's evidence (an audit, a controller resync): decisions of one digest share the signatures,
   * attestations and image content gathered for it; each still resolves its own tag and runs the engine.
   * Never give one memo to a long-running decider (the webhook): it is not a cache across time.
   */
  readonly evidence?: EvidenceMemo;
}

export interface DecideRequest {
  /**
   * For `oci:DIR[:TAG]` images: the registry name the policies should judge the image as
   * (an OCI layout has no registry name of its own).
   */
  readonly as?: string;
  /**
   * Where the image is being admitted (kind, namespace, labels), for policies with `spec.match`; absent
   * for a bare image (`verify`), and then every `match` counts as matching (fail closed).
   */
  readonly context?: AdmissionContext;
}

export interface ImageDecider {
  decide(image: string, request?: DecideRequest): Promise<Decision>;
}

export function createDecider(policySet: PolicySet, options: DecideOptions): ImageDecider {
  return {
    async decide(image, request = {}) {
      // One deadline for the whole decision: tag resolution and signature fetching share it.
      const signal = AbortSignal.timeout(options.timeoutMs);
      const found = await gatherFacts(image, request, options, signal);
      const gathered = request.context
        ? { ...found, facts: { ...found.facts, context: request.context } }
        : found;
      const digest = gathered.facts.digest?.available ? gathered.facts.digest.value : undefined;
      // An OCI layout is a local directory, not a digest in a registry: nothing to share.
      const memo = isLayoutReference(image) ? undefined : options.evidence;
      const rest = () => decideFromFacts(policySet, gathered, options, signal, memo);
      if (!options.cache || !digest) return rest();
      // The admission context only matters when some policy selects on it: otherwise a Deployment's
      // verdict serves its ReplicaSet and Pods too (same digest, same policies; nothing a client wrote).
      const context = selectsOnContext(policySet) ? request : { as: request.as };
      const key = VerdictCache.key({ image, digest, policySetVersion: policySet.version, context });
      return options.cache.verdicts.run(key, rest);
    },
  };
}

/** Everything after the digest is known: the facts the applicable policies need, then the engine. */
async function decideFromFacts(
  policySet: PolicySet,
  gathered: GatheredFacts,
  options: DecideOptions,
  signal: AbortSignal,
  memo?: EvidenceMemo,
): Promise<Decision> {
  const now = options.now?.() ?? new Date();
  const shared = memo ? sharing(memo, gathered, options, signal) : undefined;
  const signed = await withSignatures(policySet, gathered, options, signal, shared);
  const wiring = {
    offline: options.offline,
    signal,
    now,
    ...(options.registry ? { registry: options.registry } : {}),
    ...(gathered.content ? { content: gathered.content } : {}),
  };
  const attested = await withSharedAttestations(policySet, signed, wiring, shared);
  const described = await withSharedContent(policySet, attested, wiring, shared);
  return evaluate(policySet, described);
}

/** How one decision asks the run's memo for a fact about its digest; undefined when there is no digest. */
type Share = <T>(kind: EvidenceKind, asked: unknown, gather: () => Promise<Fact<T>>) => Promise<Fact<T>>;

function sharing(
  memo: EvidenceMemo,
  { facts, content }: GatheredFacts,
  options: DecideOptions,
  signal: AbortSignal,
): Share | undefined {
  const ref = facts.reference;
  if (!ref || !facts.digest?.available) return undefined;
  const digest = facts.digest.value;
  // What a fact depends on besides what was asked: the registry client (its credentials, limits and
  // transport), offline or not, and where the image's own content is read.
  const scope = [
    options.registry ? `client ${identityOf(options.registry)}` : 'no client',
    options.offline ? 'offline' : 'online',
    content?.location ?? '',
  ];
  const { registry, repository } = ref;
  return (kind, asked, gather) =>
    memo.fact({ kind, registry, repository, digest, scope, asked }, gather, signal);
}

/**
 * Attestations as withAttestations gathers them, shared by digest and sources; the decision time is the
 * one thing of the fact that is not evidence, so each decision puts its own back.
 */
async function withSharedAttestations(
  policySet: PolicySet,
  facts: ImageFacts,
  wiring: Parameters<typeof withAttestations>[2] & { readonly now: Date },
  share: Share | undefined,
): Promise<ImageFacts> {
  if (!share || !facts.reference) return withAttestations(policySet, facts, wiring);
  const needs = requiredAttestationSources(policySet, facts.reference);
  if (needs.length === 0) return facts;
  const fact = await share(
    'attestations',
    needs.map((n) => n.key),
    async () => {
      const found = (await withAttestations(policySet, facts, wiring)).attestations;
      return found ?? unavailable('attestations were not gathered');
    },
  );
  return {
    ...facts,
    attestations: fact.available ? known({ ...fact.value, time: wiring.now }) : fact,
  };
}

/** Image content as withImageContent reads it, shared by digest and base entries (by identity). */
async function withSharedContent(
  policySet: PolicySet,
  facts: ImageFacts,
  wiring: Parameters<typeof withImageContent>[2],
  share: Share | undefined,
): Promise<ImageFacts> {
  if (!share || !facts.reference) return withImageContent(policySet, facts, wiring);
  const needs = requiredContent(policySet, facts.reference);
  if (!needs) return facts;
  // Base entries are compiled objects (their patterns are code): the same entries, the same lookups.
  const asked = needs.bases.map((b) => identityOf(b));
  const fact = await share('content', asked, async () => {
    const found = (await withImageContent(policySet, facts, wiring)).content;
    return found ?? unavailable('the image content was not read');
  });
  return { ...facts, content: fact.available ? known({ ...fact.value, now: wiring.now }) : fact };
}

interface GatheredFacts {
  readonly facts: ImageFacts;
  /** Where the image's own content (and so its signatures, by default) is read from. */
  readonly content?: ContentSource;
}

async function gatherFacts(
  image: string,
  request: DecideRequest,
  options: DecideOptions,
  signal: AbortSignal,
): Promise<GatheredFacts> {
  if (isLayoutReference(image)) return layoutFacts(image, request, signal);
  if (options.offline || !options.registry) {
    const why = options.offline
      ? 'the reference has no digest and --offline prevents resolving the tag'
      : 'the reference has no digest and no registry client is configured';
    return { facts: referenceFacts(image, why) };
  }
  const facts = referenceFacts(image, 'not resolved');
  if (!facts.reference) return { facts };
  const resolved = await resolveCached(options, facts.reference, signal);
  return {
    facts: { ...facts, digest: resolved.fact, ...(resolved.problem ? { notes: [resolved.problem] } : {}) },
    content: forOneDecision(
      options.registry.repository(facts.reference.registry, facts.reference.repository),
    ),
  };
}

/** A tag seen moments ago reuses the digest computed then; digests and misses go to the registry. */
async function resolveCached(options: DecideOptions, ref: ImageReference, signal: AbortSignal) {
  const tags = options.cache?.tags;
  const key = ref.digest ? undefined : canonical(ref);
  const hit = key && tags?.get(key);
  if (hit) return { fact: known(hit) } as Awaited<ReturnType<typeof resolveDigest>>;
  const resolved = await resolveDigest(options.registry!, ref, signal);
  if (key && tags && resolved.fact.available) tags.set(key, resolved.fact.value);
  return resolved;
}

/**
 * Signatures, only when an applicable policy has a signatures rule, only from the sources those rules
 * name, and only for the digest resolved above (never the tag again).
 */
async function withSignatures(
  policySet: PolicySet,
  { facts, content }: GatheredFacts,
  options: DecideOptions,
  signal: AbortSignal,
  share?: Share,
): Promise<ImageFacts> {
  if (!facts.reference) return facts;
  const needs = requiredSignatureSources(policySet, facts.reference);
  if (needs.length === 0) return facts;
  if (!facts.digest?.available) {
    const why = facts.digest ? facts.digest.reason : 'the reference has no digest';
    return {
      ...facts,
      signatures: unavailable(`signatures cannot be looked up without the image digest: ${why}`),
    };
  }
  const registry = options.registry;
  const open = sourceOpener({
    ref: facts.reference,
    offline: options.offline,
    what: 'signatures',
    ...(content ? { content } : {}),
    ...(registry ? { registry } : {}),
  });

  const limits = registry?.limits ?? DEFAULT_LIMITS;
  const ref = facts.reference;
  const digest = facts.digest.value;
  const fetch = () => fetchSignatures(open, ref, digest, needs, { signal, limits });
  // The candidates depend on the sources and formats only; which keys or identities may sign is the
  // rule's business, checked by the engine for every decision.
  const asked = needs.map((n) => [n.key, n.formats]);
  return { ...facts, signatures: await (share ? share('signatures', asked, fetch) : fetch()) };
}

/** An image in an OCI layout, judged under the registry name it will be pushed as. */
async function layoutFacts(
  image: string,
  request: DecideRequest,
  signal: AbortSignal,
): Promise<GatheredFacts> {
  let layout;
  try {
    layout = parseLayoutReference(image);
  } catch (error) {
    return { facts: { image, referenceError: (error as Error).message } };
  }
  if (!request.as) {
    return {
      facts: {
        image,
        referenceError: `${image}: an OCI layout has no registry name for policies to match; name it with --as REGISTRY/REPOSITORY[:TAG]`,
      },
    };
  }
  const named = referenceFacts(request.as, 'not resolved');
  if (!named.reference) return { facts: { ...named, image } };
  if (named.reference.digest) {
    return {
      facts: {
        image,
        referenceError: `--as ${request.as}: give a name without a digest; the layout supplies the digest`,
      },
    };
  }
  const source = openOciLayout(layout.absoluteDir);
  const resolved = await resolveDigest(source, layoutImageReference(layout), signal);
  return {
    facts: {
      image,
      reference: named.reference,
      digest: resolved.fact,
      ...(resolved.problem ? { notes: [resolved.problem] } : {}),
    },
    // Signatures beside the image in the layout (cosign `save` keeps its .sig tags there).
    content: forOneDecision(source),
  };
}
