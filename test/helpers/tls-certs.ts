// The throwaway PKI lives in harness/ (the bench makes one per run too); tests import it here.
export * from '../../harness/tls-certs.js';
