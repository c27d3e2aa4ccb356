// The vocabulary every layer shares about the replicas rbuddy manages.

/** A configured replica, identified by the address the operator gave. */
export interface ReplicaNode {
  /** "host:port" exactly as configured. */
  id: string;
  host: string;
  port: number;
}
