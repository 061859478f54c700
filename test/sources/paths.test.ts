import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, symlinkSync, truncateSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { extractFromPaths, LIMITS } from '../../src/sources/index.ts';

const POD = (image: string): string =>
  `kind: Pod\nmetadata: {name: p}\nspec:\n  containers:\n  - name: c\n    image: ${image}\n`;

function tree(files: Record<string, string>): string {
  const root = mkdtempSync(join(tmpdir(), 'portcullis-sources-'));
  for (const [path, text] of Object.entries(files)) {
    mkdirSync(join(root, path, '..'), { recursive: true });
    writeFileSync(join(root, path), text);
  }
  return root;
}

void test('directories are walked recursively, in sorted order, for manifest, Compose and Dockerfile names only', async (t) => {
  const root = tree({
    'k8s/b.yml': POD('b:1'),
    'k8s/a.yaml': POD('a:1'),
    'k8s/list.json':
      '{"kind": "List", "items": [{"kind": "Pod", "spec": {"containers": [{"name": "j", "image": "json:1"}]}}]}',
    'compose.yaml': 'services:\n  web:\n    image: compose:1\n',
    Dockerfile: 'FROM docker:1\n',
    'svc/Dockerfile.dev': 'FROM dev:1\n',
    'svc/api.Dockerfile': 'FROM api:1\n',
    'svc/Containerfile': 'FROM podman:1\n',
    'svc/Dockerfile.dockerignore': 'FROM ignored:1\n',
    'README.md': 'FROM readme:1\n',
    'notes.txt': POD('txt:1'),
    'node_modules/pkg/pod.yaml': POD('node-modules:1'),
    '.git/pod.yaml': POD('git:1'),
  });
  t.after(() => rmSync(root, { recursive: true, force: true }));
  symlinkSync(root, join(root, 'k8s', 'loop'));
  const result = await extractFromPaths([root]);
  assert.deepEqual(result.problems, []);
  assert.deepEqual(
    result.images.map((i) => [i.source.file.slice(root.length + 1), i.image, i.source.format]),
    [
      ['Dockerfile', 'docker:1', 'dockerfile'],
      ['compose.yaml', 'compose:1', 'compose'],
      ['k8s/a.yaml', 'a:1', 'kubernetes'],
      ['k8s/b.yml', 'b:1', 'kubernetes'],
      ['k8s/list.json', 'json:1', 'kubernetes'],
      ['svc/Containerfile', 'podman:1', 'dockerfile'],
      ['svc/Dockerfile.dev', 'dev:1', 'dockerfile'],
      ['svc/api.Dockerfile', 'api:1', 'dockerfile'],
    ],
  );
  // A file named explicitly is read whatever its name; its format comes from its content.
  const explicit = await extractFromPaths([join(root, 'notes.txt'), join(root, 'README.md')]);
  assert.deepEqual(
    explicit.images.map((i) => [i.image, i.source.format, i.source.line, i.source.column]),
    [
      ['txt:1', 'kubernetes', 6, 12],
      ['readme:1', 'dockerfile', 1, 6],
    ],
  );
});

void test('unreadable paths, oversized files and bad encodings are problems, and the other paths are still read', async (t) => {
  const root = tree({ 'ok.yaml': POD('ok:1'), 'latin1.yaml': '' });
  t.after(() => rmSync(root, { recursive: true, force: true }));
  writeFileSync(join(root, 'latin1.yaml'), Buffer.from('kind: Pod # caf\xe9\n', 'latin1'));
  writeFileSync(join(root, 'binary.yaml'), Buffer.from([0x1f, 0x8b, 0x08, 0x00, 0x00]));
  writeFileSync(join(root, 'huge.yaml'), '');
  truncateSync(join(root, 'huge.yaml'), LIMITS.maxFileBytes + 1);
  symlinkSync(join(root, 'nowhere'), join(root, 'dangling.yaml'));
  const missing = join(root, 'missing.yaml');
  const result = await extractFromPaths([missing, root]);
  assert.deepEqual(
    result.images.map((i) => i.image),
    ['ok:1'],
  );
  assert.deepEqual(result.problems, [
    { file: missing, message: 'cannot read: no such file or directory', code: 'READ_FAILED' },
    {
      file: join(root, 'binary.yaml'),
      line: 1,
      column: 4,
      message: 'binary data (a NUL byte): not a Kubernetes manifest, Compose file or Dockerfile',
      code: 'BINARY',
    },
    {
      file: join(root, 'dangling.yaml'),
      message: 'cannot read: no such file or directory',
      code: 'READ_FAILED',
    },
    {
      file: join(root, 'huge.yaml'),
      message: 'file has 16777217 bytes, more than the 16 MiB (16777216 bytes) limit',
      code: 'TOO_LARGE',
    },
    { file: join(root, 'latin1.yaml'), message: 'not valid UTF-8 text', code: 'NOT_UTF8' },
  ]);
});

