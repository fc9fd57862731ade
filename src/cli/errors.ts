/**
 * Refusals of the owner's actor commands (fleet actor …), one class per condition, each carrying
 * what it is about. Others come from the modules underneath (src/pkcs11, src/webauthn).
 */
import { FleetError } from '../common/index.js'

/**
 * Thrown when an actor id that is enrolled, and not revoked, is enrolled again without --yes:
 * that replaces the key the actor signs with. Exit code 2.
 */
export class ActorAlreadyEnrolledError extends FleetError {
  readonly actorId: string
  readonly kind: string
  readonly enrolledAt: number
  constructor(actorId: string, kind: string, enrolledAt: number) {
    super(
      `actor ${actorId} is enrolled already (${kind}, since ${new Date(enrolledAt).toISOString()}): ` +
        'pass --yes to replace their key',
      { code: 'ERR_ACTOR_ENROLLED', exitCode: 2 }
    )
    this.actorId = actorId
    this.kind = kind
    this.enrolledAt = enrolledAt
  }
}

/** Thrown when the key (a token key, a WebAuthn credential) to enrol is another actor's, enrolled and not revoked. */
export class ActorKeyInUseError extends FleetError {
  readonly actorId: string
  readonly holder: string
  constructor(actorId: string, holder: string) {
    super(`the key offered for actor ${actorId} is enrolled already as actor ${holder}'s: one key, one actor`, {
      code: 'ERR_ACTOR_KEY_IN_USE'
    })
    this.actorId = actorId
    this.holder = holder
  }
}

/** Thrown when an actor to revoke was never enrolled in the fleet (the owner's feed holds no actor.enrol of it). */
export class ActorNotEnrolledError extends FleetError {
  readonly actorId: string
  constructor(actorId: string) {
    super(`actor ${actorId} was never enrolled in this fleet`, { code: 'ERR_ACTOR_NOT_ENROLLED' })
    this.actorId = actorId
  }
}

/** Thrown when an actor to revoke is revoked already (and not enrolled again since). */
export class ActorAlreadyRevokedError extends FleetError {
  readonly actorId: string
  readonly reason: string
  readonly revokedAt: number
  constructor(actorId: string, reason: string, revokedAt: number) {
    super(`actor ${actorId} is revoked already (${new Date(revokedAt).toISOString()}: ${reason})`, {
      code: 'ERR_ACTOR_REVOKED'
    })
    this.actorId = actorId
    this.reason = reason
    this.revokedAt = revokedAt
  }
}

/** Thrown when no security key was enrolled on the enrolment page before the wait ended. */
export class ActorEnrolmentTimeoutError extends FleetError {
  readonly actorId: string
  readonly url: string
  readonly seconds: number
  constructor(actorId: string, url: string, seconds: number) {
    super(`no security key was enrolled for actor ${actorId} at ${url} within ${seconds} s`, {
      code: 'ERR_ACTOR_ENROLMENT_TIMEOUT'
    })
    this.actorId = actorId
    this.url = url
    this.seconds = seconds
  }
}
