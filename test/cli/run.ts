/** Runs the CLI in-process with captured output, as a user at a shell would see it. */
import { PassThrough } from 'node:stream';
import { main } from '../../src/cli/main.ts';

export interface CliResult {
  readonly code: number;
  readonly stdout: string;
  readonly stderr: string;
}

export async function cli(args: string[], stdin = ''): Promise<CliResult> {
  const stdout = new PassThrough();
  const stderr = new PassThrough();
  let out = '';
  let err = '';
  stdout.on('data', (c: Buffer) => (out += c.toString('utf8')));
  stderr.on('data', (c: Buffer) => (err += c.toString('utf8')));
  const code = await main(args, { stdout, stderr, readStdin: async () => stdin });
  return { code, stdout: out, stderr: err };
}