void test("'-' reads stdin once, through the reader given, with '-' as the file", async () => {
  let reads = 0;
  const readStdin = async (): Promise<string> => {
    reads++;
    return POD('stdin:1');
  };
  const result = await extractFromPaths(['-', '-'], readStdin);
  assert.equal(reads, 1);
  assert.deepEqual(
    result.images.map((i) => [i.image, i.source.file, i.source.line, i.source.column, i.source.path]),
    [
      ['stdin:1', '-', 6, 12, 'spec.containers[0].image'],
      ['stdin:1', '-', 6, 12, 'spec.containers[0].image'],
    ],
  );
  const dockerfile = await extractFromPaths(['-'], async () => 'ARG V=3\nFROM alpine:$V\n');
  assert.deepEqual(
    dockerfile.images.map((i) => [i.image, i.source.format, i.source.file]),
    [['alpine:3', 'dockerfile', '-']],
  );
  const failing = await extractFromPaths(['-'], async () => {
    throw Object.assign(new Error('stdin closed'), { code: 'EPIPE' });
  });
  assert.deepEqual(failing, {
    images: [],
    problems: [{ file: '-', message: 'cannot read: EPIPE', code: 'READ_FAILED' }],
  });
});

void test('the default stdin reader reads the process stdin, bounded and as UTF-8', () => {
  const index = fileURLToPath(new URL('../../src/sources/index.ts', import.meta.url));
  const script = `import { extractFromPaths } from ${JSON.stringify(index)};
const r = await extractFromPaths(['-']);
process.stdout.write(JSON.stringify(r));`;
  const run = (input: Buffer | string): unknown =>
    JSON.parse(
      execFileSync(process.execPath, ['--input-type=module', '-e', script], { input, encoding: 'utf8' }),
    );
  assert.deepEqual(run('services:\n  web:\n    image: from-stdin:1\n'), {
    images: [
      {
        image: 'from-stdin:1',
        source: {
          file: '-',
          line: 3,
          column: 12,
          format: 'compose',
          name: 'web',
          documentIndex: 0,
          path: 'services.web.image',
        },
      },
    ],
    problems: [],
  });
  assert.deepEqual(run(Buffer.from([0xff, 0xfe, 0x41])), {
    images: [],
    problems: [{ file: '-', message: 'not valid UTF-8 text', code: 'NOT_UTF8' }],
  });
  assert.deepEqual(run(Buffer.alloc(LIMITS.maxFileBytes + 10, 0x61)), {
    images: [],
    problems: [
      { file: '-', message: 'stdin is larger than the 16 MiB (16777216 bytes) limit', code: 'TOO_LARGE' },
    ],
  });
});

void test('the shipped examples yield every workload kind and format, without problems', async () => {
  const examples = fileURLToPath(new URL('../../examples/manifests', import.meta.url));
  const result = await extractFromPaths([examples]);
  assert.deepEqual(result.problems, []);
  const kinds = new Set(result.images.map((i) => i.source.kind ?? i.source.format));
  assert.deepEqual([...kinds].sort(), [
    'CronJob',
    'DaemonSet',
    'Deployment',
    'Job',
    'Pod',
    'PodTemplate',
    'ReplicaSet',
    'ReplicationController',
    'StatefulSet',
    'compose',
    'dockerfile',
  ]);
  const paths = result.images.map((i) => i.source.path);
  for (const path of [
    'spec.template.spec.initContainers[0].image',
    'spec.ephemeralContainers[0].image',
    'spec.volumes[0].image.reference',
    'items[1].spec.template.spec.containers[0].image',
    'stages[2].COPY --from',
  ]) {
    assert.ok(paths.includes(path), path);
  }
  const images = result.images.map((i) => i.image);
  for (const denied of ['nginx:latest', 'docker.io/library/redis', 'postgres:16', 'busybox:1.36']) {
    assert.ok(images.includes(denied), denied);
  }
  assert.ok(
    images.filter((i) => /^(ghcr\.io\/acme|registry\.acme\.example)\/.+@sha256:[0-9a-f]{64}$/.test(i))
      .length >= 12,
  );
});
