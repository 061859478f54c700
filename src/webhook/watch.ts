/**
 * Noticing that files changed on disk: certificates renewed by cert-manager, a ConfigMap of policies
 * updated. Kubernetes swaps mounted files through a `..data` symlink in the directory, so the
 * directory is watched (not the file, whose inode is replaced), and a slow poll backs up fs.watch,
 * which can miss events on some filesystems. Callers compare contents, so a spurious call is harmless.
 */
import { watch, type FSWatcher } from 'node:fs';
import { stat } from 'node:fs/promises';
import { dirname } from 'node:path';

export interface Watcher {
  close(): void;
}

export interface WatchOptions {
  /** Quiet time after the last event before `onChange` runs: a file is written in several steps. */
  readonly debounceMs?: number;
  /** Backup poll; 0 disables. */
  readonly pollMs?: number;
}

export function watchPaths(
  paths: readonly string[],
  onChange: () => void,
  options: WatchOptions = {},
): Watcher {
  const debounceMs = options.debounceMs ?? 200;
  const pollMs = options.pollMs ?? 30_000;
  let timer: NodeJS.Timeout | undefined;
  let closed = false;
  const fire = () => {
    if (closed) return;
    clearTimeout(timer);
    timer = setTimeout(() => {
      if (!closed) onChange();
    }, debounceMs);
  };
  const watchers: FSWatcher[] = [];
  const targets = new Set<string>();
  for (const path of paths) {
    targets.add(path);
    targets.add(dirname(path));
  }
  for (const target of targets) {
    try {
      const w = watch(target, { persistent: false }, fire);
      w.on('error', () => {}); // a vanished directory: the poll still runs
      watchers.push(w);
    } catch {
      // Not there (yet): the poll covers it.
    }
  }
  let poll: NodeJS.Timeout | undefined;
  if (pollMs > 0) {
    let last = '';
    const check = async () => {
      const parts = await Promise.all(
        paths.map(async (p) => {
          try {
            const s = await stat(p);
            return `${p}:${s.mtimeMs}:${s.size}:${s.ino}`;
          } catch {
            return `${p}:absent`;
          }
        }),
      );
      const now = parts.join('|');
      if (last !== '' && now !== last) fire();
      last = now;
    };
    void check();
    poll = setInterval(() => void check(), pollMs);
    poll.unref();
  }
  return {
    close() {
      closed = true;
      clearTimeout(timer);
      clearInterval(poll);
      for (const w of watchers) w.close();
    },
  };
}
