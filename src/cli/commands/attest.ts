/**
 * `portcullis attest IMAGE --predicate FILE --type TYPE --key FILE`: sign an in-toto attestation of
 * the image digest with a cosign key and attach it as cosign does (legacy `.att`, default) or as a
 * Sigstore bundle referrer (`--format bundle`).
 *
 * The tag is resolved once; that digest is the statement's subject. Exit 0 attested, 1 could not write
 * (registry), 2 bad input (key, password, predicate, type, reference, flags).
 */
import { Option, type Command } from 'commander';
import type { CommandContext, Io } from '../command.ts';
import { UsageError } from '../exit-codes.ts';
import { addRegistryOptions, type RegistryFlags } from '../registry-options.ts';
import { expandPredicateType, PREDICATE_TYPE_SHORT_NAMES } from '../../rules/attestations.ts';
import { attestImage } from '../../signing/attest.ts';
import type { SignatureFormat } from '../../signing/sign.ts';
import { loadKey, parseImage, parseSignatureRepository, writeForImage } from './registry-write.ts';
import { readFlagFile } from '../flag-file.ts';

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

async function readPredicate(path: string): Promise<unknown> {
  const text = await readFlagFile('--predicate', 'predicate', path, MAX_PREDICATE_BYTES);
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
  const ref = parseImage(image, 'image');
  const signatureRepository = parseSignatureRepository(opts.signatureRepository);
  const predicate = await readPredicate(opts.predicate);
  const key = await loadKey(opts.key);
  return writeForImage(
    image,
    ref,
    opts,
    io,
    { done: 'attested', doing: 'attest', what: ` with ${predicateType}` },
    ({ client, pusher, resolved, signal }) =>
      attestImage(client, pusher, key, resolved, {
        predicateType,
        predicate,
        format: opts.format,
        signal,
        ...(opts.tagPrefix !== undefined && { tagPrefix: opts.tagPrefix }),
        ...(signatureRepository !== undefined && { signatureRepository }),
      }),
  );
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
