/**
 * The signed images and the policy the audit and webhook benchmarks share: `count` images in the local
 * registry (`bench/app-<i>`, pushed under tags v1..vN), each signed once by a fresh key (legacy cosign
 * .sig), and a policy directory requiring that key for every image of a loopback registry.
 */
import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createRegistryClient } from '../src/registry/client.ts';
import { createRegistryPusher } from '../src/registry/push.ts';
import { parseReference } from '../src/reference/index.ts';
import { decryptPrivateKey, generateKeyPair } from '../src/signing/keys.ts';
import { signImage } from '../src/signing/sign.ts';
import { buildImage, pushBuilt } from '../test/harness/images.ts';

export interface SignedImages {
  /** `bench/app-<i>`, in order. */
  readonly repositories: readonly string[];
  /** A directory with one policy: every `127.0.0.1:*` image signed by the bench key. */
  readonly policyDir: string;
}

export async function pushSignedImages(
  registryHost: string,
  count: number,
  options: { readonly seed: string; readonly tags?: number },
): Promise<SignedImages> {
  const pair = await generateKeyPair('bench');
  const key = await decryptPrivateKey(pair.privatePem, 'bench');
  const client = createRegistryClient({ insecureRegistries: [registryHost] });
  const pusher = createRegistryPusher({ insecureRegistries: [registryHost] });
  const repositories: string[] = [];
  try {
    for (let i = 0; i < count; i++) {
      const built = buildImage({ seed: `${options.seed}-${i}` });
      const repository = `bench/app-${i}`;
      for (let t = 1; t <= Math.max(1, options.tags ?? 1); t++)
        await pushBuilt(registryHost, repository, built, `v${t}`);
      await signImage(
        client,
        pusher,
        key,
        parseReference(`${registryHost}/${repository}:v1@${built.digest}`),
      );
      repositories.push(repository);
    }
  } finally {
    await client.close();
    await pusher.close();
  }
  const policyDir = await mkdtemp(join(tmpdir(), 'portcullis-bench-policies-'));
  const keyLines = pair.publicPem
    .trim()
    .split('\n')
    .map((l) => `                ${l}`)
    .join('\n');
  await writeFile(
    join(policyDir, 'signed.yaml'),
    `apiVersion: portcullis.dev/v1alpha1
kind: ImagePolicy
metadata: {name: signed}
spec:
  images: [{glob: "127.0.0.1:*/**"}]
  rules:
    - name: signed
      signatures:
        authorities:
          - name: release
            key:
              data: |
${keyLines}
`,
  );
  return { repositories, policyDir };
}
