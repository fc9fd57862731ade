import { AttestationVerificationError } from './verification-errors.js'

/* Refused EK certificate chains (exit code 1), under one base class to catch them all. */

/** Base of EK certificate refusals; catch it to handle any of them. */
export class EkCertificateError extends AttestationVerificationError {}

/** Thrown when no certificate of the trust store issued (and validly signed) a certificate of the chain. */
export class EkCertificateUntrustedError extends EkCertificateError {
  readonly subject: string
  readonly issuer: string
  constructor(subject: string, issuer: string) {
    super(`EK certificate refused: no trusted issuer for "${subject}" (issuer "${issuer}")`, {
      code: 'ERR_EK_CERTIFICATE_UNTRUSTED'
    })
    this.subject = subject
    this.issuer = issuer
  }
}

/** Thrown when a certificate of the chain has expired at the verification time. */
export class EkCertificateExpiredError extends EkCertificateError {
  readonly subject: string
  readonly validTo: string
  readonly now: string
  constructor(subject: string, validTo: string, now: Date) {
    super(`EK certificate refused: "${subject}" expired ${validTo}`, { code: 'ERR_EK_CERTIFICATE_EXPIRED' })
    this.subject = subject
    this.validTo = validTo
    this.now = now.toISOString()
  }
}

/** Thrown when a certificate of the chain is not valid yet at the verification time. */
export class EkCertificateNotYetValidError extends EkCertificateError {
  readonly subject: string
  readonly validFrom: string
  readonly now: string
  constructor(subject: string, validFrom: string, now: Date) {
    super(`EK certificate refused: "${subject}" is not valid before ${validFrom}`, {
      code: 'ERR_EK_CERTIFICATE_NOT_YET_VALID'
    })
    this.subject = subject
    this.validFrom = validFrom
    this.now = now.toISOString()
  }
}

/** Thrown when the certificate that signed another one is not a CA (basicConstraints CA:TRUE). */
export class EkCertificateIssuerNotCaError extends EkCertificateError {
  readonly issuer: string
  constructor(issuer: string) {
    super(`EK certificate refused: its issuer "${issuer}" is not a CA certificate`, {
      code: 'ERR_EK_CERTIFICATE_ISSUER_NOT_CA'
    })
    this.issuer = issuer
  }
}

/** Thrown when the EK certificate certifies another public key than the TPM's EK. */
export class EkCertificateKeyMismatchError extends EkCertificateError {
  readonly expected: string
  readonly actual: string
  constructor(expected: string, actual: string) {
    super(`EK certificate refused: it certifies key ${actual}, not this TPM's EK ${expected} (SHA-256 of the SPKI)`, {
      code: 'ERR_EK_CERTIFICATE_KEY_MISMATCH'
    })
    this.expected = expected
    this.actual = actual
  }
}

/**
 * Thrown when the EK certificate breaks a rule of the TCG EK Credential Profile that every EK
 * certificate keeps: it is a CA, its keyUsage does not allow keyEncipherment (RSA) or
 * keyAgreement (ECC), its extendedKeyUsage leaves out tcg-kp-EKCertificate, or its
 * subjectAltName has no TPM manufacturer, model and version.
 */
export class EkCertificateProfileError extends EkCertificateError {
  readonly subject: string
  readonly rule: string
  constructor(subject: string, rule: string) {
    super(`EK certificate refused: "${subject}" ${rule}`, { code: 'ERR_EK_CERTIFICATE_PROFILE' })
    this.subject = subject
    this.rule = rule
  }
}

/** Thrown when the chain does not reach a self-signed root of the trust store within the length cap. */
export class EkCertificateChainTooLongError extends EkCertificateError {
  readonly max: number
  constructor(max: number) {
    super(`EK certificate refused: no root within ${max} certificates`, { code: 'ERR_EK_CERTIFICATE_CHAIN_TOO_LONG' })
    this.max = max
  }
}
