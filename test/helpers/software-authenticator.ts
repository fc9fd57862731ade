/**
 * A software FIDO2 authenticator for tests that need no browser: it makes ES256 credentials (or
 * takes an Ed25519 or P-256 key, as Chromium's virtual authenticator exports them) and
 * answers registrations (attestation none, or packed self attestation) and assertions with the
 * flags, counter, origin and client data a test chooses — including what no honest browser would
 * pass on (user presence off, another origin), so the server side's refusals can be seen. It can
 * also take over a credential exported from Chromium's virtual authenticator (its PKCS#8 key).
 */
import { createPrivateKey, createPublicKey, generateKeyPairSync, randomBytes, sign, type KeyObject } from 'node:crypto'
import { encode as cborEncode } from 'cborg'
import { concatBytes, sha256, toBase64url } from '../../src/common/index.js'
import type { AssertionInput } from '../../src/webauthn/index.js'

export const FLAGS = { up: 0x01, uv: 0x04, at: 0x40 } as const

/** The AAGUID the software authenticator reports. */
export const SOFTWARE_AAGUID = '5e5e5e5e-0000-4000-8000-000000000001'

export interface CeremonyChoice {
  challenge: Uint8Array
  origin: string
  rpId: string
  /** Default UP | UV. */
  flags?: number
  /** Default: the next counter (one more than the last). */
  counter?: number
  /** Default 'webauthn.get' (assertions) or 'webauthn.create' (registrations). */
  type?: string
  /** Extra members of clientDataJSON (crossOrigin, topOrigin…). */
  clientData?: Record<string, unknown>
}

/** A credential as WebAuthn.getCredentials gives it (standard base64, PKCS#8 private key). */
export interface ExportedCredential {
  credentialId: string
  privateKey: string
  signCount: number
}

export interface RegistrationChoice extends CeremonyChoice {
  fmt: 'none' | 'packed-self'
  /** Sign the self attestation with this key instead of the credential's (a bad attestation). */
  attestationKey?: KeyObject
}

export class SoftwareAuthenticator {
  readonly credentialId: Uint8Array
  readonly privateKey: KeyObject
  /** The credential public key as COSE_Key bytes (EC2 P-256 ES256, or OKP Ed25519 EdDSA). */
  readonly publicKey: Uint8Array
  counter: number

  constructor(init: { privateKey?: KeyObject; credentialId?: Uint8Array; counter?: number } = {}) {
    this.privateKey = init.privateKey ?? generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey
    this.credentialId = init.credentialId ?? new Uint8Array(randomBytes(32))
    this.counter = init.counter ?? 0
    this.publicKey = coseKey(this.privateKey)
  }

  /** The same credential as a Chromium virtual authenticator holds it (WebAuthn.getCredentials). */
  static fromExported(credential: ExportedCredential): SoftwareAuthenticator {
    return new SoftwareAuthenticator({
      privateKey: createPrivateKey({ key: Buffer.from(credential.privateKey, 'base64'), format: 'der', type: 'pkcs8' }),
      credentialId: new Uint8Array(Buffer.from(credential.credentialId, 'base64')),
      counter: credential.signCount
    })
  }

  /** An assertion over the choice's client data, signed by the credential key. */
  assert(choice: CeremonyChoice): AssertionInput {
    const counter = choice.counter ?? ++this.counter
    const clientDataJSON = clientData(choice, 'webauthn.get')
    const authenticatorData = concatBytes(
      sha256(choice.rpId),
      Uint8Array.of(choice.flags ?? FLAGS.up | FLAGS.uv),
      u32(counter)
    )
    const signature = signWith(this.privateKey, concatBytes(authenticatorData, sha256(clientDataJSON)))
    return { credentialId: this.credentialId, authenticatorData, clientDataJSON, signature }
  }

