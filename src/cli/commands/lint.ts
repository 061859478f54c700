import type { Command } from 'commander';
import type { CommandContext, Io } from '../command.ts';
import { outputOption } from '../command.ts';
import { loadPolicyPaths } from '../../policy/load.ts';
import { formatDiagnostic } from '../../policy/format-diagnostic.ts';
import { EXIT_ALLOWED, EXIT_ERROR } from '../exit-codes.ts';

export async function runLint(paths: string[], opts: { output: 'text' | 'json' }, io: Io): Promise<number> {
  const result = await loadPolicyPaths(paths);
  const diagnostics = result.ok ? result.warnings : result.diagnostics;
  if (opts.output === 'json') {
    const body = {
      apiVersion: 'portcullis.dev/report/v1',
      kind: 'LintReport',
      valid: result.ok,
      ...(result.ok
        ? {
            policySet: {
              version: result.policySet.version,
              policies: result.policySet.policies.map((p) => p.name),
            },
          }
        : {}),
      diagnostics,
    };
    io.stdout.write(JSON.stringify(body, null, 2) + '\n');
  } else {
    for (const d of diagnostics) io.stdout.write(formatDiagnostic(d) + '\n');
    if (result.ok) {
      const n = result.policySet.policies.length;
      io.stdout.write(`${n} polic${n === 1 ? 'y' : 'ies'} valid (${result.policySet.version})\n`);
    }
  }
  return result.ok ? EXIT_ALLOWED : EXIT_ERROR;
}

export function registerLint(program: Command, { io, setExitCode }: CommandContext): void {
  const policy = program.command('policy').description('work with policy files');
  policy
    .command('lint')
    .description('validate policy files and report every problem with its position')
    .argument('<path...>', 'policy files or directories')
    .addOption(outputOption())
    .action(async (paths: string[], opts: { output: 'text' | 'json' }) =>
      setExitCode(await runLint(paths, opts, io)),
    );
}
