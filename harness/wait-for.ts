// The one way tests, the bench and the demo wait: poll a condition until it holds or a deadline
// passes. Fixed sleeps are either too short on a loaded 2-core CI machine (flaky) or too long
// everywhere else (slow).

export interface WaitForOptions {
  /** What is being waited for, in words; it is the subject of the timeout message. */
  what: string;
  /** Deadline for the whole wait. Default 30 s. */
  timeoutMs?: number;
  /** Pause between two probes. Default 50 ms. */
  intervalMs?: number;
  /**
   * What else to print at the deadline (server logs, the proxy's status): a CI run shows only
   * its output, so a timeout should carry what is needed to understand it. Bounded to 2 s.
   */
  explain?: () => string | Promise<string>;
}

const DEFAULT_TIMEOUT_MS = 30_000;
const DEFAULT_INTERVAL_MS = 50;

/** Thrown by {@link waitFor} at the deadline; keeps the last probe error and value for diagnosis. */
export class WaitForTimeoutError extends Error {
  readonly lastError: unknown;
  readonly lastValue: unknown;

  constructor(message: string, lastError: unknown, lastValue: unknown) {
    super(message, lastError === undefined ? undefined : { cause: lastError });
    this.name = 'WaitForTimeoutError';
    this.lastError = lastError;
    this.lastValue = lastValue;
  }
}

type Settled<T> =
  { kind: 'value'; value: T } | { kind: 'error'; error: unknown } | { kind: 'late' };

/**
 * Polls `probe` until it returns a truthy value and resolves with that value. A probe that throws
 * (or rejects) counts as "not yet"; its last error is kept for the timeout message. A probe that
 * hangs (a command to a SIGSTOPped server, say) cannot stretch the wait past the deadline: each
 * call is raced against the time left.
 */
export async function waitFor<T>(
  probe: () => T | Promise<T>,
  options: WaitForOptions,
): Promise<NonNullable<T>> {
  const timeoutMs = options.timeoutMs ?? DEFAULT_TIMEOUT_MS;
  const intervalMs = options.intervalMs ?? DEFAULT_INTERVAL_MS;
  const deadline = Date.now() + timeoutMs;
  let lastError: unknown;
  let lastValue: unknown;
  let probes = 0;

  for (;;) {
    probes += 1;
    const outcome = await settleBefore(probe, deadline - Date.now());
    if (outcome.kind === 'value') {
      if (outcome.value) return outcome.value;
      lastValue = outcome.value;
      lastError = undefined;
    } else if (outcome.kind === 'error') {
      lastError = outcome.error;
    }
    const left = deadline - Date.now();
    if (outcome.kind === 'late' || left <= 0) {
      const explanation = await explain(options.explain);
      throw new WaitForTimeoutError(
        `timed out after ${timeoutMs}ms waiting for ${options.what} (${probes} probes${describeLast(outcome.kind === 'late', lastError, lastValue)})${explanation}`,
        lastError,
        lastValue,
      );
    }
    await delay(Math.min(intervalMs, left));
  }
}

async function settleBefore<T>(probe: () => T | Promise<T>, msLeft: number): Promise<Settled<T>> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<Settled<T>>((resolve) => {
    timer = setTimeout(() => resolve({ kind: 'late' }), Math.max(0, msLeft));
  });
  // `async () => probe()` turns a synchronous throw into a rejection, so both count as "not yet".
  const attempt = (async () => probe())().then(
    (value): Settled<T> => ({ kind: 'value', value }),
    (error: unknown): Settled<T> => ({ kind: 'error', error }),
  );
  try {
    return await Promise.race([attempt, late]);
  } finally {
    clearTimeout(timer);
  }
}

const EXPLAIN_TIMEOUT_MS = 2_000;

async function explain(source: WaitForOptions['explain']): Promise<string> {
  if (source === undefined) return '';
  const outcome = await settleBefore(source, EXPLAIN_TIMEOUT_MS);
  const text =
    outcome.kind === 'value'
      ? outcome.value
      : outcome.kind === 'error'
        ? `(could not explain: ${errorText(outcome.error)})`
        : '(could not explain: no answer within 2 s)';
  return `\n${text}`;
}

function describeLast(hung: boolean, lastError: unknown, lastValue: unknown): string {
  const parts: string[] = [];
  if (hung) parts.push('the last probe was still running at the deadline');
  if (lastError !== undefined) parts.push(`last error: ${errorText(lastError)}`);
  else if (lastValue !== undefined) parts.push(`last value: ${valueText(lastValue)}`);
  return parts.length > 0 ? `; ${parts.join('; ')}` : '';
}

function errorText(error: unknown): string {
  return error instanceof Error ? `${error.name}: ${error.message}` : valueText(error);
}

function valueText(value: unknown): string {
  if (typeof value === 'string') return JSON.stringify(value);
  try {
    return JSON.stringify(value) ?? String(value);
  } catch {
    return String(value);
  }
}

function delay(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
