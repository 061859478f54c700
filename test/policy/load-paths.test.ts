import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdir, mkdtemp, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadPolicyPaths } from '../../src/policy/load.ts';
import { lines, policy } from './helpers.ts';

async function scratch(): Promise<string> {
  return mkdtemp(join(tmpdir(), 'portcullis-policy-'));
}

const ok = (name: string) => policy(name, '    - tags: { forbid: [latest] }\n');

void test('directories are read recursively, in path order, only *.yaml, *.yml and *.json', async () => {
  const dir = await scratch();
  try {
    await mkdir(join(dir, 'team', 'nested'), { recursive: true });
    await writeFile(join(dir, 'b.yaml'), ok('b'));
    await writeFile(join(dir, 'a.yml'), ok('a'));
    await writeFile(
      join(dir, 'team', 'nested', 'c.json'),
      JSON.stringify({
        apiVersion: 'portcullis.dev/v1alpha1',
        kind: 'ImagePolicy',
        metadata: { name: 'c' },
        spec: { images: [{ glob: '**' }], rules: [{ tags: { forbid: ['latest'] } }] },
      }),
    );
    await writeFile(join(dir, 'README.md'), '# not a policy: ignored\n');
    await writeFile(join(dir, 'notes.txt'), 'ignored');
    const result = await loadPolicyPaths([dir]);
    assert.ok(result.ok, JSON.stringify(result));
    assert.deepEqual(
      result.policySet.policies.map((p) => p.name),
      ['a', 'b', 'c'],
    );
    assert.equal(result.policySet.policies[2]?.source.file, join(dir, 'team', 'nested', 'c.json'));
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

void test('a mounted ConfigMap (dot directories and symlinks) is read once', async () => {
  const dir = await scratch();
  try {
    // The kubelet's layout: ..2026_11_27/policy.yaml, ..data -> ..2026_11_27, policy.yaml -> ..data/policy.yaml
    await mkdir(join(dir, '..2026_11_27'));
    await writeFile(join(dir, '..2026_11_27', 'policy.yaml'), ok('mounted'));
    await symlink('..2026_11_27', join(dir, '..data'));
    await symlink(join('..data', 'policy.yaml'), join(dir, 'policy.yaml'));
    const result = await loadPolicyPaths([dir, join(dir, 'policy.yaml')]);
    assert.ok(result.ok, JSON.stringify(result));
    assert.deepEqual(
      result.policySet.policies.map((p) => p.name),
      ['mounted'],
    );
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

void test('a symlink loop does not hang the walk', async () => {
  const dir = await scratch();
  try {
    await mkdir(join(dir, 'sub'));
    await writeFile(join(dir, 'sub', 'p.yaml'), ok('p'));
    await symlink(dir, join(dir, 'sub', 'loop'));
    const result = await loadPolicyPaths([dir]);
    assert.ok(result.ok, JSON.stringify(result));
    assert.deepEqual(
      result.policySet.policies.map((p) => p.name),
      ['p'],
    );
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

void test('missing paths, empty directories, non-UTF-8 and oversized files are clear errors, all reported', async () => {
  const dir = await scratch();
  try {
    await mkdir(join(dir, 'empty'));
    await writeFile(join(dir, 'latin1.yaml'), Buffer.from([0x6b, 0x3a, 0x20, 0xe9, 0x0a]));
    await writeFile(join(dir, 'big.yaml'), Buffer.alloc(2 * 1024 * 1024, 0x61));
    await writeFile(join(dir, 'good.yaml'), ok('good'));
    const result = await loadPolicyPaths([
      join(dir, 'missing'),
      join(dir, 'empty'),
      join(dir, 'latin1.yaml'),
      join(dir, 'big.yaml'),
      join(dir, 'good.yaml'),
    ]);
    assert.equal(result.ok, false);
    assert.deepEqual(
      lines(result).map((l) => l.replaceAll(dir, 'D')),
      [
        'D/missing: error: cannot read: no such file or directory',
        'D/empty: error: no policy files (*.yaml, *.yml, *.json) in this directory',
        'D/latin1.yaml: error: file is not valid UTF-8 text',
        'D/big.yaml:1:1: error: file is 2.0 MiB; policy files are limited to 1.0 MiB',
      ],
    );
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

void test('an explicitly named file is read whatever its extension; a UTF-8 BOM is accepted', async () => {
  const dir = await scratch();
  try {
    await writeFile(join(dir, 'policy.conf'), `\uFEFF${ok('bom')}`);
    const result = await loadPolicyPaths([join(dir, 'policy.conf')]);
    assert.ok(result.ok, JSON.stringify(result));
    assert.deepEqual(result.policySet.policies[0]?.source, {
      file: join(dir, 'policy.conf'),
      line: 1,
      column: 1,
    });
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

void test('a device or pipe named as a policy file is refused, not read', async () => {
  const result = await loadPolicyPaths(['/dev/zero']);
  assert.deepEqual(lines(result), ['/dev/zero: error: not a regular file or directory']);
});
