// Whether a certificate is inside its validity period. Peers check it (OpenSSL's
// X509_V_ERR_CERT_HAS_EXPIRED / _NOT_YET_VALID), so a certificate outside its period is one that
// every handshake would refuse: rbuddy refuses to serve it rather than look healthy while failing.

import type { X509Certificate } from 'node:crypto';

export type Validity =
  | { state: 'valid'; notBefore: Date; notAfter: Date }
  | { state: 'expired'; notBefore: Date; notAfter: Date }
  | { state: 'not-yet-valid'; notBefore: Date; notAfter: Date };

/**
 * The validity of `cert` at `now`. A notBefore up to `clockSkewMs` in the future counts as
 * valid: an issuer stamps notBefore with its own clock at issue time (cert-manager does), so a
 * certificate picked up the instant it is written can look a few seconds early on a host whose
 * clock is slightly behind, and refusing it would keep the old certificate until the next change.
 */
export function certificateValidity(
  cert: Pick<X509Certificate, 'validFrom' | 'validTo'>,
  now: Date,
  clockSkewMs = 0,
): Validity {
  const notBefore = parseCertificateDate(cert.validFrom);
  const notAfter = parseCertificateDate(cert.validTo);
  if (now.getTime() > notAfter.getTime()) return { state: 'expired', notBefore, notAfter };
  if (now.getTime() + clockSkewMs < notBefore.getTime()) {
    return { state: 'not-yet-valid', notBefore, notAfter };
  }
  return { state: 'valid', notBefore, notAfter };
}

/** OpenSSL's `Jan  1 00:00:00 2030 GMT` form, as X509Certificate#validFrom gives it. */
export function parseCertificateDate(text: string): Date {
  const date = new Date(text);
  if (Number.isNaN(date.getTime())) throw new Error(`unreadable certificate date ${text}`);
  return date;
}
