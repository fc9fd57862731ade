/**
 * The EAR as a JWT (draft-ietf-rats-ear, JWT serialisation): its claims and its JWS compact
 * encoding, signed ES256 by an injected P-256 signer (the device's TPM-held DSK in the agent).
 * Frozen format: claim names and the key order below are what the golden vectors pin
 * (test/vectors/ear); add claims, never rename or reorder them.
 */
import { EAR_LIMITS } from './limits.js'
import { earStatus, trustworthinessVector, type EarVerdict, type TpmTier } from './appraisal.js'

/** The EAR profile tag (draft-ietf-rats-ear): what eat_profile names. */
export const EAT_PROFILE = 'tag:github.com,2023:veraison/ear'
/** ear.verifier-id's developer. */
export const EAR_DEVELOPER = 'fleet-agent'
/** ear.verifier-id's build: the release (package.json's version; `fleet --version` says the same). */
export const EAR_BUILD = 'fleet-agent 0.1.0'

/** Signs the JWS signing input: ECDSA P-256 over its SHA-256, as IEEE P1363 r‖s (64 bytes). */
export interface EarSigner {
  sign(message: Uint8Array, options?: { signal?: AbortSignal }): Promise<Uint8Array>
}

export interface EarClaimsInput {
  verdict: EarVerdict
  tier: TpmTier
  /** Issuance time, ms since the epoch. */
  now: number
  /** ear.verifier-id's build: this agent's version. */
  build: string
  /** eat_nonce, base64url as the relying party gave it (checked by the caller). */
  nonce?: string
  audience?: string
}

/** The JOSE header: ES256, the issuing device's id as kid (the JWKS names each key by it). */
export function earHeader(issuerDeviceId: string): { alg: 'ES256'; kid: string; typ: 'JWT' } {
  return { alg: 'ES256', kid: issuerDeviceId, typ: 'JWT' }
}

/** Seconds since the epoch, as JWT NumericDate. */
function seconds(ms: number): number {
  return Math.floor(ms / 1000)
}

/**
 * The claims of a result about `verdict.deviceId`: one submodule named by the device id. It
 * expires when the verdict stops being fresh (EAR_LIMITS.verdictFreshMs after it was reached).
 */
export function earClaims(input: EarClaimsInput): Record<string, unknown> {
  const { verdict } = input
  const vector = trustworthinessVector(verdict, input.tier)
  const freshUntil = verdict.at + EAR_LIMITS.verdictFreshMs
  return {
    eat_profile: EAT_PROFILE,
    iat: seconds(input.now),
    exp: seconds(freshUntil),
    'ear.verifier-id': { developer: EAR_DEVELOPER, build: input.build },
    ...(input.nonce === undefined ? {} : { eat_nonce: input.nonce }),
    ...(input.audience === undefined ? {} : { aud: input.audience }),
    submods: {
      [verdict.deviceId]: {
        'ear.status': earStatus(verdict, vector),
        'ear.trustworthiness-vector': vector,
        'ear.appraisal-policy-id': `fleet:boot-policy:${verdict.policyId}`,
        'fleet.device-id': verdict.deviceId,
        'fleet.tpm-tier': input.tier,
        'fleet.verdict': {
          trusted: verdict.trusted,
          ...(verdict.kind === undefined ? {} : { kind: verdict.kind }),
          at: seconds(verdict.at),
          age: Math.max(0, seconds(input.now - verdict.at)),
          'fresh-until': seconds(freshUntil)
        }
      }
    }
  }
}

function base64url(bytes: Uint8Array | string): string {
  return Buffer.from(bytes).toString('base64url')
}

/** The JWS signing input: ASCII base64url(header) "." base64url(payload). */
export function earSigningInput(header: object, claims: object): string {
  return `${base64url(JSON.stringify(header))}.${base64url(JSON.stringify(claims))}`
}

/**
 * The JWS compact serialisation of `claims`, signed by `signer`. The signing input holds only
 * base64url characters and one dot, so it can never be a hybrid signature's domain-separated
 * message ("fleet-v1/" tag NUL …) made with the same key.
 */
export async function encodeEar(
  header: object,
  claims: object,
  signer: EarSigner,
  options: { signal?: AbortSignal } = {}
): Promise<string> {
  const input = earSigningInput(header, claims)
  const signature = await signer.sign(new Uint8Array(Buffer.from(input, 'ascii')), options)
  if (signature.length !== 64) throw new RangeError(`an ES256 signature is 64 bytes (r‖s), not ${signature.length}`)
  return `${input}.${base64url(signature)}`
}
