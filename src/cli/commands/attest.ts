/**
 * `portcullis attest IMAGE --predicate FILE --type TYPE --key FILE`: sign an in-toto attestation of
 * the image digest with a cosign key and attach it as cosign does (legacy `.att`, default) or as a
 * Sigstore bundle referrer (`--format bundle`).
 *
 * The tag is resolved once; that digest is the statement's subject. Exit 0 attested, 1 could not write
 * (registry), 2 bad input (key, password, predicate, type, reference, flags).
 */
import { readFile, stat } from 'node:fs/promises';
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
import { expandPredicateType, PREDICATE_TYPE_SHORT_NAMES } from '../../rules/attestations.ts';
import { attestImage } from '../../signing/attest.ts';
import { SigningError, type SignatureFormat } from '../../signing/sign.ts';
import { loadKey } from './sign.ts';

/** Predicates are JSON documents read whole; SBOMs can be large, the registry accepts 16 MiB blobs. */
const MAX_PREDICATE_BYTES = 8 * 1024 * 1024;

export interface AttestCommandOptions extends RegistryFlags {
  readonly key: string;
  readonly predicate: string;
  readonly type: string;
  readonly format: SignatureFormat;
  readonly tagPrefix?: string;
  readonly signatureRepository?: string;
}

function parseImage(image: string, what = 'image'): ImageReference {
  try {
    return parseReference(image);
  } catch (error) {
    if (error instanceof ReferenceParseError) throw new UsageError(`${what}: ${error.message}`);
    throw error;
  }
}

async function readPredicate(path: string): Promise<unknown> {
  let text: string;
  try {
    const st = await stat(path);
    if (!st.isFile()) throw new UsageError(`--predicate ${path}: not a regular file`);
    if (st.size > MAX_PREDICATE_BYTES)
      throw new UsageError(`--predicate ${path}: larger than ${MAX_PREDICATE_BYTES} bytes`);
    text = await readFile(path, 'utf8');
  } catch (error) {
    if (error instanceof UsageError) throw error;
    throw new UsageError(
      `cannot read predicate ${path}: ${(error as NodeJS.ErrnoException).code ?? (error as Error).message}`,
    );
  }
  try {
    return JSON.parse(text) as unknown;
  } catch (error) {
    throw new UsageError(`--predicate ${path} is not JSON: ${(error as Error).message}`);
  }
}

export async function runAttest(image: string, opts: AttestCommandOptions, io: Io): Promise<number> {
  const predicateType = expandPredicateType(opts.type);
  if (predicateType === undefined) {
    throw new UsageError(
      `--type ${JSON.stringify(opts.type)} is neither a URI nor a short name (${Object.keys(PREDICATE_TYPE_SHORT_NAMES).join(', ')})`,
    );
  }
  if (opts.tagPrefix !== undefined && opts.format === 'bundle')
    throw new UsageError('--tag-prefix applies to --format legacy only');
  const ref = parseImage(image);
  let signatureRepository;
  if (opts.signatureRepository !== undefined) {
    const r = parseImage(opts.signatureRepository, '--signature-repository');
    if (r.tag !== undefined || r.digest !== undefined)
      throw new UsageError('--signature-repository must name a repository, without tag or digest');
    signatureRepository = { registry: r.registry, repository: r.repository };
  }
  const predicate = await readPredicate(opts.predicate);
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
    // Resolved once: the statement's subject is this digest.
    const descriptor = await client.resolve(ref, { signal });
    const resolved = withDigest(ref, descriptor.digest);
    const result = await attestImage(client, pusher, key, resolved, {
      predicateType,
      predicate,
      format: opts.format,
      signal,
      ...(opts.tagPrefix !== undefined && { tagPrefix: opts.tagPrefix }),
      ...(signatureRepository !== undefined && { signatureRepository }),
    });
    let where = result.written;
    if (result.unchanged) where += ', already there';
    if (result.referrersIndex !== undefined) where += `, listed in ${result.referrersIndex}`;
    io.stdout.write(`attested ${canonical(resolved)} with ${predicateType} (${where})\n`);
    return EXIT_ALLOWED;
  } catch (error) {
    if (error instanceof TagError || (error instanceof SigningError && error.code === 'SIGN_INPUT'))
      throw new UsageError(error.message);
    if (
      error instanceof RegistryError ||
      error instanceof SigningError ||
      error instanceof RegistryConfigError
    ) {
      io.stderr.write(`portcullis: cannot attest ${image}: ${error.message}\n`);
      return EXIT_DENIED;
    }
    throw error;
  } finally {
    await Promise.all([client.close(), pusher.close()]);
  }
}

export function registerAttest(program: Command, { io, setExitCode }: CommandContext): void {
  const command = program
    .command('attest')
    .description(
      'sign an in-toto attestation (predicate FILE of type TYPE) of IMAGE by digest with a cosign key; ' +
        'writes a cosign .att attachment (or a Sigstore bundle referrer). No transparency log is used',
    )
    .argument('<image>', 'image reference; a tag is resolved once and the digest is the subject')
    .requiredOption('--predicate <file>', 'the predicate, a JSON file')
    .requiredOption(
      '--type <type>',
      `predicate type URI, or ${Object.keys(PREDICATE_TYPE_SHORT_NAMES).join(', ')}`,
    )
    .requiredOption(
      '--key <file>',
      'encrypted cosign private key (password from PORTCULLIS_PASSWORD / COSIGN_PASSWORD or a prompt)',
    )
    .addOption(
      new Option(
        '--format <format>',
        'legacy: cosign .att tag; bundle: Sigstore bundle v0.3 as an OCI referrer',
      )
        .choices(['legacy', 'bundle'])
        .default('legacy'),
    )
    .option('--tag-prefix <prefix>', 'prefix of the .att tag (cosign --attachment-tag-prefix)')
    .option(
      '--signature-repository <repo>',
      'write attestations to this registry/repository instead (cosign COSIGN_REPOSITORY)',
    )
    .action(async (image: string, opts: AttestCommandOptions) =>
      setExitCode(await runAttest(image, opts, io)),
    );
  addRegistryOptions(command);
}
