import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { readBoundedFile, readBoundedFileSync } from '../../src/util/bounded-file.ts';

for (const [name, read] of [
  ['sync', async (p: string, max: number) => readBoundedFileSync(p, max)],
  ['async', readBoundedFile],
] as const) {
  test(`readBoundedFile (${name}): up to max bytes of a regular file, nothing else`, async () => {
    const dir = await mkdtemp(join(tmpdir(), 'portcullis-bounded-'));
    try {
      await writeFile(join(dir, 'ten'), '0123456789');
      await writeFile(join(dir, 'empty'), '');
      assert.equal((await read(join(dir, 'ten'), 10)).toString(), '0123456789');
      assert.equal((await read(join(dir, 'empty'), 10)).length, 0);
      await assert.rejects(read(join(dir, 'ten'), 9), { message: 'larger than 9 bytes' });
      await assert.rejects(read(dir, 10), { message: 'not a regular file' });
      // A device that never ends is refused before a byte is read.
      await assert.rejects(read('/dev/zero', 10), { message: 'not a regular file' });
      await assert.rejects(read(join(dir, 'absent'), 10), { code: 'ENOENT' });
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
}
