import type { Command } from 'commander';
import type { CommandContext, Io } from '../command.ts';
import { collect, outputOption } from '../command.ts';
import { addRegistryOptions } from '../registry-options.ts';
import type { DecisionOptions, SignatureFlags } from './common.ts';
import {
  adHocSignaturePolicy,
  DECISION_CONCURRENCY,
  deciderFor,
  loadPoliciesOrExplain,
  progress,
} from './common.ts';
import { toJson, toText, type ReportEntry } from '../report.ts';
import { EXIT_ALLOWED, EXIT_DENIED } from '../exit-codes.ts';
import { UsageError } from '../exit-codes.ts';
import { mapLimit } from '../../util/map-limit.ts';

export interface VerifyOptions extends DecisionOptions, SignatureFlags {
  readonly as?: string;
}

export async function runVerify(images: string[], opts: VerifyOptions, io: Io): Promise<number> {
  if (opts.as && images.length !== 1)
    throw new UsageError('--as names one image: give exactly one oci: reference with it');
  const policySet = await loadPoliciesOrExplain(opts.policy, io, adHocSignaturePolicy(opts));
  const { decider, close } = await deciderFor(policySet, opts);
  let entries: ReportEntry[];
  try {
    const tick = progress(io, images.length);
    let done = 0;
    entries = await mapLimit(images, DECISION_CONCURRENCY, async (image) => {
      const decision = await decider.decide(image, opts.as ? { as: opts.as } : {});
      tick(++done);
      return { decision };
    });
  } finally {
    await close();
  }
  const report = { command: 'verify' as const, policySetVersion: policySet.version, entries, problems: [] };
  io.stdout.write(opts.output === 'json' ? toJson(report) : toText(report, io.stdout));
  return entries.every((e) => e.decision.allowed) ? EXIT_ALLOWED : EXIT_DENIED;
}

export function registerVerify(program: Command, { io, setExitCode }: CommandContext): void {
  const command = program
    .command('verify')
    .description(
      'decide whether each IMAGE may run under the policies; signature flags (--key, --certificate-identity ...) add a policy requiring that signature for every image',
    )
    .argument('<image...>', 'image references, e.g. ghcr.io/acme/api:1.4@sha256:...')
    .option('-p, --policy <path>', 'policy file or directory (repeatable)', collect)
    .addOption(outputOption())
    .option('--offline', 'use only what the references say; never contact a registry', false)
    .option('--as <name>', 'for one oci:DIR[:TAG] image: the registry name policies judge it as')
    .option(
      '--key <file>',
      'require a signature by this PEM public key (a policy made from flags, like cosign verify)',
    )
    .option('--certificate-identity <id>', 'require a keyless signature with this certificate identity (SAN)')
    .option(
      '--certificate-identity-regexp <re>',
      'as --certificate-identity, a regular expression matching the whole SAN',
    )
    .option('--certificate-oidc-issuer <url>', 'the OIDC issuer of the keyless certificate')
    .option(
      '--certificate-oidc-issuer-regexp <re>',
      'as --certificate-oidc-issuer, a regular expression matching the whole issuer',
    )
    .option(
      '--trusted-root <file>',
      'trusted_root.json for keyless and transparency-log checks (default: Sigstore public-good, offline)',
    )
    .option('--insecure-ignore-tlog', 'do not require a transparency-log entry for the signature', false)
    .option(
      '--signature-repository <repo>',
      'read signatures from this registry/repository (cosign COSIGN_REPOSITORY)',
    )
    .option('--attachment-tag-prefix <prefix>', 'prefix of the .sig tags (cosign --attachment-tag-prefix)')
    .action(async (images: string[], opts: VerifyOptions) => setExitCode(await runVerify(images, opts, io)));
  addRegistryOptions(command);
}
