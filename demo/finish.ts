// The ways out of a demo run: whatever ends it (the story done, a failure, a signal), stop what
// this run started and only that, check it is gone, say why it failed, print the verdict, exit.
import { existsSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { isPidAlive, terminate } from '../harness/processes.js';
import { stopAllRedis } from '../harness/redis-server.js';
import {
  check,
  checks,
  owned,
  rbuddiesForLogs,
  rbuddyForDiagnostics,
  t0,
  term,
} from './run-state.js';
import { seconds } from './terminal.js';
import { message } from './texts.js';

let finishing: Promise<never> | undefined;

/** Whether a way out has been taken (a second signal then stops waiting). */
export function isFinishing(): boolean {
  return finishing !== undefined;
}

export type Outcome =
  | { kind: 'done' }
  | { kind: 'failed'; reason: string }
  | { kind: 'interrupted'; signal: NodeJS.Signals; code: number };

/** Stops what this run started (and only that), checks it is gone, prints the verdict, exits. */
export function finish(outcome: Outcome): Promise<never> {
  finishing ??= (async () => {
    try {
      await owned.monitor?.stop();
    } catch {
      // The timeline is cosmetic; cleanup must go on.
    }
    if (outcome.kind === 'interrupted') {
      term.line();
      term.line(term.paint('yellow', `${outcome.signal}: stopping everything this demo started`));
    }
    if (outcome.kind === 'failed') {
      term.line();
      term.line(term.paint('red', `FAILED: ${outcome.reason}`));
      diagnose();
    }
    if (
      outcome.kind !== 'interrupted' &&
      (outcome.kind === 'failed' || checks.some((c) => !c.ok))
    ) {
      const kept = keepLogs();
      if (kept !== undefined) term.line(term.paint('yellow', `logs of this run kept in ${kept}`));
    }
    term.line();
    term.line(term.paint('dim', 'cleaning up: reader, writer, rbuddy, redis-servers, temp dirs'));
    const cleanupProblems = await cleanup();
    if (cleanupProblems.length === 0) {
      const processes = owned.pids.map((p) => `${p.what} (pid ${p.pid})`).join(', ');
      check(true, `cleanup: ${processes || 'no process started'} gone; temp dirs removed`);
    } else {
      for (const problem of cleanupProblems) check(false, `cleanup: ${problem}`);
    }
    const failed = checks.filter((c) => !c.ok);
    const total = seconds(Date.now() - t0);
    term.line();
    if (outcome.kind === 'interrupted') {
      term.line(term.paint('yellow', `INTERRUPTED (${total}): the demo did not finish`));
      process.exit(outcome.code);
    }
    if (outcome.kind === 'done' && failed.length === 0) {
      term.line(term.paint('green', `PASS: all ${checks.length} checks held (${total}).`));
      process.exit(0);
    }
    const why = outcome.kind === 'failed' ? outcome.reason : failed.map((c) => c.text).join('; ');
    term.line(term.paint('red', `FAIL (${total}): ${why}`));
    process.exit(1);
  })();
  return finishing;
}

/** After a failure: the last words of every process involved, to see why. */
function diagnose(): void {
  const show = (title: string, text: string): void => {
    if (text.trim() === '') return;
    term.line(term.paint('dim', title));
    for (const line of text.trimEnd().split('\n')) {
      const cut = line.length > 240 ? `${line.slice(0, 240)}…` : line;
      term.line(term.paint('dim', `    ${cut}`));
    }
  };
  const rbuddy = rbuddyForDiagnostics();
  if (rbuddy !== undefined) {
    const logs = rbuddy
      .logs()
      .slice(-15)
      .map((line) => JSON.stringify(line))
      .join('\n');
    show("  rbuddy's last log lines:", logs);
    show("  rbuddy's stderr:", rbuddy.stderr().split('\n').slice(-5).join('\n'));
  }
  for (const server of owned.servers) show(`  ${server.name}'s log:`, server.logTail(6));
}

/** After a failure: rbuddy's whole log and the Redis logs, in one file that outlives the run. */
function keepLogs(): string | undefined {
  const parts: string[] = [];
  for (const rbuddy of rbuddiesForLogs()) {
    const who = `rbuddy (pid ${String(rbuddy.child.pid)})`;
    parts.push(`# ${who} log (JSON lines)`, ...rbuddy.logs().map((line) => JSON.stringify(line)));
    parts.push(`# ${who} stderr`, rbuddy.stderr());
  }
  for (const server of owned.servers) parts.push(`# ${server.name} log`, server.logTail(500));
  const file = join(tmpdir(), `rbuddy-demo-${process.pid}.log`);
  try {
    writeFileSync(file, `${parts.join('\n')}\n`);
    return file;
  } catch {
    return undefined;
  }
}

async function cleanup(): Promise<string[]> {
  const problems: string[] = [];
  const reader = owned.reader;
  owned.reader = undefined;
  if (reader !== undefined)
    await Promise.race([reader.stop().catch(() => undefined), sleep(3_000)]);
  const writer = owned.writer;
  owned.writer = undefined;
  // A writer whose server is gone fails its batch and stops; never wait on it for long.
  if (writer !== undefined) await Promise.race([writer.stop().catch(() => 0), sleep(3_000)]);
  const rbuddy = owned.rbuddy;
  owned.rbuddy = undefined;
  const group = owned.group;
  owned.group = [];
  for (const instance of [rbuddy, ...group]) {
    if (instance === undefined) continue;
    await terminate(instance.child, 5_000).catch((error: unknown) => {
      problems.push(`rbuddy: ${message(error)}`);
    });
  }
  const etcd = owned.etcd;
  owned.etcd = undefined;
  // close() ends the members by their own PIDs and removes their data dirs.
  await etcd?.close().catch((error: unknown) => {
    problems.push(`etcd: ${message(error)}`);
  });
  // stopAllRedis stops only the servers startRedis started here, by their own PIDs.
  await stopAllRedis().catch((error: unknown) => {
    problems.push(message(error));
  });
  for (const dir of owned.dirs) rmSync(dir, { recursive: true, force: true });
  for (const { what, pid } of owned.pids) {
    if (pid > 0 && isPidAlive(pid)) problems.push(`${what} (pid ${pid}) is still running`);
  }
  for (const dir of [...owned.dirs, ...owned.servers.map((s) => s.dir)]) {
    if (existsSync(dir)) problems.push(`${dir} still exists`);
  }
  return problems;
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
