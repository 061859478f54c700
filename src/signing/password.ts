/**
 * Where the key password comes from: `PORTCULLIS_PASSWORD` (or cosign's `COSIGN_PASSWORD`, so CI set
 * up for cosign works unchanged; set-but-empty means the empty password, as in cosign), else a prompt
 * without echo when a person is at a terminal, else nothing: CI must never hang waiting for input.
 */
export class PasswordUnavailableError extends Error {
  readonly code = 'PASSWORD_UNAVAILABLE';
  constructor(message: string) {
    super(message);
    this.name = 'PasswordUnavailableError';
  }
}

export interface PasswordSource {
  readonly env?: NodeJS.ProcessEnv;
  /** The terminal to prompt on; default process.stdin / process.stderr, used only when stdin is a TTY. */
  readonly input?: NodeJS.ReadStream;
  readonly output?: NodeJS.WritableStream;
}

const MAX_PASSWORD = 4096;

export function passwordFromEnv(env: NodeJS.ProcessEnv = process.env): string | undefined {
  return env.PORTCULLIS_PASSWORD ?? env.COSIGN_PASSWORD;
}

/** The password, from the environment or a prompt; `confirm` asks twice (new keys). */
export async function readPassword(
  prompt: string,
  confirm: boolean,
  source: PasswordSource = {},
): Promise<string> {
  const fromEnv = passwordFromEnv(source.env);
  if (fromEnv !== undefined) return fromEnv;
  const input = source.input ?? process.stdin;
  const output = source.output ?? process.stderr;
  if (!input.isTTY) {
    throw new PasswordUnavailableError(
      'no password: set PORTCULLIS_PASSWORD (or COSIGN_PASSWORD), or run on a terminal to be prompted',
    );
  }
  const first = await promptHidden(prompt, input, output);
  if (confirm) {
    const second = await promptHidden('Enter password again: ', input, output);
    if (second !== first) throw new PasswordUnavailableError('the passwords do not match');
  }
  return first;
}

/** Read one line in raw mode without echoing it. */
function promptHidden(
  prompt: string,
  input: NodeJS.ReadStream,
  output: NodeJS.WritableStream,
): Promise<string> {
  return new Promise((resolve, reject) => {
    output.write(prompt);
    let value = '';
    const wasRaw = input.isRaw;
    input.setRawMode(true);
    input.resume();
    const done = (error?: Error): void => {
      input.off('data', onData);
      input.setRawMode(wasRaw);
      input.pause();
      output.write('\n');
      if (error) reject(error);
      else resolve(value);
    };
    const onData = (chunk: Buffer): void => {
      for (const char of chunk.toString('utf8')) {
        if (char === '\r' || char === '\n') return done();
        if (char === '\u0003' || char === '\u0004')
          return done(new PasswordUnavailableError('password entry cancelled'));
        if (char === '\u007f' || char === '\b') value = value.slice(0, -1);
        else value += char;
        if (value.length > MAX_PASSWORD)
          return done(new PasswordUnavailableError(`password longer than ${MAX_PASSWORD} characters`));
      }
    };
    input.on('data', onData);
  });
}
