/**
 * Signing in to the console with an operator's security key (WebAuthn), instead of the token:
 * the actors the owner enrolled with a FIDO2 credential for RP ID `localhost`, not revoked.
 *
 *   page → POST /api/key-challenge   {}                    ← {nonce, options}
 *   page → navigator.credentials.get(options)  (the person touches the key, enters its PIN)
 *   page → POST /api/key-login       {nonce, credential}   ← {session, actor}
 *
 * The challenge is SHA-256 of "fleet-v1/console-sign-in\0" ‖ origin ‖ "\0" ‖ nonce (the
 * project's domain separation, src/identity/domains.ts): 32 random bytes of this server, each
 * used once (taken off the table at the first answer, right or wrong) and only within
 * CONSOLE_LIMITS.keyChallengeMs. An action's signing bytes are of the domain actor-action, so a
 * sign-in assertion approves no action and an action's approval signs nobody in. The assertion is
 * verified as an action's is (verifyActionAssertion): the enrolled credential, a webauthn.get on
 * this very origin, RP ID localhost, user presence and verification (PIN or biometric), the
 * signature, and a counter that grew since this console last saw it (else the key was cloned:
 * refused, and logged as such). WebAuthn runs over plain http only on `localhost`, so the page
 * must be opened at http://localhost:PORT/ for this.
 */
import { randomBytes } from 'node:crypto'
import { FleetError, MalformedInputError, bytesEqual, toBase64url, type Clock } from '../../common/index.js'
import {
  ClonedAuthenticatorError,
  actionChallenge,
  decodeAuthenticationResponse,
  verifyActionAssertion
} from '../../webauthn/index.js'
import { DOMAIN, domainSeparated } from '../../identity/index.js'
import { CONSOLE_LIMITS } from './limits.js'

/** An actor who may sign in with a security key. */
export interface ConsoleOperator {
  actorId: string
  role: string
  credentialId: Uint8Array
  publicKey: Uint8Array
}

/** A sign-in with a security key refused (403): the reason says which check failed. */
export class KeySignInRefusedError extends FleetError {
  constructor(reason: string) {
    super(`sign-in refused: ${reason}`, { code: 'ERR_CONSOLE_KEY_SIGN_IN' })
  }
}

export const RP_ID = 'localhost'

/** The bytes whose SHA-256 is the challenge of a sign-in on `origin` with `nonce`. */
export function signInBytes(origin: string, nonce: Uint8Array): Uint8Array {
  return domainSeparated(DOMAIN.consoleSignIn, new Uint8Array(Buffer.concat([Buffer.from(`${origin}\0`), nonce])))
}

export class KeySignIn {
  /** Nonces handed out, by base64url, with when they stop being good (steady ms). */
  private readonly nonces = new Map<string, number>()
  /** The highest counter seen from each credential (base64url), to tell a cloned key. */
  private readonly counters = new Map<string, number>()

  constructor(
    private readonly operators: () => readonly ConsoleOperator[],
    private readonly clock: Clock
  ) {}

  /** A fresh challenge for a page on `origin` (which must be a localhost one). */
  offer(origin: string): { nonce: string; options: Record<string, unknown> } {
    if (new URL(origin).hostname !== RP_ID)
      throw new KeySignInRefusedError(
        `security keys work on http://localhost:${new URL(origin).port}/ only (WebAuthn needs a name, not an address): open the console there`
      )
    const operators = this.operators()
    if (operators.length === 0)
      throw new KeySignInRefusedError('no operator with a security key for localhost is enrolled in this fleet')
    this.expire()
    if (this.nonces.size >= CONSOLE_LIMITS.maxKeyChallenges) this.nonces.delete(this.nonces.keys().next().value!)
    const nonce = randomBytes(32)
    this.nonces.set(toBase64url(nonce), this.clock.now() + CONSOLE_LIMITS.keyChallengeMs)
    return {
      nonce: toBase64url(nonce),
      options: {
        challenge: toBase64url(actionChallenge(signInBytes(origin, nonce))),
        rpId: RP_ID,
        allowCredentials: operators
          .slice(0, CONSOLE_LIMITS.maxKeyOperators)
          .map((operator) => ({ type: 'public-key', id: toBase64url(operator.credentialId) })),
        userVerification: 'required',
        timeout: CONSOLE_LIMITS.keyChallengeMs
      }
    }
  }

  /** The actor the answer to one of this server's challenges signs in, or a typed refusal. */
  async answer(origin: string, body: unknown): Promise<ConsoleOperator> {
    const { nonce, credential } = (body ?? {}) as { nonce?: unknown; credential?: unknown }
    if (typeof nonce !== 'string' || !/^[A-Za-z0-9_-]{43}$/.test(nonce))
      throw new MalformedInputError('the sign-in needs {"nonce": "…", "credential": {…}}')
    const assertion = decodeAuthenticationResponse(credential)
    this.expire()
    // Once: taken off the table by the first answer, whatever it is.
    if (!this.nonces.delete(nonce))
      throw new KeySignInRefusedError('the challenge is not one of this console, or was answered or expired')
    const operator = this.operators().find((o) => bytesEqual(o.credentialId, assertion.credentialId))
    if (operator === undefined)
      throw new KeySignInRefusedError('the key is not the credential of an enrolled operator (or they were revoked)')
    const id = toBase64url(operator.credentialId)
    let newCounter: number
    try {
      ;({ newCounter } = await verifyActionAssertion(assertion, {
        signingBytes: signInBytes(origin, Buffer.from(nonce, 'base64url')),
        credential: {
          credentialId: operator.credentialId,
          publicKey: operator.publicKey,
          counter: this.counters.get(id) ?? 0
        },
        origin,
        rpId: RP_ID,
        requireUserVerification: true
      }))
    } catch (err) {
      if (err instanceof ClonedAuthenticatorError)
        throw new KeySignInRefusedError(
          `${operator.actorId}'s key answered with a counter that did not grow: ${err.message}`
        )
      if (err instanceof FleetError) throw new KeySignInRefusedError(err.message)
      throw err
    }
    if (newCounter > 0) {
      if (!this.counters.has(id) && this.counters.size >= CONSOLE_LIMITS.maxKeyOperators)
        this.counters.delete(this.counters.keys().next().value!)
      this.counters.set(id, newCounter)
    }
    return operator
  }

  private expire(): void {
    const now = this.clock.now()
    for (const [nonce, until] of this.nonces) if (until <= now) this.nonces.delete(nonce)
  }
}
