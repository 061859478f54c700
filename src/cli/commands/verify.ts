import type { Io } from '../main.ts';
import type { DecisionOptions } from './common.ts';
import { loadPoliciesOrExplain } from './common.ts';
import { createDecider } from '../../app/decide.ts';
import { toJson, toText, type ReportEntry } from '../report.ts';
import { EXIT_ALLOWED, EXIT_DENIED } from '../exit-codes.ts';

export async function runVerify(images: string[], opts: DecisionOptions, io: Io): Promise<number> {
  const policySet = await loadPoliciesOrExplain(opts.policy, io);
  const decider = createDecider(policySet, { offline: opts.offline });
  const entries: ReportEntry[] = [];
  for (const image of images) entries.push({ decision: await decider.decide(image) });
  const report = { command: 'verify' as const, policySetVersion: policySet.version, entries, problems: [] };
  io.stdout.write(opts.output === 'json' ? toJson(report) : toText(report, io.stdout));
  return entries.every((e) => e.decision.allowed) ? EXIT_ALLOWED : EXIT_DENIED;
}
