/** What every command module gets: the streams, and where to leave its exit code. */
import { Option } from 'commander';

export interface Io {
  readonly stdout: NodeJS.WritableStream;
  readonly stderr: NodeJS.WritableStream;
  readonly readStdin: () => Promise<string>;
}

export interface CommandContext {
  readonly io: Io;
  setExitCode(code: number): void;
}

export const collect = (value: string, previous: string[] = []): string[] => [...previous, value];

export const outputOption = (): Option =>
  new Option('-o, --output <format>', 'output format').choices(['text', 'json']).default('text');
