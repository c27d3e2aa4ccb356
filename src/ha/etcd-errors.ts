// What a failed etcd round means to an operator: etcd refusing this instance's credentials is
// configuration, not an outage, and says so; anything else is etcd unreachable or without quorum.
// Only etcd's own error text is quoted, never the credentials (etcd does not echo them).
import {
  EtcdAuthenticationFailedError,
  EtcdInvalidAuthTokenError,
  EtcdLeaseInvalidError,
  EtcdPermissionDeniedError,
  GRPCUnauthenticatedError,
} from 'etcd3';

export type EtcdFailureKind = 'auth' | 'lease-lost' | 'unreachable';

function describe(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

export function etcdFailureKind(error: unknown): EtcdFailureKind {
  if (error instanceof EtcdLeaseInvalidError) return 'lease-lost';
  if (
    error instanceof EtcdAuthenticationFailedError ||
    error instanceof EtcdInvalidAuthTokenError ||
    error instanceof EtcdPermissionDeniedError ||
    error instanceof GRPCUnauthenticatedError
  ) {
    return 'auth';
  }
  // The client does not always map etcd's answer to its classes: a prefixed gRPC status
  // ("3 INVALID_ARGUMENT: etcdserver: authentication failed…") comes as a plain Error.
  const message = describe(error);
  if (
    /etcdserver: (authentication failed|permission denied|invalid auth token|user name is empty)/.test(
      message,
    ) ||
    /^16 UNAUTHENTICATED/.test(message)
  ) {
    return 'auth';
  }
  return 'unreachable';
}

/** The status problem for a failed round. */
export function etcdFailureProblem(kind: EtcdFailureKind, error: unknown): string {
  const message = describe(error);
  switch (kind) {
    case 'auth':
      return `etcd authentication failed: check --etcd-user, --etcd-password and that user's role on --etcd-prefix (${message})`;
    case 'lease-lost':
      return `etcd: this instance's lease is gone (${message})`;
    case 'unreachable':
      if (/RESOURCE_EXHAUSTED.*larger than max/s.test(message)) {
        return `an answer from etcd was larger than this client takes (4 MiB): large values under --etcd-prefix that rbuddy never writes (someone with write access put them there); remove them: ${message}`;
      }
      if (/DEADLINE_EXCEEDED|timed out|deadline/i.test(message)) {
        return `etcd calls time out (each is given a fifth of --etcd-lease-ms): etcd unreachable, without quorum, or slower than that; a longer lease tolerates a slower etcd: ${message}`;
      }
      return `etcd unreachable or without quorum: ${message}`;
  }
}
