/**
 * Registry settings shared by every command that reads a registry: flags, an optional YAML file
 * (`--registry-config`), and Docker's config.json for credentials. Flags add to the file's lists.
 */
import type { Command } from 'commander';
import { parseDocument } from 'yaml';
import { Ajv } from 'ajv';
import {
  createRegistryClient,
  createRegistryClientFromSettings,
  type RegistryClient,
  type RegistrySettings,
} from '../registry/client.ts';
import type { CredentialStore } from '../registry/credentials.ts';
import { credentialsFromSettings } from '../registry/setup.ts';
import type { KubernetesApi } from '../kubernetes/api.ts';
import { pullSecretCredentials, type PullSecretCredentials } from '../webhook/credentials.ts';
import { UsageError } from './exit-codes.ts';
import { collect } from './command.ts';
import { readFlagFile } from './flag-file.ts';

export interface RegistryFlags {
  readonly registryConfig?: string;
  readonly dockerConfig?: string;
  readonly insecureRegistry?: string[];
  readonly caFile?: string[];
  readonly timeout: string;
}

export function addRegistryOptions(command: Command): Command {
  return command
    .option('--registry-config <file>', 'registry settings file (docs/registry.md)')
    .option(
      '--docker-config <file>',
      'Docker config.json with credentials (default: $DOCKER_CONFIG or ~/.docker)',
    )
    .option(
      '--insecure-registry <host:port>',
      'allow plain HTTP to exactly this registry (repeatable)',
      collect,
    )
    .option('--ca-file <pem>', 'extra CA certificates to trust for registries (repeatable)', collect)
    .option('--timeout <seconds>', 'deadline for each image, registry round trips included', '30');
}

const fileSchema = {
  type: 'object',
  additionalProperties: false,
  required: ['apiVersion', 'kind'],
  properties: {
    apiVersion: { const: 'portcullis.dev/v1alpha1' },
    kind: { const: 'RegistryConfig' },
    dockerConfig: { type: 'string', minLength: 1 },
    insecureRegistries: { type: 'array', items: { type: 'string', minLength: 1 }, maxItems: 1000 },
    caFiles: { type: 'array', items: { type: 'string', minLength: 1 }, maxItems: 100 },
    timeouts: {
      type: 'object',
      additionalProperties: false,
      properties: {
        requestSeconds: { type: 'number', exclusiveMinimum: 0, maximum: 600 },
        attempts: { type: 'integer', minimum: 1, maximum: 10 },
        concurrency: { type: 'integer', minimum: 1, maximum: 256 },
      },
    },
    limits: {
      type: 'object',
      additionalProperties: false,
      properties: {
        manifestBytes: { type: 'integer', minimum: 1024, maximum: 64 * 1024 * 1024 },
        referrers: { type: 'integer', minimum: 1, maximum: 100000 },
        redirects: { type: 'integer', minimum: 0, maximum: 20 },
      },
    },
  },
} as const;

interface RegistryFile {
  dockerConfig?: string;
  insecureRegistries?: string[];
  caFiles?: string[];
  timeouts?: { requestSeconds?: number; attempts?: number; concurrency?: number };
  limits?: { manifestBytes?: number; referrers?: number; redirects?: number };
}

const validateFile = new Ajv({ allErrors: true }).compile<RegistryFile>(fileSchema);

/** A settings file is a few lines; anything near this is not one, and is not read into memory. */
export const MAX_REGISTRY_CONFIG_BYTES = 1024 * 1024;

async function readRegistryFile(path: string): Promise<RegistryFile> {
  const text = await readFlagFile('--registry-config', 'registry config', path, MAX_REGISTRY_CONFIG_BYTES);
  const doc = parseDocument(text, { prettyErrors: false });
  if (doc.errors.length > 0) {
    const e = doc.errors[0]!;
    const [line, col] = e.linePos?.[0] ? [e.linePos[0].line, e.linePos[0].col] : [0, 0];
    throw new UsageError(`${path}:${line}:${col}: invalid YAML: ${e.message.split('\n')[0]}`);
  }
  const data: unknown = doc.toJS({ maxAliasCount: 100 });
  if (!validateFile(data)) {
    const problems = (validateFile.errors ?? []).map((e) =>
      `${e.instancePath || '(top level)'} ${e.message ?? ''}`.trim(),
    );
    throw new UsageError(`${path}: invalid registry config: ${problems.join('; ')}`);
  }
  return data;
}

export function timeoutMs(flags: RegistryFlags): number {
  const seconds = Number(flags.timeout);
  if (!Number.isFinite(seconds) || seconds <= 0 || seconds > 3600) {
    throw new UsageError(
      `--timeout must be a number of seconds between 0 and 3600, not ${JSON.stringify(flags.timeout)}`,
    );
  }
  return seconds * 1000;
}

/** The settings the flags (and `--registry-config`) describe, for clients that are built elsewhere (e.g. pushers). */
export async function registrySettingsFromFlags(flags: RegistryFlags): Promise<RegistrySettings> {
  const file = flags.registryConfig ? await readRegistryFile(flags.registryConfig) : {};
  return {
    ...((flags.dockerConfig ?? file.dockerConfig)
      ? { dockerConfigPath: flags.dockerConfig ?? file.dockerConfig }
      : {}),
    insecureRegistries: [...(file.insecureRegistries ?? []), ...(flags.insecureRegistry ?? [])],
    caFiles: [...(file.caFiles ?? []), ...(flags.caFile ?? [])],
    timeouts: {
      ...(file.timeouts?.requestSeconds ? { requestMs: file.timeouts.requestSeconds * 1000 } : {}),
      ...(file.timeouts?.attempts ? { attempts: file.timeouts.attempts } : {}),
      ...(file.timeouts?.concurrency ? { concurrency: file.timeouts.concurrency } : {}),
    },
    limits: { ...(file.limits ?? {}) },
  };
}

export async function registryClientFromFlags(flags: RegistryFlags): Promise<RegistryClient> {
  const settings = await registrySettingsFromFlags(flags);
  try {
    return await createRegistryClientFromSettings(settings);
  } catch (error) {
    throw new UsageError((error as Error).message);
  }
}

/**
 * The client from flags (Docker config credentials) and, with a Kubernetes API, a client per workload's
 * pull-secret set: tokens are per credential (docs/webhook.md, "Registry credentials"). For the
 * long-running commands, `serve` and `controller`, which verify what the cluster pulls.
 */
export async function registryWithPullSecrets(
  flags: RegistryFlags,
  kubernetes: KubernetesApi | undefined,
  onResponse?: (host: string, status: number | 'error') => void,
): Promise<{ registry: RegistryClient; credentials?: PullSecretCredentials }> {
  const settings = await registrySettingsFromFlags(flags);
  let staticCredentials: CredentialStore;
  try {
    staticCredentials = await credentialsFromSettings(settings);
  } catch (error) {
    throw new UsageError((error as Error).message);
  }
  const makeClient = (store: CredentialStore) =>
    createRegistryClient({ ...settings, credentials: store, ...(onResponse ? { onResponse } : {}) });
  let registry: RegistryClient;
  try {
    registry = makeClient(staticCredentials);
  } catch (error) {
    throw new UsageError((error as Error).message);
  }
  if (!kubernetes) return { registry };
  return { registry, credentials: pullSecretCredentials(kubernetes, staticCredentials, makeClient) };
}
