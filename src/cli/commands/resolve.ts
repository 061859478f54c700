/**
 * `portcullis resolve`: the canonical `registry/repository:tag@sha256:...` of each image, the digest
 * computed from the manifest bytes. Exit 1 when any image could not be resolved.
 */
import type { Command } from 'commander';
import type { CommandContext, Io } from '../command.ts';
import { outputOption } from '../command.ts';
import { addRegistryOptions } from '../registry-options.ts';
import { parseReference, withDigest, canonical } from '../../reference/index.ts';
import { registryClientFromFlags, timeoutMs, type RegistryFlags } from '../registry-options.ts';
import { resolveDigest } from '../../providers/registry-facts.ts';
import { EXIT_ALLOWED, EXIT_DENIED } from '../exit-codes.ts';
import { mapLimit } from '../../util/map-limit.ts';
import {
  isLayoutReference,
  layoutImageReference,
  parseLayoutReference,
  formatLayoutReference,
} from '../../registry/layout-reference.ts';
import { openOciLayout } from '../../registry/layout.ts';

interface ResolveResult {
  readonly image: string;
  readonly resolved?: string;
  readonly digest?: string;
  readonly error?: string;
}

export async function runResolve(
  images: string[],
  opts: RegistryFlags & { output: 'text' | 'json' },
  io: Io,
): Promise<number> {
  const deadline = timeoutMs(opts);
  const client = await registryClientFromFlags(opts);
  let results: ResolveResult[];
  try {
    results = await mapLimit(images, 8, async (image): Promise<ResolveResult> => {
      try {
        if (isLayoutReference(image)) {
          const layout = parseLayoutReference(image);
          const r = await resolveDigest(
            openOciLayout(layout.absoluteDir),
            layoutImageReference(layout),
            AbortSignal.timeout(deadline),
          );
          if (!r.fact.available) return { image, error: r.fact.reason };
          const digest = r.fact.value;
          return {
            image,
            digest,
            resolved: `${formatLayoutReference({ absoluteDir: layout.absoluteDir, ...(layout.tag ? { tag: layout.tag } : {}) })}@${digest}`,
          };
        }
        const ref = parseReference(image);
        const r = await resolveDigest(client, ref, AbortSignal.timeout(deadline));
        if (!r.fact.available) return { image, error: r.fact.reason };
        return { image, digest: r.fact.value, resolved: canonical(withDigest(ref, r.fact.value)) };
      } catch (error) {
        return { image, error: (error as Error).message };
      }
    });
  } finally {
    await client.close();
  }
  if (opts.output === 'json') {
    io.stdout.write(
      JSON.stringify({ apiVersion: 'portcullis.dev/report/v1', kind: 'ResolveReport', results }, null, 2) +
        '\n',
    );
  } else {
    for (const r of results) {
      if (r.resolved) io.stdout.write(`${r.resolved}\n`);
      else io.stderr.write(`portcullis: ${r.error}\n`);
    }
  }
  return results.every((r) => r.resolved) ? EXIT_ALLOWED : EXIT_DENIED;
}

export function registerResolve(program: Command, { io, setExitCode }: CommandContext): void {
  const command = program
    .command('resolve')
    .description('print the canonical name:tag@digest of each IMAGE (digest computed from the manifest)')
    .argument('<image...>', 'image references or oci:DIR[:TAG] layouts')
    .addOption(outputOption())
    .action(async (images: string[], opts: RegistryFlags & { output: 'text' | 'json' }) =>
      setExitCode(await runResolve(images, opts, io)),
    );
  addRegistryOptions(command);
}
