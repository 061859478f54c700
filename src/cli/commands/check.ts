import type { Io } from '../main.ts';
import type { DecisionOptions } from './common.ts';
import { loadPoliciesOrExplain } from './common.ts';
import { createDecider } from '../../app/decide.ts';
import { extractFromPaths } from '../../sources/index.ts';
import { toJson, toText, type ReportEntry } from '../report.ts';
import { EXIT_ALLOWED, EXIT_DENIED, EXIT_ERROR } from '../exit-codes.ts';

export async function runCheck(paths: string[], opts: DecisionOptions, io: Io): Promise<number> {
  const policySet = await loadPoliciesOrExplain(opts.policy, io);
  const { images, problems } = await extractFromPaths(paths, io.readStdin);
  const decider = createDecider(policySet, { offline: opts.offline });
  const entries: ReportEntry[] = [];
  for (const occurrence of images) {
    entries.push({
      decision: await decider.decide(occurrence.image),
      source: occurrence.source,
      ...(occurrence.note ? { note: occurrence.note } : {}),
    });
  }
  const report = { command: 'check' as const, policySetVersion: policySet.version, entries, problems };
  io.stdout.write(opts.output === 'json' ? toJson(report) : toText(report, io.stdout));
  if (problems.length > 0) return EXIT_ERROR;
  return entries.every((e) => e.decision.allowed) ? EXIT_ALLOWED : EXIT_DENIED;
}
