/**
 * An actor's FIDO2 security key as the owner enrols it: the CLI serves the enrolment page on
 * 127.0.0.1 (http://localhost:PORT/enrol, RP ID `localhost`, the only name browsers run WebAuthn
 * on over plain http), the actor opens it in a browser on the same machine and creates a
 * credential, and the server verifies it, attestation policy included, before the CLI hears of it.
 */
import { UsageError, type FleetError } from '../common/index.js'
import {
  AlreadyInProgressError,
  HostRefusedError,
  NotPendingError,
  RequestOriginRefusedError,
  RequestTooLargeError,
  UnsupportedMediaTypeError,
  startApprovalServer,
  type AttestationPolicy,
  type EnrolledCredential,
  type PendingEnrolment
} from '../webauthn/index.js'
import { ActorEnrolmentTimeoutError } from './errors.js'

/** The RP ID of every credential enrolled here: the loopback page's. */
export const ENROLMENT_RP_ID = 'localhost'

const ENROLMENT_ID = 'actor-enrolment'
const ENROL_PATH = '/api/enrol'
const HARDWARE_MAX = 256

/** Refusals of requests that were not the page's answer at all: they do not end the wait. */
const NOT_AN_ANSWER = [
  HostRefusedError,
  RequestOriginRefusedError,
  UnsupportedMediaTypeError,
  RequestTooLargeError,
  NotPendingError,
  AlreadyInProgressError
]

export interface WebAuthnEnrolmentInit {
  readonly actorId: string
  /** Port on 127.0.0.1; 0 picks a free one. */
  readonly port: number
  readonly allow: AttestationPolicy
  /** Fresh random bytes (16 to 64) for this enrolment. */
  readonly challenge: Uint8Array
  /** The actor's credential enrolled now, if any: the same key is not enrolled again. */
  readonly excludeCredentialIds: readonly Uint8Array[]
  /** How long to wait for the actor, seconds. */
  readonly waitSeconds: number
}

/** A running enrolment page. */
export interface WebAuthnEnrolment {
  /** The page to open: http://localhost:PORT/enrol. */
  readonly url: string
  /**
   * The verified credential, once the page's answer passed every check. Rejects with the refusal
   * of the first answer refused (a policy refusal names the attestation or the model), or with
   * ActorEnrolmentTimeoutError when no answer came in time.
   */
  readonly credential: Promise<EnrolledCredential>
  /** Stops the page and the wait; idempotent. */
  close(): Promise<void>
}

/**
 * Starts the page for one enrolment of `actorId`. It stays up until close(), so that the page's
 * answer is delivered whatever the caller does next; after the one enrolment nothing is pending.
 */
export async function startWebAuthnEnrolment(init: WebAuthnEnrolmentInit): Promise<WebAuthnEnrolment> {
  let resolve!: (credential: EnrolledCredential) => void
  let reject!: (error: FleetError) => void
  const credential = new Promise<EnrolledCredential>((yes, no) => {
    resolve = yes
    reject = no
  })
  // Settled before the caller awaits it (a refusal, the timeout): not an unhandled rejection.
  credential.catch(() => undefined)
  let pending: PendingEnrolment[] = [
    {
      id: ENROLMENT_ID,
      actorId: init.actorId,
      challenge: init.challenge,
      excludeCredentialIds: init.excludeCredentialIds
    }
  ]
  const server = await startApprovalServer({
    port: init.port,
    rpId: ENROLMENT_RP_ID,
    pending: () => [],
    onAssertion: () => undefined,
    // Told before the page's answer is written: settled a turn later, so that closing the
    // server then does not cut the answer off.
    onRefusal: ({ error, path }) => {
      if (path === ENROL_PATH && !NOT_AN_ANSWER.some((kind) => error instanceof kind)) setImmediate(reject, error)
    },
    enrolment: {
      pending: () => pending,
      allow: init.allow,
      onEnrolment: (_enrolment, enrolled) => {
        pending = []
        setImmediate(resolve, enrolled)
      }
    }
  })
  const timer = setTimeout(() => {
    reject(new ActorEnrolmentTimeoutError(init.actorId, server.enrolUrl, init.waitSeconds))
  }, init.waitSeconds * 1000)
  return {
    url: server.enrolUrl,
    credential,
    close: async () => {
      clearTimeout(timer)
      await server.close()
    }
  }
}

/** The body of the owner's actor.enrol statement for a security key enrolled on the page. */
export function webAuthnEnrolBody(actorId: string, role: string, enrolled: EnrolledCredential) {
  return {
    actorId,
    role,
    kind: 'webauthn' as const,
    publicKey: enrolled.publicKey,
    credentialId: enrolled.credentialId,
    rpId: ENROLMENT_RP_ID,
    evidence: enrolled.attestationObject,
    hardware: credentialHardware(enrolled)
  }
}

/** The authenticator in words, for actor.enrol's `hardware` (at most 256 characters). */
export function credentialHardware(enrolled: EnrolledCredential): string {
  const proof = enrolled.attestation.trusted
    ? 'its chain verified to a named root'
    : enrolled.attestation.x5c === undefined
      ? 'unproven'
      : 'its chain not verified to any root'
  const transports = enrolled.transports.length === 0 ? 'not stated' : enrolled.transports.join(', ')
  const words =
    `FIDO2 authenticator, AAGUID ${enrolled.aaguid}${enrolled.attestation.trusted ? '' : ' (claimed)'}, ` +
    `attestation format ${enrolled.fmt} (${proof}), transports ${transports}, ` +
    `user verification ${enrolled.userVerified ? 'done' : 'not done'}`
  return words.slice(0, HARDWARE_MAX)
}

const AAGUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i

/** --port: 0 (a free one) to 65535. */
export function parsePort(text: string | undefined): number {
  if (text === undefined) return 0
  if (!/^\d{1,5}$/.test(text) || Number(text) > 65535) throw new UsageError('--port must be 0..65535')
  return Number(text)
}

/** --aaguid: an authenticator model's AAGUID, lower-case. */
export function checkAaguid(text: string): string {
  if (!AAGUID.test(text)) throw new UsageError(`--aaguid: "${text}" is not an AAGUID (8-4-4-4-12 hex digits)`)
  return text.toLowerCase()
}
