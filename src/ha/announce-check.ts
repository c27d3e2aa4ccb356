// Whether this instance's --announce reaches this instance (docs/ha.md, "The --announce must reach
// this instance"). A leader tells every replica to REPLICAOF its --announce: one that points at a
// dead port or at another server (a typo, a Service routing elsewhere) would take the replicas
// away from the group's only relay while this instance reported itself healthy. So every instance
// asks its own --announce who answers there (address-check.ts: SENTINEL myid, and INFO's run_id
// so that another process with the same --announce is told apart), over TLS when its listener is
// one, with the listener's own certificate and CA (a Redis replica presents its tls-cert-file on
// its replication link too), about every retry period, and campaigns only while the answer is
// this very process. When the announce does not answer as this instance, this instance's own
// listener is asked the same question: if it answers, the check works and the --announce is
// wrong; if the listener itself refuses the check (a TLS client certificate it does not accept, a
// password) the check cannot speak here, and is skipped, said in status and the log.
//
// A leader whose --announce stops answering as itself keeps leading and reports it (`degraded`):
// a check that times out says little (a loaded host, a flapping network), and stepping down costs
// a takeover. It steps down only when the evidence is definite and lasting: the address answers
// with something that is not this process, or refuses connections, at STEP_DOWN_CHECKS checks in
// a row spanning at least a lease, while its own listener answers — the replicas cannot reach it
// there either. It campaigns again only once its --announce answers as itself, so it cannot take
// the leadership back while the fault lasts.
import type { Logger } from 'pino';
import type { AddressVerdict } from './address-check.js';

export type Transport = 'plain' | 'tls';

/** What one check found over one of this instance's listeners. */
export interface TransportCheck {
  transport: Transport;
  /** The answer at the --announce. */
  announce: AddressVerdict;
  /** The answer at this instance's own listener (asked when the --announce was not this one). */
  own?: AddressVerdict | undefined;
}

export type SelfCheck =
  /** The --announce answers as this process. */
  | { kind: 'self' }
  /** It does not, and this instance's own listener does: the --announce is wrong. */
  | { kind: 'elsewhere'; answered: string; what: AnswerKind; definite: boolean }
  /** The check cannot speak to this instance's own listener: it is skipped, with why. */
  | { kind: 'uncheckable'; why: string }
  /** Neither the --announce nor the own listener answered: nothing concluded. */
  | { kind: 'inconclusive'; why: string };

/** Definite failures in a row, over at least a lease, before a leader steps down. */
export const STEP_DOWN_CHECKS = 3;

/** How often a check that cannot speak here is tried again. */
const UNCHECKABLE_RETRY_MS = 60_000;

/** What answered, in short: what a change of verdict is logged on (not every error text). */
export type AnswerKind =
  | 'this-instance'
  | 'nothing'
  | 'unreadable'
  | 'another-process'
  | 'another-id'
  | 'not-rbuddy'
  | 'at-limit';

/**
 * A refusal a listener sends by design to a client it cannot accept (a client certificate it
 * refuses, a TLS it does not speak): the check cannot be made there, however long one waits.
 */
function refusedByDesign(verdict: AddressVerdict | undefined): boolean {
  return verdict?.kind === 'foreign' && /client certificate refused|^TLS: /.test(verdict.why);
}

/**
 * A server at a limit of its own (--max-clients reached, AUTH throttled): load — the same answer
 * this very instance gives when it is full — never evidence of what listens there.
 */
function atLimit(verdict: AddressVerdict | undefined): boolean {
  return (
    verdict?.kind === 'foreign' &&
    /max number of clients|too many (connections|clients)|throttl/i.test(verdict.why)
  );
}

export function answerKind(verdict: AddressVerdict, ownId: string): AnswerKind {
  switch (verdict.kind) {
    case 'instance':
      return 'this-instance';
    case 'gone':
      return 'nothing';
    case 'unknown':
      return 'unreadable';
    case 'foreign':
      if (atLimit(verdict)) return 'at-limit';
      if (verdict.id === ownId) return 'another-process';
      return verdict.id === undefined ? 'not-rbuddy' : 'another-id';
  }
}

