/**
 * `portcullis sign IMAGE --key FILE`: sign an image by digest with a cosign key, writing a cosign
 * legacy `.sig` signature (default) or a Sigstore bundle referrer (`--format bundle`).
 *
 * The tag is resolved once (digest computed from the manifest bytes) and that digest is what is
 * signed and printed. No transparency log is written: the signatures verify under key authorities
 * with `tlog.required: false` (see src/signing/sign.ts). Exit 0 signed, 1 could not sign (registry),
 * 2 bad input (key, password, reference, flags).
 */
import { Option, type Command } from 'commander';
import type { CommandContext, Io } from '../command.ts';
import { UsageError } from '../exit-codes.ts';
import { addRegistryOptions, type RegistryFlags } from '../registry-options.ts';
import type { BundleContent } from '../../signing/bundle.ts';
import { signImage, type SignatureFormat } from '../../signing/sign.ts';
import { loadKey, parseImage, parseSignatureRepository, writeForImage } from './registry-write.ts';

export interface SignCommandOptions extends RegistryFlags {
  readonly key: string;
  readonly format: SignatureFormat;
  readonly tagPrefix?: string;
  readonly attachmentTagPrefix?: string;
  readonly signatureRepository?: string;
  readonly bundleContent?: BundleContent;
}

export async function runSign(image: string, opts: SignCommandOptions, io: Io): Promise<number> {
  if (
    opts.tagPrefix !== undefined &&
    opts.attachmentTagPrefix !== undefined &&
    opts.tagPrefix !== opts.attachmentTagPrefix
  ) {
    throw new UsageError('--tag-prefix and --attachment-tag-prefix disagree; give one');
  }
  const tagPrefix = opts.tagPrefix ?? opts.attachmentTagPrefix;
  if (opts.bundleContent !== undefined && opts.format !== 'bundle') {
    throw new UsageError('--bundle-content applies to --format bundle only');
  }
  if (tagPrefix !== undefined && opts.format === 'bundle')
    throw new UsageError('--tag-prefix applies to --format legacy only');
  const ref = parseImage(image);
  const signatureRepository = parseSignatureRepository(opts.signatureRepository);
  const key = await loadKey(opts.key);
  return writeForImage(
    image,
    ref,
    opts,
    io,
    { done: 'signed', doing: 'sign' },
    ({ client, pusher, resolved, signal }) =>
      signImage(client, pusher, key, resolved, {
        format: opts.format,
        signal,
        ...(tagPrefix !== undefined && { tagPrefix }),
        ...(signatureRepository !== undefined && { signatureRepository }),
        ...(opts.bundleContent !== undefined && { bundleContent: opts.bundleContent }),
      }),
  );
}

export function registerSign(program: Command, { io, setExitCode }: CommandContext): void {
  const command = program
    .command('sign')
    .description(
      'sign IMAGE by digest with a cosign key; writes a cosign .sig signature (or a Sigstore bundle referrer). ' +
        'No transparency log is used: verify with tlog not required (verify --insecure-ignore-tlog, cosign --insecure-ignore-tlog)',
    )
    .argument('<image>', 'image reference; a tag is resolved once and the digest is signed')
    .requiredOption(
      '--key <file>',
      'encrypted cosign private key (password from PORTCULLIS_PASSWORD / COSIGN_PASSWORD or a prompt)',
    )
    .addOption(
      new Option(
        '--format <format>',
        'legacy: cosign .sig tag; bundle: Sigstore bundle v0.3 as an OCI referrer',
      )
        .choices(['legacy', 'bundle'])
        .default('legacy'),
    )
    .addOption(
      new Option(
        '--bundle-content <kind>',
        'with --format bundle: dsse (the in-toto statement cosign v3 signs; default), or message-signature over the manifest',
      ).choices(['message-signature', 'dsse']),
    )
    .option('--tag-prefix <prefix>', 'prefix of the .sig tag (cosign --attachment-tag-prefix)')
    .option('--attachment-tag-prefix <prefix>', 'same as --tag-prefix, spelled as verify and cosign spell it')
    .option(
      '--signature-repository <repo>',
      'write signatures to this registry/repository instead (cosign COSIGN_REPOSITORY)',
    )
    .action(async (image: string, opts: SignCommandOptions) => setExitCode(await runSign(image, opts, io)));
  addRegistryOptions(command);
}
