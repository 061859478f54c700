/**
 * Reading a small file named by a user or a cache (a policy's key, a trust root, a predicate, a settings
 * file) without trusting its size: a directory, a FIFO or `/dev/zero` is refused before any byte is read,
 * and a regular file is read through one descriptor up to `max + 1` bytes, so a file that grows between
 * the check and the read is still refused. Errors carry a short reason for messages: `not a regular
 * file`, `larger than N bytes`, or the system's (its `code`, e.g. ENOENT, is kept).
 */
import { closeSync, fstatSync, openSync, readSync } from 'node:fs';
import { open } from 'node:fs/promises';

const notRegular = () => new Error('not a regular file');
const tooLarge = (max: number) => new Error(`larger than ${max} bytes`);

/** Room for more bytes (the file grew since fstat), never past `max + 1`: one byte over is the proof. */
function grown(buffer: Buffer, max: number): Buffer {
  if (buffer.length > max) throw tooLarge(max);
  const bigger = Buffer.alloc(Math.min(max + 1, buffer.length * 2));
  buffer.copy(bigger);
  return bigger;
}

export function readBoundedFileSync(path: string, max: number): Buffer {
  const fd = openSync(path, 'r');
  try {
    const st = fstatSync(fd);
    if (!st.isFile()) throw notRegular();
    if (st.size > max) throw tooLarge(max);
    let buffer: Buffer = Buffer.alloc(Math.min(max + 1, st.size + 1));
    let length = 0;
    for (;;) {
      if (length === buffer.length) buffer = grown(buffer, max);
      const n = readSync(fd, buffer, length, buffer.length - length, null);
      if (n === 0) break;
      length += n;
    }
    if (length > max) throw tooLarge(max);
    return buffer.subarray(0, length);
  } finally {
    closeSync(fd);
  }
}

export async function readBoundedFile(path: string, max: number): Promise<Buffer> {
  const handle = await open(path, 'r');
  try {
    const st = await handle.stat();
    if (!st.isFile()) throw notRegular();
    if (st.size > max) throw tooLarge(max);
    let buffer: Buffer = Buffer.alloc(Math.min(max + 1, st.size + 1));
    let length = 0;
    for (;;) {
      if (length === buffer.length) buffer = grown(buffer, max);
      const { bytesRead } = await handle.read(buffer, length, buffer.length - length, null);
      if (bytesRead === 0) break;
      length += bytesRead;
    }
    if (length > max) throw tooLarge(max);
    return buffer.subarray(0, length);
  } finally {
    await handle.close();
  }
}
