/**
 * The `portcullis` command line. Each command lives in its own module; this file only wires them
 * and turns every failure into an exit code and a message (never a stack trace).
 */
import { Command, CommanderError, Option } from 'commander';
import { EXIT_ERROR, UsageError } from './exit-codes.ts';
import { runVerify } from './commands/verify.ts';
import { runCheck } from './commands/check.ts';
import { runLint } from './commands/lint.ts';
import { runResolve } from './commands/resolve.ts';
import { addRegistryOptions } from './registry-options.ts';

export interface Io {
  readonly stdout: NodeJS.WritableStream;
  readonly stderr: NodeJS.WritableStream;
  readonly readStdin: () => Promise<string>;
}

const defaultIo: Io = {
  stdout: process.stdout,
  stderr: process.stderr,
  readStdin: async () => {
    const chunks: Buffer[] = [];
    for await (const chunk of process.stdin) chunks.push(chunk as Buffer);
    return Buffer.concat(chunks).toString('utf8');
  },
};

const collect = (value: string, previous: string[] = []) => [...previous, value];
const outputOption = () =>
  new Option('-o, --output <format>', 'output format').choices(['text', 'json']).default('text');

export async function main(argv: readonly string[], io: Io = defaultIo): Promise<number> {
  let exitCode = 0;
  const program = new Command('portcullis')
    .description('Declarative container-image policy engine')
    .version('0.1.0')
    .exitOverride()
    .configureOutput({
      writeOut: (s) => io.stdout.write(s),
      writeErr: (s) => io.stderr.write(s),
    })
    .showHelpAfterError('(run with --help for usage)');

  const verify = program
    .command('verify')
    .description('decide whether each IMAGE may run under the policies')
    .argument('<image...>', 'image references, e.g. ghcr.io/acme/api:1.4@sha256:...')
    .option('-p, --policy <path>', 'policy file or directory (repeatable)', collect)
    .addOption(outputOption())
    .option('--offline', 'use only what the references say; never contact a registry', false)
    .option('--as <name>', 'for one oci:DIR[:TAG] image: the registry name policies judge it as')
    .action(async (images: string[], opts) => {
      exitCode = await runVerify(images, opts, io);
    });
  addRegistryOptions(verify);

  const check = program
    .command('check')
    .description('find every image in Kubernetes manifests, Compose files and Dockerfiles, and verify each')
    .argument('<path...>', 'files or directories; - reads standard input')
    .option('-p, --policy <path>', 'policy file or directory (repeatable)', collect)
    .addOption(outputOption())
    .option('--offline', 'use only what the references say; never contact a registry', false)
    .action(async (paths: string[], opts) => {
      exitCode = await runCheck(paths, opts, io);
    });
  addRegistryOptions(check);

  const resolve = program
    .command('resolve')
    .description('print the canonical name:tag@digest of each IMAGE (digest computed from the manifest)')
    .argument('<image...>', 'image references or oci:DIR[:TAG] layouts')
    .addOption(outputOption())
    .action(async (images: string[], opts) => {
      exitCode = await runResolve(images, opts, io);
    });
  addRegistryOptions(resolve);

  const policy = program.command('policy').description('work with policy files');
  policy
    .command('lint')
    .description('validate policy files and report every problem with its position')
    .argument('<path...>', 'policy files or directories')
    .addOption(outputOption())
    .action(async (paths: string[], opts) => {
      exitCode = await runLint(paths, opts, io);
    });

  try {
    await program.parseAsync([...argv], { from: 'user' });
    return exitCode;
  } catch (error) {
    if (error instanceof CommanderError) {
      return error.code === 'commander.helpDisplayed' || error.code === 'commander.version' ? 0 : EXIT_ERROR;
    }
    if (error instanceof UsageError) {
      io.stderr.write(`portcullis: ${error.message}\n`);
      return EXIT_ERROR;
    }
    // Anything else is our bug: say so plainly, still without a stack trace unless asked for.
    const message = error instanceof Error ? error.message : String(error);
    io.stderr.write(`portcullis: internal error: ${message}\n`);
    if (process.env.PORTCULLIS_DEBUG) io.stderr.write(`${(error as Error).stack ?? ''}\n`);
    return EXIT_ERROR;
  }
}
