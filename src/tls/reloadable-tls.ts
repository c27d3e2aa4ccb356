// One hop's TLS material that can be replaced while rbuddy runs (SIGHUP, a file change). A
// replacement is all or nothing: it is loaded and checked in full first, and only a complete,
// valid set replaces the current one. A broken one (a key that does not match, a half-written
// file, an expired certificate) leaves the current material in place and is recorded, for the
// logs and /v1/status. Connections that are already up keep the material they were made with;
// only new ones see a replacement (servers through tls.Server#setSecureContext, clients by
// reading `current` when they connect).

import type { Logger } from 'pino';
import { watchFiles, type FileWatch, type FileWatchOptions } from './file-watcher.js';
import {
  loadTlsMaterial,
  type LoadTlsOptions,
  type TlsFiles,
  type TlsMaterial,
} from './tls-material.js';
import { TlsError } from './tls-errors.js';

/** What asked for a reload, as logged and shown in status. */
export type ReloadTrigger = 'sighup' | 'file-change' | 'poll' | 'manual';

export type ReloadOutcome =
  | { outcome: 'reloaded'; material: TlsMaterial; previous: TlsMaterial }
  | { outcome: 'unchanged'; material: TlsMaterial }
  | { outcome: 'failed'; material: TlsMaterial; error: ReloadFailure };

export interface ReloadFailure {
  /** A TlsError code, or `RBUDDY_ERR_TLS_CONTEXT` for anything unexpected. */
  code: string;
  message: string;
  trigger: ReloadTrigger;
  at: Date;
}

/** The part of /v1/status that describes one hop's material. */
export interface TlsStatus {
  files: TlsFiles;
  loadedAt: string;
  certificate: TlsMaterial['certificate'];
  ca: TlsMaterial['ca'];
  warnings: readonly string[];
  /** The last reload that failed and has not been followed by a good one. */
  lastError: { code: string; message: string; trigger: ReloadTrigger; at: string } | undefined;
}

/** Anything that hands out the current material (a fixed one in tests). */
export interface TlsMaterialSource {
  readonly current: TlsMaterial;
}

export interface ReloadableTlsOptions extends LoadTlsOptions {
  /** Name of the hop in logs (`listener`, `master`, `replica`, `http`). */
  hop: string;
  logger?: Logger;
}

type Listener = (material: TlsMaterial, previous: TlsMaterial) => void;

export class ReloadableTls implements TlsMaterialSource {
  private material: TlsMaterial;
  private failure: ReloadFailure | undefined;
  private readonly listeners = new Set<Listener>();
  private queue: Promise<unknown> = Promise.resolve();
  private watch: FileWatch | undefined;

  private constructor(
    private readonly files: TlsFiles,
    private readonly options: ReloadableTlsOptions,
    initial: TlsMaterial,
  ) {
    this.material = initial;
    this.logWarnings(initial);
  }

  /** Loads the files once; a failure here is a start-up error (the caller exits 2). */
  static async load(files: TlsFiles, options: ReloadableTlsOptions): Promise<ReloadableTls> {
    return new ReloadableTls(files, options, await loadTlsMaterial(files, options));
  }

  get current(): TlsMaterial {
    return this.material;
  }

  get lastError(): ReloadFailure | undefined {
    return this.failure;
  }

  /** Called with the new material after every successful replacement; returns an unsubscribe. */
  onReload(listener: Listener): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /**
   * Loads the files again and, if they are valid and differ from the current ones, makes them
   * current. Never throws: a failure is returned, logged and kept in `lastError`. Reloads run one
   * at a time, in the order they were asked for.
   */
  reload(trigger: ReloadTrigger): Promise<ReloadOutcome> {
    const next = this.queue.then(() => this.reloadNow(trigger));
    this.queue = next.catch(() => undefined);
    return next;
  }

  /** Reloads on changes to the files (see file-watcher.ts) until `close()`. */
  watchFiles(options: FileWatchOptions = {}): void {
    if (this.watch !== undefined) return;
    const paths = [this.files.cert, this.files.key, this.files.ca].filter(
      (path): path is string => path !== undefined,
    );
    this.watch = watchFiles(paths, () => void this.reload('file-change'), {
      ...options,
      onWatchError: (dir, error) => {
        this.options.logger?.warn(
          { hop: this.options.hop, dir, err: error },
          'cannot watch a TLS directory for changes; SIGHUP still reloads',
        );
        options.onWatchError?.(dir, error);
      },
    });
  }

  /** Stops watching. The current material stays usable. */
  close(): void {
    this.watch?.close();
    this.watch = undefined;
  }

  status(): TlsStatus {
    const material = this.material;
    return {
      files: { ...this.files },
      loadedAt: material.loadedAt.toISOString(),
      certificate: material.certificate,
      ca: material.ca,
      warnings: material.warnings,
      lastError:
        this.failure === undefined
          ? undefined
          : { ...this.failure, at: this.failure.at.toISOString() },
    };
  }

  private async reloadNow(trigger: ReloadTrigger): Promise<ReloadOutcome> {
    const log = this.options.logger?.child({ hop: this.options.hop, trigger });
    let loaded: TlsMaterial;
    try {
      loaded = await loadTlsMaterial(this.files, this.options);
    } catch (error) {
      const failure: ReloadFailure = {
        code: error instanceof TlsError ? error.code : 'RBUDDY_ERR_TLS_CONTEXT',
        message: (error as Error).message,
        trigger,
        at: new Date(),
      };
      this.failure = failure;
      log?.error(
        { code: failure.code, reason: failure.message },
        'TLS reload failed; the previous certificate and key stay in use',
      );
      return { outcome: 'failed', material: this.material, error: failure };
    }
    // Files back to what is in use (a broken edit undone) clear the error too.
    this.failure = undefined;
    if (loaded.digest === this.material.digest) {
      return { outcome: 'unchanged', material: this.material };
    }
    const previous = this.material;
    this.material = loaded;
    log?.info(
      {
        fingerprint256: loaded.certificate?.fingerprint256,
        previousFingerprint256: previous.certificate?.fingerprint256,
        notAfter: loaded.certificate?.notAfter,
      },
      'TLS material reloaded; new connections use it, live ones keep theirs',
    );
    this.logWarnings(loaded);
    for (const listener of this.listeners) {
      // One failing consumer (a server that refuses the context) must not stop the others.
      try {
        listener(loaded, previous);
      } catch (error) {
        log?.error({ err: error }, 'a consumer of the reloaded TLS material failed');
      }
    }
    return { outcome: 'reloaded', material: loaded, previous };
  }

  private logWarnings(material: TlsMaterial): void {
    for (const warning of material.warnings) {
      this.options.logger?.warn({ hop: this.options.hop }, warning);
    }
  }
}
