/**
 * What the reading client and the pusher share: settings turned into limits, time limits and one
 * transport (exact-host insecure list, extra CAs), and Docker credentials loaded from settings. Any bad
 * setting is a RegistryConfigError naming it.
 */
import { readFileSync } from 'node:fs';
import type { RegistryClientOptions, RegistrySettings } from './client.ts';
import { loadDockerConfig, type CredentialStore } from './credentials.ts';
import { RegistryConfigError, RegistryError, sanitize } from './errors.ts';
import { apiHost, canonicalHost } from './hosts.ts';
import { resolveLimits, resolveTimeLimits, type RegistryLimits, type TimeLimits } from './limits.ts';
import { Transport } from './transport.ts';

export interface Connection {
  readonly limits: RegistryLimits;
  readonly timeouts: TimeLimits;
  readonly transport: Transport;
}

export function connect(options: RegistryClientOptions): Connection {
  const limits = wrapConfig(() => resolveLimits(options.limits));
  const timeouts = wrapConfig(() => resolveTimeLimits(options.timeouts));
  const ca = [...(options.ca ?? []), ...(options.caFiles ?? []).map(readCa)];
  const insecureRegistries = (options.insecureRegistries ?? []).map((host) =>
    wrapConfig(() => canonicalHost(host)),
  );
  const transport = new Transport({
    insecureRegistries,
    ca,
    limits,
    time: timeouts,
    ...(options.onResponse ? { onResponse: options.onResponse } : {}),
  });
  return { limits, timeouts, transport };
}

/** Docker credentials named by the settings (anonymous when there is no config file). */
export function credentialsFromSettings(settings: RegistrySettings): Promise<CredentialStore> {
  const timeouts = wrapConfig(() => resolveTimeLimits(settings.timeouts));
  return loadDockerConfig(settings.dockerConfigPath, { helperTimeoutMs: timeouts.credentialHelperMs });
}

function readCa(file: string): string {
  try {
    const text = readFileSync(file, 'utf8');
    if (!text.includes('-----BEGIN CERTIFICATE-----')) throw new Error('no PEM certificate in it');
    return text;
  } catch (error) {
    throw new RegistryConfigError(`cannot use CA file ${file}: ${(error as Error).message}`);
  }
}

function wrapConfig<T>(build: () => T): T {
  try {
    return build();
  } catch (error) {
    throw new RegistryConfigError(`registry settings: ${(error as Error).message}`);
  }
}

const REPOSITORY = /^[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*(?:\/[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*)*$/;

export interface RepositoryAddress {
  /** Canonical host (`docker.io` for Docker Hub's aliases). */
  readonly registry: string;
  readonly repository: string;
  /** `registry/repository`, for messages. */
  readonly location: string;
  /** The host the API is served from (`registry-1.docker.io` for Docker Hub). */
  readonly apiHost: string;
}

/** Checks a registry and repository name before any request is made; BAD_REFERENCE otherwise. */
export function repositoryAddress(registry: string, repository: string): RepositoryAddress {
  let canonical: string;
  try {
    canonical = canonicalHost(registry);
  } catch (error) {
    throw new RegistryError('BAD_REFERENCE', (error as Error).message, { registry: sanitize(registry, 100) });
  }
  if (repository.length > 255 || !REPOSITORY.test(repository)) {
    throw new RegistryError(
      'BAD_REFERENCE',
      `invalid repository name ${JSON.stringify(sanitize(repository, 100))}`,
      { registry: canonical },
    );
  }
  return {
    registry: canonical,
    repository,
    location: `${canonical}/${repository}`,
    apiHost: apiHost(canonical),
  };
}