  /** A registration response (the JSON form) with attestation none or packed self attestation. */
  register(choice: RegistrationChoice): Record<string, unknown> {
    const clientDataJSON = clientData(choice, 'webauthn.create')
    const authData = concatBytes(
      sha256(choice.rpId),
      Uint8Array.of(choice.flags ?? FLAGS.up | FLAGS.uv | FLAGS.at),
      u32(choice.counter ?? this.counter),
      new Uint8Array(Buffer.from(SOFTWARE_AAGUID.replaceAll('-', ''), 'hex')),
      Uint8Array.of(this.credentialId.length >> 8, this.credentialId.length & 0xff),
      this.credentialId,
      this.publicKey
    )
    const attStmt =
      choice.fmt === 'none'
        ? new Map()
        : new Map<string, unknown>([
            ['alg', algorithmOf(this.privateKey)],
            ['sig', signWith(choice.attestationKey ?? this.privateKey, concatBytes(authData, sha256(clientDataJSON)))]
          ])
    const attestationObject = cborEncode(
      new Map<string, unknown>([
        ['fmt', choice.fmt === 'none' ? 'none' : 'packed'],
        ['attStmt', attStmt],
        ['authData', authData]
      ])
    )
    const id = toBase64url(this.credentialId)
    return {
      id,
      rawId: id,
      type: 'public-key',
      response: {
        clientDataJSON: toBase64url(clientDataJSON),
        attestationObject: toBase64url(attestationObject),
        transports: ['usb']
      },
      clientExtensionResults: {}
    }
  }
}

/** The JSON form of an assertion (PublicKeyCredential.toJSON()), as the approval page posts it. */
export function assertionJson(assertion: AssertionInput): Record<string, unknown> {
  const id = toBase64url(assertion.credentialId)
  return {
    id,
    rawId: id,
    type: 'public-key',
    authenticatorAttachment: 'cross-platform',
    clientExtensionResults: {},
    response: {
      clientDataJSON: toBase64url(assertion.clientDataJSON),
      authenticatorData: toBase64url(assertion.authenticatorData),
      signature: toBase64url(assertion.signature)
    }
  }
}

function clientData(choice: CeremonyChoice, type: string): Uint8Array {
  return new TextEncoder().encode(
    JSON.stringify({
      type: choice.type ?? type,
      challenge: toBase64url(choice.challenge),
      origin: choice.origin,
      crossOrigin: false,
      ...choice.clientData
    })
  )
}

function u32(value: number): Uint8Array {
  return Uint8Array.of(value >>> 24, (value >>> 16) & 0xff, (value >>> 8) & 0xff, value & 0xff)
}

/** The COSE algorithm of a key: EdDSA (-8) for Ed25519, ES256 (-7) for P-256. */
function algorithmOf(key: KeyObject): number {
  return key.asymmetricKeyType === 'ed25519' ? -8 : -7
}

function signWith(key: KeyObject, data: Uint8Array): Uint8Array {
  return new Uint8Array(sign(key.asymmetricKeyType === 'ed25519' ? null : 'sha256', data, key))
}

/** COSE_Key (RFC 9053) of the public half: OKP Ed25519, or EC2 P-256. */
function coseKey(privateKey: KeyObject): Uint8Array {
  const jwk = createPublicKey(privateKey).export({ format: 'jwk' })
  const coordinate = (text: string | undefined): Uint8Array => new Uint8Array(Buffer.from(text!, 'base64url'))
  if (privateKey.asymmetricKeyType === 'ed25519') {
    return cborEncode(
      new Map<number, unknown>([
        [1, 1],
        [3, -8],
        [-1, 6],
        [-2, coordinate(jwk.x)]
      ])
    )
  }
  const ec2 = [
    [1, 2],
    [3, -7],
    [-1, 1],
    [-2, coordinate(jwk.x)],
    [-3, coordinate(jwk.y)]
  ] as const
  return cborEncode(new Map<number, unknown>(ec2))
}
