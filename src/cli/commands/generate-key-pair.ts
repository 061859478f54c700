/**
 * `portcullis generate-key-pair`: a cosign-compatible key pair, `<prefix>.key` (encrypted, mode 0600)
 * and `<prefix>.pub`. Existing files are never overwritten. The password comes from
 * PORTCULLIS_PASSWORD / COSIGN_PASSWORD or, on a terminal, a prompt (asked twice).
 */
import { existsSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import type { Command } from 'commander';
import type { CommandContext, Io } from '../command.ts';
import { EXIT_ALLOWED, UsageError } from '../exit-codes.ts';
import { generateKeyPair } from '../../signing/keys.ts';
import { PasswordUnavailableError, readPassword } from '../../signing/password.ts';

export interface GenerateKeyPairOptions {
  readonly outputKeyPrefix: string;
}

export async function runGenerateKeyPair(opts: GenerateKeyPairOptions, io: Io): Promise<number> {
  const prefix = opts.outputKeyPrefix;
  if (prefix === '') throw new UsageError('--output-key-prefix must not be empty');
  const keyPath = `${prefix}.key`;
  const pubPath = `${prefix}.pub`;
  for (const path of [keyPath, pubPath]) {
    if (existsSync(path))
      throw new UsageError(
        `${path} already exists; refusing to overwrite it (choose another --output-key-prefix)`,
      );
  }
  let password: string;
  try {
    password = await readPassword('Enter password for private key: ', true);
  } catch (error) {
    if (error instanceof PasswordUnavailableError) throw new UsageError(error.message);
    throw error;
  }
  const pair = await generateKeyPair(password);
  // `wx`: fail rather than replace a file that appeared since the check above.
  await write(keyPath, pair.privatePem, 0o600);
  await write(pubPath, pair.publicPem, 0o644);
  io.stdout.write(`Private key written to ${keyPath}\nPublic key written to ${pubPath}\n`);
  return EXIT_ALLOWED;
}

async function write(path: string, text: string, mode: number): Promise<void> {
  try {
    await writeFile(path, text, { flag: 'wx', mode });
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === 'EEXIST') throw new UsageError(`${path} already exists; refusing to overwrite it`);
    throw new UsageError(`cannot write ${path}: ${code ?? (error as Error).message}`);
  }
}

export function registerGenerateKeyPair(program: Command, { io, setExitCode }: CommandContext): void {
  program
    .command('generate-key-pair')
    .description('create a cosign-compatible key pair (<prefix>.key encrypted with a password, <prefix>.pub)')
    .option('--output-key-prefix <prefix>', 'path prefix of the two files written', 'cosign')
    .action(async (opts: GenerateKeyPairOptions) => setExitCode(await runGenerateKeyPair(opts, io)));
}
