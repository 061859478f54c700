/**
 * What the signature and attestation providers share: reading cosign's attachment images
 * (`<prefix>sha256-<hex>.sig` / `.att`, one signed blob per layer) and collecting candidates from every
 * source the applicable policies name, where any failure makes that source's candidates unavailable with
 * the registry's message (never "none found", never a pass).
 */
import type { Fact } from '../engine/facts.ts';
import { known, unavailable } from '../engine/facts.ts';
import type { ImageReference } from '../reference/types.ts';
import { fetchAttachmentManifest } from '../registry/attachments.ts';
import type { ContentSource, Descriptor } from '../registry/content.ts';
import { cosignAttachmentTag } from '../registry/cosign.ts';
import type { RegistryLimits } from '../registry/limits.ts';
import { forOneDecision } from '../registry/per-decision.ts';
import type { SignatureSource } from '../policy/model.ts';
import { describeSource, type SignatureSourceNeed } from '../rules/signatures.ts';

/** Where a source's content is read from, or why it cannot be (e.g. offline). */
export type OpenSignatureSource = (
  source: SignatureSource,
) => ContentSource | { readonly unavailable: string };

export interface SourceCandidates<C> {
  readonly key: string;
  readonly location: string;
  readonly candidates: Fact<readonly C[]>;
}

/** Reads every needed source side by side; `what` names the candidates in failure messages. */
export function collectFromSources<C>(
  open: OpenSignatureSource,
  ref: ImageReference,
  needs: readonly SignatureSourceNeed[],
  what: string,
  read: (content: ContentSource, need: SignatureSourceNeed) => Promise<C[]>,
): Promise<SourceCandidates<C>[]> {
  return Promise.all(
    needs.map(async (need): Promise<SourceCandidates<C>> => {
      const location = describeSource(need.source, ref);
      const base = { key: need.key, location };
      try {
        const content = open(need.source);
        if ('unavailable' in content) return { ...base, candidates: unavailable(content.unavailable) };
        return { ...base, candidates: known(await read(content, need)) };
      } catch (error) {
        const message = error instanceof Error ? error.message : String(error);
        return { ...base, candidates: unavailable(`could not fetch ${what} from ${location}: ${message}`) };
      }
    }),
  );
}

export interface AttachmentLayer {
  readonly layer: Descriptor;
  readonly bytes: Uint8Array;
}

/**
 * The layers of cosign's attachment image for `digest` (`sig` or `att`), each blob fetched by digest and
 * bounded by `maxBlobBytes`; none when the tag does not exist.
 */
export async function readAttachmentLayers(
  content: ContentSource,
  digest: string,
  suffix: 'sig' | 'att',
  tagPrefix: string | undefined,
  options: { readonly signal: AbortSignal; readonly limits: RegistryLimits; readonly maxBlobBytes: number },
): Promise<{ readonly source: string; readonly layers: readonly AttachmentLayer[] }> {
  const { signal, limits, maxBlobBytes } = options;
  const tag = cosignAttachmentTag(digest, suffix, tagPrefix);
  const source = `${content.location}:${tag}`;
  const descriptor = await content.resolveTag(tag, { signal });
  if (!descriptor) return { source, layers: [] };
  const manifest = await fetchAttachmentManifest(content, descriptor.digest, {
    signal,
    maxLayers: limits.signatureLayers,
  });
  const blobs = await Promise.all(
    manifest.layers.map((layer) => content.fetchBlob(layer, { signal, maxBytes: maxBlobBytes })),
  );
  return { source, layers: manifest.layers.map((layer, i) => ({ layer, bytes: blobs[i]! })) };
}

/**
 * Opens signature sources for one decision: the image's own content (its repository, or its OCI layout)
 * unless a source names another repository; never the network when offline. `what` names the attachments
 * in the reasons ("signatures", "attestations").
 */
export function sourceOpener(options: {
  readonly ref: ImageReference;
  readonly content?: ContentSource;
  readonly offline: boolean;
  readonly registry?: { repository(registry: string, repository: string): ContentSource };
  readonly what: string;
}): OpenSignatureSource {
  const { ref, content, offline, registry, what } = options;
  // Sources naming the same repository (e.g. with different tag prefixes) share one listing of referrers.
  const opened = new Map<string, ContentSource>();
  return (source) => {
    if (!source.repository && content) return content;
    if (offline)
      return { unavailable: `${what} are stored in the registry, and --offline prevents fetching them` };
    if (!registry)
      return { unavailable: `${what} are stored in a registry, and no registry client is configured` };
    const repo = source.repository ?? ref;
    const key = `${repo.registry}/${repo.repository}`;
    let found = opened.get(key);
    if (found === undefined) {
      found = forOneDecision(registry.repository(repo.registry, repo.repository));
      opened.set(key, found);
    }
    return found;
  };
}
