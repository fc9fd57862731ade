import { toBase64url } from '../common/index.js'
import {
  ChallengeMismatchError,
  ClientDataTypeError,
  CrossOriginCeremonyError,
  MalformedWebAuthnError,
  OriginMismatchError
} from './errors.js'
import { WEBAUTHN_LIMITS } from './limits.js'

/**
 * The fields of clientDataJSON (WebAuthn L3 §5.8.1) a verifier reads, as the browser wrote them.
 * Other members are ignored: the spec lets clients add some.
 */
export interface ClientData {
  readonly type: string
  /** The challenge, base64url as the browser encoded it. */
  readonly challenge: string
  readonly origin: string
  readonly crossOrigin: boolean
  readonly topOrigin: string | undefined
}

/**
 * Which origins a ceremony may have run on: one, a list, or a rule (a peer re-verifying an
 * approval made on a loopback page of any port, for instance, passes isLoopbackOrigin).
 */
export type OriginRule = string | readonly string[] | ((origin: string) => boolean)

const utf8 = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true })

/** Strict decoder of clientDataJSON: within its bound, UTF-8, a JSON object with the members of their kinds. */
export function parseClientData(bytes: Uint8Array): ClientData {
  if (bytes.length > WEBAUTHN_LIMITS.maxClientDataJSON) {
    throw new MalformedWebAuthnError(
      'clientDataJSON',
      `is ${bytes.length} bytes, more than ${WEBAUTHN_LIMITS.maxClientDataJSON}`,
      'maxClientDataJSON'
    )
  }
  let value: unknown
  try {
    value = JSON.parse(utf8.decode(bytes))
  } catch {
    throw new MalformedWebAuthnError('clientDataJSON', 'is not UTF-8 JSON')
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw new MalformedWebAuthnError('clientDataJSON', 'is not a JSON object')
  }
  const record = value as Record<string, unknown>
  const text = (name: string): string => {
    const member = record[name]
    if (typeof member !== 'string') throw new MalformedWebAuthnError(`clientDataJSON.${name}`, 'must be a string')
    return member
  }
  const crossOrigin = record.crossOrigin ?? false
  if (typeof crossOrigin !== 'boolean') {
    throw new MalformedWebAuthnError('clientDataJSON.crossOrigin', 'must be a boolean')
  }
  return {
    type: text('type'),
    challenge: text('challenge'),
    origin: text('origin'),
    crossOrigin,
    topOrigin: record.topOrigin === undefined ? undefined : text('topOrigin')
  }
}

/**
 * Checks what the client data says against what is due: the ceremony type, the challenge (the
 * exact bytes, base64url), the origin, and that it did not run in a cross-origin frame.
 */
export function checkClientData(
  clientData: ClientData,
  expected: { type: string; challenge: Uint8Array; origin: OriginRule }
): void {
  if (clientData.type !== expected.type) throw new ClientDataTypeError(expected.type, clientData.type)
  const challenge = toBase64url(expected.challenge)
  if (clientData.challenge !== challenge) throw new ChallengeMismatchError(challenge, clientData.challenge)
  if (!originAccepted(clientData.origin, expected.origin)) {
    throw new OriginMismatchError(
      clientData.origin,
      typeof expected.origin === 'function'
        ? []
        : typeof expected.origin === 'string'
          ? [expected.origin]
          : expected.origin
    )
  }
  if (clientData.crossOrigin || clientData.topOrigin !== undefined) {
    throw new CrossOriginCeremonyError(clientData.topOrigin)
  }
}

function originAccepted(origin: string, rule: OriginRule): boolean {
  if (typeof rule === 'function') return rule(origin)
  if (typeof rule === 'string') return origin === rule
  return rule.includes(origin)
}

/**
 * The rule for pages served by the loopback approval server: `http://localhost:<port>`, any port.
 * Browsers run WebAuthn on http:// only for localhost (not for 127.0.0.1, an IP address).
 */
export function isLoopbackOrigin(origin: string): boolean {
  const match = /^http:\/\/localhost:([1-9][0-9]{0,4})$/.exec(origin)
  return match !== null && Number(match[1]) <= 65535
}
