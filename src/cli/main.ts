/**
 * The `portcullis` command line. Each command lives in its own module; this file only wires them
 * and turns every failure into an exit code and a message (never a stack trace).
 */
import { Command, CommanderError } from 'commander';
import { EXIT_ERROR, UsageError } from './exit-codes.ts';
import type { CommandContext, Io } from './command.ts';
import { registerVerify } from './commands/verify.ts';
import { registerCheck } from './commands/check.ts';
import { registerLint } from './commands/lint.ts';
import { registerResolve } from './commands/resolve.ts';
import { registerSign } from './commands/sign.ts';
import { registerAttest } from './commands/attest.ts';
import { registerGenerateKeyPair } from './commands/generate-key-pair.ts';
import { registerVerifyBundle } from './commands/verify-bundle.ts';
import { registerServe } from './commands/serve.ts';
import { registerTrustRoot } from './commands/trust-root.ts';
import { registerAudit } from './commands/audit.ts';
import { registerInstall } from './commands/install.ts';
import { registerController } from './commands/controller.ts';

import { LIMITS } from '../sources/index.ts';

export type { Io } from './command.ts';

/** Every command, in the order `--help` lists them. A new command is one module and one line here. */
const COMMANDS: ReadonlyArray<(program: Command, ctx: CommandContext) => void> = [
  registerVerify,
  registerCheck,
  registerResolve,
  registerSign,
  registerAttest,
  registerGenerateKeyPair,
  registerLint,
  registerVerifyBundle,
  registerServe,
  registerController,
  registerTrustRoot,
  registerInstall,
  registerAudit,
];

const defaultIo: Io = {
  stdout: process.stdout,
  stderr: process.stderr,
  readStdin: async () => {
    // Stop reading just past the size `check` accepts, so a huge pipe cannot exhaust memory; the
    // extractor then reports the input as too large.
    const chunks: Buffer[] = [];
    let size = 0;
    for await (const chunk of process.stdin) {
      chunks.push(chunk as Buffer);
      size += (chunk as Buffer).length;
      if (size > LIMITS.maxFileBytes) {
        process.stdin.destroy();
        break;
      }
    }
    return Buffer.concat(chunks).toString('utf8');
  },
};

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

  const ctx: CommandContext = { io, setExitCode: (code) => (exitCode = code) };
  for (const register of COMMANDS) register(program, ctx);

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
