/**
 * Support for the signature end-to-end tests: the skopeo-signed dump replayed into a real registry,
 * policies written to a temporary directory and loaded by the real loader, and deciders over a real
 * registry client.
 */
import { readFileSync } from 'node:fs';
import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createDecider, type ImageDecider } from '../../src/app/decide.ts';
import type { PolicySet } from '../../src/policy/model.ts';
import { loadPolicyPaths } from '../../src/policy/load.ts';
import { createRegistryClient, type RegistryClientOptions } from '../../src/registry/client.ts';
import { fixturePath, REGISTRY_DUMP_DIR } from '../harness/fixtures.ts';
import { pushImage, sha256 } from '../harness/images.ts';

export const KEYS = fixturePath('skopeo-signed', 'keys');
export const key = (name: string): string => join(KEYS, `${name}.pub`);

/** Digests of the skopeo-signed images (shared/fixtures/PROVENANCE.md, oracle-generated). */
export const IMG_A = 'sha256:a26b9f2187e829cdbda806d6729e554ec8534d6d856a10b33667191ab33a28c9';
export const IMG_B = 'sha256:7ffece328df5fbc2268debb641e0d33e67f52dd42dab343ec6b69bd7f681174f';
export const INDEX = 'sha256:5a4b492d10e6bf17af27b6a69486693fd7efcf89c262ebc395f763efb16a579a';
export const INDEX_ARM64 = 'sha256:b9a7e9b281a650b5c1b977cd60923f64d624a7b75c69260b416f8d270fa363b1';

export const sigTag = (digest: string, prefix = ''): string => `${prefix}${digest.replace(':', '-')}.sig`;

/** A `.sig` manifest of the dump with its blobs, pushed elsewhere (another repository, tag or prefix). */
export async function copySignature(
  host: string,
  fromRepo: string,
  digest: string,
  toRepo: string,
  toTag: string,
): Promise<void> {
  const dir = join(REGISTRY_DUMP_DIR, ...fromRepo.split('/'));
  const bytes = readFileSync(join(dir, `manifest@${sigTag(digest)}.json`));
  const json = JSON.parse(bytes.toString('utf8')) as {
    mediaType: string;
    config: { digest: string };
    layers: { digest: string }[];
  };
  const blobs = [json.config, ...json.layers].map((d) => {
    const blob = readFileSync(join(dir, 'blobs', d.digest.replace(':', '-')));
    if (sha256(blob) !== d.digest) throw new Error(`fixture blob ${d.digest} is corrupt`);
    return { digest: d.digest, bytes: blob };
  });
  await pushImage(host, toRepo, toTag, { manifest: { bytes, mediaType: json.mediaType }, blobs });
}

/** A policy set of one ImagePolicy with one signatures rule (YAML lines under `signatures:`). */
export async function signaturePolicy(rule: string, images = '**'): Promise<PolicySet> {
  const dir = await mkdtemp(join(tmpdir(), 'portcullis-sig-'));
  const text = [
    'apiVersion: portcullis.dev/v1alpha1',
    'kind: ImagePolicy',
    'metadata: {name: signed}',
    'spec:',
    `  images: [{glob: "${images}"}]`,
    '  rules:',
    '    - name: signed',
    '      signatures:',
    ...rule
      .trim()
      .split('\n')
      .map((l) => `        ${l}`),
    '',
  ].join('\n');
  await writeFile(join(dir, 'policy.yaml'), text);
  const result = await loadPolicyPaths([dir]);
  if (!result.ok) throw new Error(`policy did not load: ${JSON.stringify(result.diagnostics)}`);
  return result.policySet;
}

/** `authorities:` entries for fixture keys. */
export const keyAuthorities = (...names: string[]): string =>
  ['authorities:', ...names.map((n) => `  - {name: ${n}, key: {path: "${key(n)}"}}`)].join('\n');

export function decider(
  policySet: PolicySet,
  hosts: string[],
  options: RegistryClientOptions = {},
): { decider: ImageDecider; close: () => Promise<void> } {
  const registry = createRegistryClient({ insecureRegistries: hosts, ...options });
  return {
    decider: createDecider(policySet, { offline: false, registry, timeoutMs: 20_000 }),
    close: () => registry.close(),
  };
}
