import type { Command } from 'commander';
import type { CommandContext, Io } from '../command.ts';
import { collect, outputOption } from '../command.ts';
import { addRegistryOptions } from '../registry-options.ts';
import type { DecisionOptions } from './common.ts';
import { DECISION_CONCURRENCY, deciderFor, loadPoliciesOrExplain, progress } from './common.ts';
import { toJson, toText, type ReportEntry } from '../report.ts';
import { EXIT_ALLOWED, EXIT_DENIED } from '../exit-codes.ts';
import { UsageError } from '../exit-codes.ts';
import { mapLimit } from '../../util/map-limit.ts';

export interface VerifyOptions extends DecisionOptions {
  readonly as?: string;
}

export async function runVerify(images: string[], opts: VerifyOptions, io: Io): Promise<number> {
  if (opts.as && images.length !== 1) throw new UsageError('--as names one image: give exactly one oci: reference with it');
  const policySet = await loadPoliciesOrExplain(opts.policy, io);
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
    .description('decide whether each IMAGE may run under the policies')
    .argument('<image...>', 'image references, e.g. ghcr.io/acme/api:1.4@sha256:...')
    .option('-p, --policy <path>', 'policy file or directory (repeatable)', collect)
    .addOption(outputOption())
    .option('--offline', 'use only what the references say; never contact a registry', false)
    .option('--as <name>', 'for one oci:DIR[:TAG] image: the registry name policies judge it as')
    .action(async (images: string[], opts: VerifyOptions) => setExitCode(await runVerify(images, opts, io)));
  addRegistryOptions(command);
}