/** What answered instead of this instance, in words. */
export function describeAnswer(verdict: AddressVerdict, ownId: string): string {
  const why = verdict.kind === 'instance' ? '' : verdict.why;
  switch (answerKind(verdict, ownId)) {
    case 'this-instance':
      return 'this instance answers there';
    case 'nothing':
      return `nothing answers there (${why})`;
    case 'unreadable':
      return `no answer could be read there (${why})`;
    case 'another-process':
      return `another process with this instance's --announce answers there (${why})`;
    case 'another-id':
      return `another id answers there (SENTINEL myid ${verdict.kind === 'foreign' ? verdict.id : ''}; this instance's is ${ownId})`;
    case 'not-rbuddy':
      return `something that is not an rbuddy of this group answers there (${why})`;
    case 'at-limit':
      return `the server there refuses connections at a limit of its own (${why}): load, not evidence`;
  }
}

/**
 * Nothing or something else answering at once: evidence, unlike a timeout, a closed link, a
 * server at its limit, or a refusal this instance's own listener gives too.
 */
function definite(verdict: AddressVerdict): boolean {
  if (verdict.kind === 'gone') return verdict.refused === true;
  return verdict.kind === 'foreign' && !atLimit(verdict) && !refusedByDesign(verdict);
}

/**
 * One check's outcome from what each transport found. Skipped (`uncheckable`) only when a
 * listener of this instance refuses the check by design and nothing at the --announce is
 * evidence against it (the --announce may be that listener); an --announce that refuses
 * connections, or answers as another server, is never overridden by a skip, and a listener
 * refusing at a limit (full) skips nothing: that is inconclusive, asked again at the next check.
 */
export function selfCheckOf(checks: readonly TransportCheck[], ownId: string): SelfCheck {
  if (checks.some((check) => check.announce.kind === 'instance')) return { kind: 'self' };
  const working = checks.find((check) => check.own?.kind === 'instance');
  const evidence = checks.find((check) => definite(check.announce));
  const own = checks.map((check) => `${check.transport}: ${describeOwn(check.own, ownId)}`);
  const blocked = checks.filter((check) => refusedByDesign(check.own));
  if (blocked.length > 0 && evidence === undefined) {
    const why = blocked.map((check) => `${check.transport}: ${describeOwn(check.own, ownId)}`);
    return {
      kind: 'uncheckable',
      why: `this instance's own listener does not answer the check as this instance (${why.join('; ')})`,
    };
  }
  if (working !== undefined) {
    const shown = evidence ?? working;
    return {
      kind: 'elsewhere',
      answered: describeAnswer(shown.announce, ownId),
      what: answerKind(shown.announce, ownId),
      definite: evidence !== undefined,
    };
  }
  const answered = checks.map((check) => describeAnswer(check.announce, ownId));
  return {
    kind: 'inconclusive',
    why: `${answered.join('; ')}; this instance's own listener did not answer either (${own.join('; ')})`,
  };
}

function describeOwn(verdict: AddressVerdict | undefined, ownId: string): string {
  if (verdict === undefined) return 'not asked';
  return verdict.kind === 'foreign' ? verdict.why : describeAnswer(verdict, ownId);
}

/** The checks so far, as the gate needs them. */
export interface CheckHistory {
  latest: SelfCheck | undefined;
  /** Definite failures in a row (a success ends the run; a timeout neither counts nor ends it). */
  definite: number;
  /** When the first of them was found (monotonic ms). */
  definiteSince: number | undefined;
  /**
   * The last conclusive check found this instance at its --announce: checks with no evidence
   * since (timeouts, a listener full at --max-clients) leave that standing. Before, a stranger
   * who filled a follower's listener kept it from ever campaigning: kill the leader then, and no
   * instance led for as long as the flood lasted (reviewer round 5, F1).
   */
  verified: boolean;
}

export const NO_CHECKS: CheckHistory = {
  latest: undefined,
  definite: 0,
  definiteSince: undefined,
  verified: false,
};

/** A check that is evidence against the --announce (refused, or another server answering). */
function isEvidence(check: SelfCheck): boolean {
  return check.kind === 'elsewhere' && check.definite;
}

export function withCheck(history: CheckHistory, check: SelfCheck, now: number): CheckHistory {
  if (isEvidence(check)) {
    const first = history.definite === 0;
    return {
      latest: check,
      definite: history.definite + 1,
      definiteSince: first ? now : history.definiteSince,
      verified: false,
    };
  }
  if (check.kind === 'elsewhere' || check.kind === 'inconclusive') {
    return { ...history, latest: check };
  }
  return {
    latest: check,
    definite: 0,
    definiteSince: undefined,
    verified: check.kind === 'self' || history.verified,
  };
}

