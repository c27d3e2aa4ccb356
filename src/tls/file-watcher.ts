// Watching TLS files for changes. Watching the files themselves is not enough: cert-manager and
// Kubernetes secret volumes never rewrite `tls.crt` in place, they write a new timestamped
// directory and swap the `..data` symlink by rename (AtomicWriter in kubelet), so the inode a
// file watch holds is simply abandoned. Other tools do rewrite in place, or write a temp file and
// rename it over the old one. Watching the directories catches all three: the directory of each
// configured path (where `..data` or the renamed file lives) and the directory its symlinks
// currently resolve to (where an in-place write lands). After every change the set is computed
// again, since a swap moves the real files to a new directory.

import { realpathSync, watch, type FSWatcher } from 'node:fs';
import { dirname, resolve } from 'node:path';

export interface FileWatchOptions {
  /** Quiet time after the last event before `onChange` runs: one rotation touches several files
   * (cert, key, CA, the symlink) and must cause one reload, after the last of them. Default 250. */
  debounceMs?: number;
  /** Also call `onChange` this often, for file systems without change notification (NFS, some
   * FUSE mounts). Default: off. */
  pollMs?: number;
  /** Told about a directory that could not be watched (the poll, if any, still covers it). */
  onWatchError?: (dir: string, error: Error) => void;
}

export interface FileWatch {
  /** Directories watched right now (for status and tests). */
  readonly dirs: readonly string[];
  close(): void;
}

const DEFAULT_DEBOUNCE_MS = 250;

/** Calls `onChange` (debounced) whenever something may have changed one of `paths`. */
export function watchFiles(
  paths: readonly string[],
  onChange: () => void,
  options: FileWatchOptions = {},
): FileWatch {
  const debounceMs = options.debounceMs ?? DEFAULT_DEBOUNCE_MS;
  const watchers = new Map<string, FSWatcher>();
  let timer: NodeJS.Timeout | undefined;
  let closed = false;

  const schedule = (): void => {
    if (closed) return;
    if (timer !== undefined) clearTimeout(timer);
    timer = setTimeout(() => {
      timer = undefined;
      if (closed) return;
      arm();
      onChange();
    }, debounceMs);
  };

  const arm = (): void => {
    const wanted = new Set(paths.flatMap(directoriesOf));
    for (const [dir, watcher] of watchers) {
      if (!wanted.has(dir)) {
        watcher.close();
        watchers.delete(dir);
      }
    }
    for (const dir of wanted) {
      if (watchers.has(dir)) continue;
      try {
        // persistent: false — a watch must never be what keeps the process alive.
        const watcher = watch(dir, { persistent: false }, schedule);
        // A watched directory removed by a symlink swap errors (or goes quiet): drop the watch
        // and look again; the next arm() watches wherever the files are now.
        watcher.on('error', (error) => {
          watcher.close();
          if (watchers.get(dir) === watcher) watchers.delete(dir);
          options.onWatchError?.(dir, error);
          schedule();
        });
        watchers.set(dir, watcher);
      } catch (error) {
        options.onWatchError?.(dir, error as Error);
      }
    }
  };

  arm();
  const poll =
    options.pollMs === undefined
      ? undefined
      : setInterval(() => {
          if (!closed) onChange();
        }, options.pollMs);
  poll?.unref();

  return {
    get dirs() {
      return [...watchers.keys()];
    },
    close() {
      closed = true;
      if (timer !== undefined) clearTimeout(timer);
      if (poll !== undefined) clearInterval(poll);
      for (const watcher of watchers.values()) watcher.close();
      watchers.clear();
    },
  };
}

/** The directory of `path` and, when symlinks lead elsewhere, the directory of its target. */
function directoriesOf(path: string): string[] {
  const absolute = resolve(path);
  const dirs = [dirname(absolute)];
  try {
    const real = realpathSync(absolute);
    if (dirname(real) !== dirs[0]) dirs.push(dirname(real));
  } catch {
    // Missing right now (mid-swap): its own directory is watched, which sees it come back.
  }
  return dirs;
}
