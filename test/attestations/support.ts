/**
 * Support for the attestation tests: policies written to a temporary directory and loaded by the
 * real loader, and hand-made DSSE envelopes for the negative cases.
 */
import { readFileSync } from 'node:fs';
import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { PolicySet } from '../../src/policy/model.ts';
import { loadPolicyPaths } from '../../src/policy/load.ts';
import { fixturePath } from '../harness/fixtures.ts';

export const KEYS = fixturePath('skopeo-signed', 'keys');
export const PASSPHRASE = readFileSync(join(KEYS, 'passphrase.txt'), 'utf8').trim();
export const pubKeyPath = (name: string): string => join(KEYS, `${name}.pub`);

/** Loads policy YAML text (one or more documents) through the real loader; throws with diagnostics. */
export async function loadPolicyText(text: string): Promise<PolicySet> {
  const dir = await mkdtemp(join(tmpdir(), 'portcullis-att-'));
  await writeFile(join(dir, 'policy.yaml'), text);
  const result = await loadPolicyPaths([dir]);
  if (!result.ok) throw new Error(`policy did not load: ${JSON.stringify(result.diagnostics)}`);
  return result.policySet;
}

/** The diagnostics of a policy that must not load. */
export async function lintPolicyText(
  text: string,
): Promise<{ file: string; diagnostics: readonly { line: number; column: number; message: string }[] }> {
  const dir = await mkdtemp(join(tmpdir(), 'portcullis-att-'));
  const file = join(dir, 'policy.yaml');
  await writeFile(file, text);
  const result = await loadPolicyPaths([dir]);
  if (result.ok) throw new Error('policy loaded but was expected not to');
  return {
    file,
    diagnostics: result.diagnostics as unknown as { line: number; column: number; message: string }[],
  };
}

/** One ImagePolicy with one attestations rule; `items` are YAML lines of the list (indented by the caller as 0). */
export function attestationPolicy(items: string, images = '**'): string {
  return [
    'apiVersion: portcullis.dev/v1alpha1',
    'kind: ImagePolicy',
    'metadata: {name: attested}',
    'spec:',
    `  images: [{glob: "${images}"}]`,
    '  rules:',
    '    - name: attested',
    '      attestations:',
    ...items
      .trim()
      .split('\n')
      .map((l) => `        ${l}`),
    '',
  ].join('\n');
}

/** `authorities:` with fixture public keys. */
export const keyAuthorities = (...names: string[]): string =>
  `authorities: [${names.map((n) => `{name: ${n}, key: {path: "${pubKeyPath(n)}"}}`).join(', ')}]`;
