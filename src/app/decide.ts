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
import { known, unavailable } from '../engine/facts.ts';
import type { ImageReference } from '../reference/types.ts';
import { canonical } from '../reference/index.ts';
import { VerdictCache, type TagCache } from './verdict-cache.ts';
import { referenceFacts } from '../providers/reference-facts.ts';
import { resolveDigest } from '../providers/registry-facts.ts';
import { withAttestations } from '../providers/attestations.ts';
import { withImageContent } from '../providers/image-content.ts';
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
      const rest = () => decideFromFacts(policySet, gathered, options, signal);
      if (!options.cache || !digest) return rest();
      // The admission context only matters when some policy selects on it: otherwise a Deployment's
      // verdict serves its ReplicaSet and Pods too (same digest, same policies; nothing a client wrote).
      const context = selectsOnContext(policySet) ? request : { as: request.as };
      const key = VerdictCache.key({ image, digest, policySetVersion: policySet.version, context });
      return options.cache.verdicts.run(key, rest);
    },
  };
}

const contextSensitive = new WeakMap<PolicySet, boolean>();
function selectsOnContext(policySet: PolicySet): boolean {
  let known = contextSensitive.get(policySet);
  if (known === undefined) {
    known = policySet.policies.some((p) => p.match !== undefined || p.namespace !== undefined);
    contextSensitive.set(policySet, known);
  }
  return known;
}

/** Everything after the digest is known: the facts the applicable policies need, then the engine. */
async function decideFromFacts(
  policySet: PolicySet,
  gathered: GatheredFacts,
  options: DecideOptions,
  signal: AbortSignal,
): Promise<Decision> {
  const now = options.now?.() ?? new Date();
  const signed = await withSignatures(policySet, gathered, options, signal);
  const attested = await withAttestations(policySet, signed, {
    offline: options.offline,
    signal,
    now,
    ...(options.registry ? { registry: options.registry } : {}),
    ...(gathered.content ? { content: gathered.content } : {}),
  });
  const described = await withImageContent(policySet, attested, {
    offline: options.offline,
    signal,
    now,
    ...(options.registry ? { registry: options.registry } : {}),
    ...(gathered.content ? { content: gathered.content } : {}),
  });
  return evaluate(policySet, described);
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
  return {
    ...facts,
    signatures: await fetchSignatures(open, facts.reference, facts.digest.value, needs, { signal, limits }),
  };
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
