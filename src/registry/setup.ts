/**
 * What the reading client and the pusher share: settings turned into limits, time limits and one
 * transport (exact-host insecure list, extra CAs), and Docker credentials loaded from settings. Any bad
 * setting is a RegistryConfigError naming it.
 */
import { readFileSync } from 'node:fs';
import type { RegistryClientOptions, RegistrySettings } from './client.ts';
import { loadDockerConfig, type CredentialStore } from './credentials.ts';
import { RegistryConfigError } from './errors.ts';
import { canonicalHost } from './hosts.ts';
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
