/**
 * What `sign` and `attest` share: reading the key, naming where attachments go, and one write to a
 * registry — resolve the tag once, act on that digest, say where it was written, and turn failures into
 * exit codes (1: the registry refused or failed, 2: bad input).
 */
import { readFile } from 'node:fs/promises';
import type { Io } from '../command.ts';
import { EXIT_ALLOWED, EXIT_DENIED, UsageError } from '../exit-codes.ts';
import { registrySettingsFromFlags, timeoutMs, type RegistryFlags } from '../registry-options.ts';
import { canonical, parseReference, ReferenceParseError, withDigest } from '../../reference/index.ts';
import type { ImageReference } from '../../reference/types.ts';
import { createRegistryClient, type RegistryClient } from '../../registry/client.ts';
import { createRegistryPusher, type RegistryPusher } from '../../registry/push.ts';
import { credentialsFromSettings } from '../../registry/setup.ts';
import { RegistryConfigError, RegistryError } from '../../registry/errors.ts';
import { TagError } from '../../registry/cosign.ts';
import { decryptPrivateKey, SigningKeyError, type SigningKey } from '../../signing/keys.ts';
import { PasswordUnavailableError, readPassword } from '../../signing/password.ts';
import { SigningError, type SignatureRepository, type SignResult } from '../../signing/sign.ts';

export async function loadKey(path: string): Promise<SigningKey> {
  let pem: string;
  try {
    pem = await readFile(path, 'utf8');
  } catch (error) {
    throw new UsageError(
      `cannot read key ${path}: ${(error as NodeJS.ErrnoException).code ?? (error as Error).message}`,
    );
  }
  try {
    const password = await readPassword(`Enter password for private key ${path}: `, false);
    return await decryptPrivateKey(pem, password);
  } catch (error) {
    if (error instanceof SigningKeyError) throw new UsageError(`${path}: ${error.message}`);
    if (error instanceof PasswordUnavailableError) throw new UsageError(error.message);
    throw error;
  }
}

export function parseImage(image: string, what?: string): ImageReference {
  try {
    return parseReference(image);
  } catch (error) {
    if (error instanceof ReferenceParseError)
      throw new UsageError(what ? `${what}: ${error.message}` : error.message);
    throw error;
  }
}

export function parseSignatureRepository(value: string | undefined): SignatureRepository | undefined {
  if (value === undefined) return undefined;
  const ref = parseImage(value, '--signature-repository');
  if (ref.tag !== undefined || ref.digest !== undefined) {
    throw new UsageError(
      `--signature-repository ${JSON.stringify(value)} must name a repository, without tag or digest`,
    );
  }
  return { registry: ref.registry, repository: ref.repository };
}

export interface WriteContext {
  readonly client: RegistryClient;
  readonly pusher: RegistryPusher;
  /** The reference with the digest the tag resolved to, once. */
  readonly resolved: ImageReference;
  readonly signal: AbortSignal;
}

/**
 * Resolves `ref` once, runs `write` on that digest, and prints `<verb> <ref@digest><what> (<where>)`.
 * `verb` is past tense for the message and the present for failures ("signed"/"sign").
 */
export async function writeForImage(
  image: string,
  ref: ImageReference,
  opts: RegistryFlags,
  io: Io,
  verb: { readonly done: string; readonly doing: string; readonly what?: string },
  write: (context: WriteContext) => Promise<SignResult>,
): Promise<number> {
  const deadline = timeoutMs(opts);
  // One reading of the settings and one credential store for both: a credential helper runs once.
  const settings = await registrySettingsFromFlags(opts);
  let client: RegistryClient | undefined;
  let pusher: RegistryPusher;
  try {
    const credentials = await credentialsFromSettings(settings);
    client = createRegistryClient({ ...settings, credentials });
    pusher = createRegistryPusher({ ...settings, credentials });
  } catch (error) {
    await client?.close();
    throw new UsageError((error as Error).message);
  }
  try {
    const signal = AbortSignal.timeout(deadline);
    // Resolved once: everything after this goes by this digest.
    const descriptor = await client.resolve(ref, { signal });
    const resolved = withDigest(ref, descriptor.digest);
    const result = await write({ client, pusher, resolved, signal });
    let where = result.written;
    if (result.unchanged) where += ', already there';
    if (result.referrersIndex !== undefined) where += `, listed in ${result.referrersIndex}`;
    io.stdout.write(`${verb.done} ${canonical(resolved)}${verb.what ?? ''} (${where})\n`);
    return EXIT_ALLOWED;
  } catch (error) {
    if (error instanceof TagError || (error instanceof SigningError && error.code === 'SIGN_INPUT'))
      throw new UsageError(error.message);
    if (
      error instanceof RegistryError ||
      error instanceof SigningError ||
      error instanceof RegistryConfigError
    ) {
      io.stderr.write(`portcullis: cannot ${verb.doing} ${image}: ${error.message}\n`);
      return EXIT_DENIED;
    }
    throw error;
  } finally {
    await Promise.all([client.close(), pusher.close()]);
  }
}