export interface GateVerdict {
  /** This instance may campaign (or, leading, keep the leadership). */
  campaign: boolean;
  /** Why it is degraded on account of its --announce; null when it is not. */
  problem: string | null;
}

/** What the checks so far allow, for an instance that leads or not. */
export function gate(
  history: CheckHistory,
  options: { announce: string; leading: boolean; now: number; leaseMs: number },
): GateVerdict {
  const latest = history.latest;
  // Not checked yet (the listeners are not open): no campaign, nothing to report yet.
  if (latest === undefined) return { campaign: options.leading, problem: null };
  if (latest.kind === 'self' || latest.kind === 'uncheckable') {
    return { campaign: true, problem: null };
  }
  // No evidence since it was found there: load or a slow network, not a wrong --announce.
  if (history.verified && !isEvidence(latest)) return { campaign: true, problem: null };
  const what =
    latest.kind === 'elsewhere'
      ? latest.answered
      : `the check could not be completed: ${latest.why}`;
  const problem = `--announce ${options.announce} does not reach this instance: ${what}`;
  if (!options.leading) {
    return {
      campaign: false,
      problem: `${problem}; not campaigning until it does (a leader's replicas REPLICAOF its --announce: docs/ha.md)`,
    };
  }
  const since = history.definiteSince;
  const lasting =
    history.definite >= STEP_DOWN_CHECKS &&
    since !== undefined &&
    options.now - since >= options.leaseMs;
  if (lasting) {
    return {
      campaign: false,
      problem: `${problem}; stepped down: the replicas cannot reach this leader there (${history.definite} checks over ${Math.round(options.now - since)} ms)`,
    };
  }
  return {
    campaign: true,
    problem: `${problem}; still leading (it steps down if it lasts: docs/ha.md)`,
  };
}

/** /v1/status `announceCheck`. */
export interface AnnounceCheckStatus {
  announce: string;
  /**
   * `pending`: not checked yet; `skipped`: the check cannot speak here (`detail` says why); `off`:
   * --announce-check no.
   */
  state: 'pending' | 'verified' | 'failing' | 'skipped' | 'off';
  /**
   * What answered instead of this instance, or why the check is skipped; for `verified`, why the
   * last check found no evidence (a timeout, a listener at --max-clients) if it did not; null
   * otherwise.
   */
  detail: string | null;
  /** When the last check ended (ISO). */
  checkedAt: string | null;
}

export interface AnnounceCheckOptions {
  announce: string;
  /** This instance's SENTINEL myid (what an answer as this instance gives). */
  ownId: string;
  /** This instance's listeners as bound, in the order to try them (TLS first). */
  listeners: () => ReadonlyArray<{ transport: Transport; address: string }>;
  /** Who answers at `address` over `transport`; never throws, has its own timeouts. */
  ask: (address: string, transport: Transport) => Promise<AddressVerdict>;
  intervalMs: number;
  leaseMs: number;
  logger: Logger;
  /** Monotonic milliseconds; tests may inject one. Default performance.now(). */
  now?: () => number;
}

export class AnnounceCheck {
  private history: CheckHistory = NO_CHECKS;
  private checkedAt: Date | undefined;
  private timer: NodeJS.Timeout | undefined;
  private stopped = false;
  private started = false;
  /** The last state logged: a verdict is logged when it changes, not at every check. */
  private logged: string | undefined;
  private readonly log: Logger;
  private readonly now: () => number;

  constructor(private readonly options: AnnounceCheckOptions) {
    this.log = options.logger.child({ component: 'announce-check' });
    this.now = options.now ?? (() => performance.now());
  }

  /** The listeners are open: checks begin, one after the other, every interval. */
  start(): void {
    if (this.started || this.stopped) return;
    this.started = true;
    this.schedule(0);
  }

  /**
   * No check starts from now on. One under way is not waited for: against a silent address it
   * may take its connect and command timeouts, and shutting down must not.
   */
  stop(): Promise<void> {
    this.stopped = true;
    clearTimeout(this.timer);
    return Promise.resolve();
  }

  verdict(leading: boolean): GateVerdict {
    return gate(this.history, {
      announce: this.options.announce,
      leading,
      now: this.now(),
      leaseMs: this.options.leaseMs,
    });
  }

