// One row of the configuration schema (schema.ts, tls-settings.ts).

import type { FormatName } from './formats.js';

export interface Setting<T> {
  doc: string;
  format: FormatName;
  /** `null` with `nullable` unset marks a required setting. */
  default: T | null;
  env: string;
  /** The flag without its leading `--`. */
  arg: string;
  /** For --help, when the format's own (e.g. VALUE) says too little. */
  placeholder?: string;
  sensitive?: true;
  nullable?: true;
}
