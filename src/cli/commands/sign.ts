/**
 * `portcullis sign IMAGE --key FILE`: sign an image by digest with a cosign key, writing a cosign
 * legacy `.sig` signature (default) or a Sigstore bundle referrer (`--format bundle`).
 *
 * The tag is resolved once (digest computed from the manifest bytes) and that digest is what is
 * signed and printed. No transparency log is written: the signatures verify under key authorities
 * with `tlog.required: false` (see src/signing/sign.ts). Exit 0 signed, 1 could not sign (registry),
 * 2 bad input (key, password, reference, flags).
 */
import { readFile } from 'node:fs/promises';
import { Option, type Command } from 'commander';
import type { CommandContext, Io } from '../command.ts';
import { EXIT_ALLOWED, EXIT_DENIED, UsageError } from '../exit-codes.ts';
import {
  addRegistryOptions,
  registryClientFromFlags,
  registrySettingsFromFlags,
  timeoutMs,
  type RegistryFlags,
} from '../registry-options.ts';
import { canonical, parseReference, ReferenceParseError, withDigest } from '../../reference/index.ts';
import type { ImageReference } from '../../reference/types.ts';
import { createRegistryPusherFromSettings } from '../../registry/push.ts';
import { RegistryConfigError, RegistryError } from '../../registry/errors.ts';
import { TagError } from '../../registry/cosign.ts';
import { decryptPrivateKey, SigningKeyError, type SigningKey } from '../../signing/keys.ts';
import { PasswordUnavailableError, readPassword } from '../../signing/password.ts';
import type { BundleContent } from '../../signing/bundle.ts';
import {
  signImage,
  SigningError,
  type SignatureFormat,
  type SignatureRepository,
} from '../../signing/sign.ts';

export interface SignCommandOptions extends RegistryFlags {
  readonly key: string;
  readonly format: SignatureFormat;
  readonly tagPrefix?: string;
  readonly attachmentTagPrefix?: string;
  readonly signatureRepository?: string;
  readonly bundleContent?: BundleContent;
}

export async function loadKey(path: string): Promise<SigningKey> {
  let pem: string;
  try {
    pem = await readFile(path, 'utf8');
  } catch (error) {
    throw new UsageError(
      `cannot read key ${path}: ${(error as NodeJS.ErrnoException).code ?? (error as Error).message}`,
    );
  }
  try {
    const password = await readPassword(`Enter password for private key ${path}: `, false);
    return await decryptPrivateKey(pem, password);
  } catch (error) {
    if (error instanceof SigningKeyError) throw new UsageError(`${path}: ${error.message}`);
    if (error instanceof PasswordUnavailableError) throw new UsageError(error.message);
    throw error;
  }
}

function parseImage(image: string): ImageReference {
  try {
    return parseReference(image);
  } catch (error) {
    if (error instanceof ReferenceParseError) throw new UsageError(error.message);
    throw error;
  }
}

function parseSignatureRepository(value: string): SignatureRepository {
  const ref = parseImage(value);
  if (ref.tag !== undefined || ref.digest !== undefined) {
    throw new UsageError(
      `--signature-repository ${JSON.stringify(value)} must name a repository, without tag or digest`,
    );
  }
  return { registry: ref.registry, repository: ref.repository };
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
  const signatureRepository =
    opts.signatureRepository === undefined ? undefined : parseSignatureRepository(opts.signatureRepository);
  const deadline = timeoutMs(opts);
  const key = await loadKey(opts.key);

  const client = await registryClientFromFlags(opts);
  let pusher;
  try {
    pusher = await createRegistryPusherFromSettings(await registrySettingsFromFlags(opts));
  } catch (error) {
    await client.close();
    throw new UsageError((error as Error).message);
  }
  try {
    const signal = AbortSignal.timeout(deadline);
    // Resolved once: everything after this goes by this digest.
    const descriptor = await client.resolve(ref, { signal });
    const resolved = withDigest(ref, descriptor.digest);
    const result = await signImage(client, pusher, key, resolved, {
      format: opts.format,
      signal,
      ...(tagPrefix !== undefined && { tagPrefix }),
      ...(signatureRepository !== undefined && { signatureRepository }),
      ...(opts.bundleContent !== undefined && { bundleContent: opts.bundleContent }),
    });
    let where = result.written;
    if (result.unchanged) where += ', already there';
    if (result.referrersIndex !== undefined) where += `, listed in ${result.referrersIndex}`;
    io.stdout.write(`signed ${canonical(resolved)} (${where})\n`);
    return EXIT_ALLOWED;
  } catch (error) {
    if (error instanceof TagError || (error instanceof SigningError && error.code === 'SIGN_INPUT'))
      throw new UsageError(error.message);
    if (
      error instanceof RegistryError ||
      error instanceof SigningError ||
      error instanceof RegistryConfigError
    ) {
      io.stderr.write(`portcullis: cannot sign ${image}: ${error.message}\n`);
      return EXIT_DENIED;
    }
    throw error;
  } finally {
    await Promise.all([client.close(), pusher.close()]);
  }
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