  status(): AnnounceCheckStatus {
    const latest = this.history.latest;
    const checkedAt = this.checkedAt?.toISOString() ?? null;
    const announce = this.options.announce;
    switch (latest?.kind) {
      case undefined:
        return { announce, state: 'pending', detail: null, checkedAt };
      case 'self':
        return { announce, state: 'verified', detail: null, checkedAt };
      case 'uncheckable':
        return { announce, state: 'skipped', detail: latest.why, checkedAt };
      case 'elsewhere':
      case 'inconclusive': {
        const what = latest.kind === 'elsewhere' ? latest.answered : latest.why;
        if (this.history.verified && !isEvidence(latest)) {
          const detail = `the last check found no evidence (${what}); the last conclusive one found this instance there`;
          return { announce, state: 'verified', detail, checkedAt };
        }
        return { announce, state: 'failing', detail: what, checkedAt };
      }
    }
  }

  /** One check now (tests; the loop calls it too). */
  async checkOnce(): Promise<SelfCheck> {
    const checks: TransportCheck[] = [];
    const listeners = this.options.listeners();
    for (const { transport } of listeners) {
      checks.push({
        transport,
        announce: await this.options.ask(this.options.announce, transport),
      });
      if (checks.at(-1)?.announce.kind === 'instance') break;
    }
    if (!checks.some((check) => check.announce.kind === 'instance')) {
      for (const [index, { transport, address }] of listeners.entries()) {
        const check = checks[index];
        if (check !== undefined) check.own = await this.options.ask(address, transport);
      }
    }
    const outcome = selfCheckOf(checks, this.options.ownId);
    this.history = withCheck(this.history, outcome, this.now());
    this.checkedAt = new Date();
    this.report(outcome);
    return outcome;
  }

  private schedule(delayMs: number): void {
    if (this.stopped) return;
    this.timer = setTimeout(() => {
      void this.checkOnce()
        .then(() => undefined)
        .catch((error: unknown) => this.log.debug({ err: error }, 'announce check failed'))
        .finally(() => this.schedule(this.nextDelay()));
    }, delayMs);
  }

  /**
   * Skipped, it is tried again only every UNCHECKABLE_RETRY_MS: each attempt is a refusal its own
   * listener logs, and only a change of material (a reload) or of configuration can change it.
   */
  private nextDelay(): number {
    const skipped = this.history.latest?.kind === 'uncheckable';
    return skipped
      ? Math.max(this.options.intervalMs, UNCHECKABLE_RETRY_MS)
      : this.options.intervalMs;
  }

  private report(outcome: SelfCheck): void {
    const { detail } = this.status();
    // By what answered, not its exact words: a reset seen at connect or at the first read is one
    // fault (no answer), logged once.
    const what = outcome.kind === 'elsewhere' ? outcome.what : '';
    const key = `${outcome.kind}:${what === 'unreadable' ? 'nothing' : what}`;
    if (key === this.logged) return;
    this.logged = key;
    const announce = this.options.announce;
    if (outcome.kind === 'self') {
      this.log.info({ announce }, '--announce reaches this instance');
    } else if (outcome.kind === 'uncheckable') {
      this.log.warn(
        { announce, why: outcome.why },
        '--announce not checked: the check cannot speak to this instance (see docs/ha.md)',
      );
    } else {
      this.log.error(
        { announce, answered: detail },
        `--announce ${announce} does not reach this instance: ${detail ?? ''}`,
      );
    }
  }
}

/**
 * --announce-check no: never checked, never in the way of a campaign; said in status and, once, in
 * the log (a wrong --announce then takes the replicas away from the group's relay).
 */
export class AnnounceCheckOff {
  constructor(
    private readonly announce: string,
    private readonly logger: Logger,
  ) {}

  start(): void {
    this.logger.warn(
      { component: 'announce-check', announce: this.announce },
      '--announce not checked (--announce-check no): make sure the replicas reach this instance there',
    );
  }

  stop(): Promise<void> {
    return Promise.resolve();
  }

  verdict(): GateVerdict {
    return { campaign: true, problem: null };
  }

  status(): AnnounceCheckStatus {
    return {
      announce: this.announce,
      state: 'off',
      detail: 'not checked: --announce-check no',
      checkedAt: null,
    };
  }
}
