// The bench's progress lines on stderr, stamped with the seconds since the bench started.

/** When the bench started (performance.now()): the relay part's time budget counts from here. */
export const started = performance.now();

export function progress(message: string): void {
  const seconds = ((performance.now() - started) / 1000).toFixed(1).padStart(6);
  console.error(`[${seconds}s] ${message}`);
}
