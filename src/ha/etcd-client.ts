// The one etcd client of an instance, built from the configuration: endpoints, credentials, TLS,
// and a deadline on every attempt (nothing waits forever on an etcd that does not answer).
//
// One member down, restarting or hung while the others keep the quorum is no outage
// (docs/ha.md, "Failure modes"), so a call that fails for want of that member is tried on
// another one at once. etcd3 (1.1.2) picks a member at random for each call and, once the call
// went through, does not try another itself: that is its global policy's job (retry, our
// retryOnAnotherMember), and each retry takes the next member of the call's shuffled list. The
// per-member circuit breaker sets aside a member that failed, for a short while, so that a hung
// member (SIGSTOP: the connection stays open, nothing answers, no RST) costs one attempt's
// timeout now and then, not every call that picks it.
//
// A retried write may already have been applied by the member that did not answer in time (a
// member may even apply it later, when it wakes up). Every write through this client is safe to
// apply twice: the puts under a lease write the same value again; the leader's transactions
// compare the leader key only, which none of them changes: a retry succeeds while this instance
// leads, and fails when it no longer does — then the first attempt may have landed while it still
// led, as any write that got no answer may have (leader-guard.ts); the campaign reads its own key
// back (etcd-coordination.ts) and an outbox entry reads back whether the key it found taken holds
// its own event (etcd-outbox.ts). A new write that compares what it writes must do the same.
import { readFileSync } from 'node:fs';
import { rootCertificates } from 'node:tls';
import {
  BrokenCircuitError,
  circuitBreaker,
  CircuitState,
  ConsecutiveBreaker,
  handleWhen,
  retry,
  type CircuitBreakerPolicy,
  type IDefaultPolicyContext,
  type IPolicy,
} from 'cockatiel';
import { Etcd3, GRPCResourceExhastedError, isRecoverableError, type IOptions } from 'etcd3';
import type { EtcdConfig } from '../config/types.js';
import { ConfigError, EtcdUnavailableError } from '../errors.js';

/**
 * Whether a failed call may succeed on another member: the member was unreachable, did not answer
 * in time, or had no leader (gRPC UNAVAILABLE, DEADLINE_EXCEEDED, …: etcd3's recoverable errors),
 * or one of our own deadlines ran out. Not a refusal (credentials, permissions, a lost lease):
 * every member would say the same.
 */
export function retryOnAnotherMember(error: unknown): boolean {
  // RESOURCE_EXHAUSTED (an answer past the client's 4 MiB message limit, etcd's space quota) is
  // etcd3's "recoverable", but every member says the same: counted by the member's breaker, junk
  // under the prefix set aside every member and failed unrelated calls (reviewer round 7, R7-2).
  if (error instanceof GRPCResourceExhastedError || /RESOURCE_EXHAUSTED/.test(String(error))) {
    return false;
  }
  return (
    error instanceof EtcdUnavailableError || (error instanceof Error && isRecoverableError(error))
  );
}

/**
 * A member's circuit breaker that never makes a call wait. cockatiel's, while half-open, holds every
 * other call until its one test call is answered; and etcd3, when a member refuses the auth token
 * (a restarted member has forgotten the tokens), makes the call again from inside the test, which
 * can pick the same member and wait for itself: forever, and every later call that picks the
 * member with it (seen: every round of an instance hung after an etcd member restarted, with
 * authentication). A half-open member is passed over like an open one: the call goes to the next.
 */
class MemberBreaker implements IPolicy<IDefaultPolicyContext> {
  declare readonly _altReturn: never;
  private readonly breaker: CircuitBreakerPolicy;

  constructor(cooldownMs: number) {
    this.breaker = circuitBreaker(handleWhen(retryOnAnotherMember), {
      halfOpenAfter: cooldownMs,
      breaker: new ConsecutiveBreaker(1),
    });
  }

  get onSuccess(): CircuitBreakerPolicy['onSuccess'] {
    return this.breaker.onSuccess;
  }

  get onFailure(): CircuitBreakerPolicy['onFailure'] {
    return this.breaker.onFailure;
  }

  execute<T>(
    fn: (context: IDefaultPolicyContext) => PromiseLike<T> | T,
    signal?: AbortSignal,
  ): Promise<T> {
    if (this.breaker.state === CircuitState.HalfOpen) {
      return Promise.reject(
        new BrokenCircuitError('etcd member set aside: its test call is on its way'),
      );
    }
    return this.breaker.execute(fn, signal);
  }
}

function readPem(path: string, key: keyof EtcdConfig): Buffer {
  try {
    return readFileSync(path);
  } catch (error) {
    const message = error instanceof Error ? error.message : String(error);
    throw new ConfigError(`cannot read ${key} ${path}: ${message}`, key, { cause: error });
  }
}

/**
 * The etcd3 options for `config`: each attempt of a call (not streams: the caller bounds those)
 * times out after `callTimeoutMs`; a call is tried once on each member at most.
 */
export function etcdClientOptions(config: EtcdConfig, callTimeoutMs: number): IOptions {
  const options: IOptions = {
    hosts: [...config.etcd],
    dialTimeout: callTimeoutMs,
    // Asked again for each attempt: every member gets the whole timeout.
    defaultCallOptions: (context) =>
      context.isStream ? {} : { deadline: Date.now() + callTimeoutMs },
    faultHandling: {
      // One failure sets a member aside; after a call's timeout, one call tries it again while
      // the others go elsewhere. Short: a member that was only waiting for etcd's new leader is
      // needed again as soon as there is one.
      host: () => new MemberBreaker(callTimeoutMs),
      global: retry(handleWhen(retryOnAnotherMember), {
        maxAttempts: Math.max(0, config.etcd.length - 1),
      }),
    },
  };
  if (config.etcdUser !== '') {
    options.auth = { username: config.etcdUser, password: config.etcdPassword };
  }
  if (config.etcdTlsCaCertFile !== '' || config.etcdTlsCertFile !== '') {
    options.credentials = {
      rootCertificate:
        // A client certificate without a CA: the CAs Node.js trusts (grpc needs them given).
        config.etcdTlsCaCertFile === ''
          ? Buffer.from(rootCertificates.join('\n'))
          : readPem(config.etcdTlsCaCertFile, 'etcdTlsCaCertFile'),
      ...(config.etcdTlsCertFile === ''
        ? {}
        : {
            certChain: readPem(config.etcdTlsCertFile, 'etcdTlsCertFile'),
            privateKey: readPem(config.etcdTlsKeyFile, 'etcdTlsKeyFile'),
          }),
    };
  }
  return options;
}

export function createEtcdClient(config: EtcdConfig, callTimeoutMs: number): Etcd3 {
  return new Etcd3(etcdClientOptions(config, callTimeoutMs));
}

/**
 * Settles with `promise`, or rejects after `ms`: for the calls the client gives no deadline
 * (streams such as a lease keepalive), so that no step of the coordination can hang.
 */
export function withDeadline<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(
      () => reject(new EtcdUnavailableError(`${what}: no answer within ${ms} ms`)),
      ms,
    );
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}
