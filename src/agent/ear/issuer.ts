/**
 * The issuer: a signed EAR about a device, from this agent's own latest verdict on it. Results
 * without a nonce are cached per (device, audience, verdict) until they expire, so the TPM signs
 * once per verdict and freshness window, not once per request; a result with a nonce is signed
 * each time (the nonce is what makes it fresh for its relying party).
 */
import type { Clock } from '../../common/index.js'
import { earHeader, earClaims, encodeEar, type EarSigner } from './token.js'
import { EAR_LIMITS } from './limits.js'
import { EarRequestError, EarSelfError, EarStaleVerdictError, EarUnknownDeviceError } from './errors.js'
import { earStatus, trustworthinessVector, type EarStatus, type EarVerdict, type TpmTier } from './appraisal.js'

export interface EarIssuerInit {
  /** This device's id: the JWT's kid. */
  issuer: string
  signer: EarSigner
  /** ear.verifier-id's build. */
  build: string
  clock: Clock
  /** This agent's latest verdict on a device (not a stranger's presenting its record), if any. */
  verdictOn: (deviceId: string) => EarVerdict | undefined
  /** Whether the device is revoked or quarantined now (the owner's word, or this agent's finding). */
  exclusion: (deviceId: string) => 'revoked' | 'quarantined' | undefined
  /** The boot policy in force, for a result on an excluded device never judged here. */
  policyId: () => string
  /**
   * The device's TPM tier. Hardware only when established by its EK certificate chain; without
   * that knowledge the tier is software, so a software TPM is never presented as hardware.
   */
  tier?: (deviceId: string) => TpmTier
}

export interface EarRequest {
  device: string
  /** eat_nonce: base64url (no padding) of EAR_LIMITS.minNonceBytes..maxNonceBytes bytes. */
  nonce?: string
  audience?: string
}

export interface IssuedEar {
  token: string
  status: EarStatus
  /** When the result expires (its exp), ms. */
  expiresAt: number
  /** True when the signed result was taken from the cache. */
  cached: boolean
}

/** Checks a request's fields; EarRequestError (exit 2) naming the field otherwise. */
export function checkEarRequest(request: EarRequest): void {
  if (typeof request.device !== 'string' || !/^[a-z2-7]{52}$/.test(request.device))
    throw new EarRequestError('device', 'must be a deviceId (52 base32 characters)')
  const { nonce, audience } = request
  if (nonce !== undefined) {
    if (typeof nonce !== 'string' || !/^[A-Za-z0-9_-]*$/.test(nonce))
      throw new EarRequestError('nonce', 'must be base64url without padding')
    const bytes = Buffer.from(nonce, 'base64url')
    if (bytes.length < EAR_LIMITS.minNonceBytes || bytes.length > EAR_LIMITS.maxNonceBytes)
      throw new EarRequestError(
        'nonce',
        `must be ${EAR_LIMITS.minNonceBytes} to ${EAR_LIMITS.maxNonceBytes} bytes, not ${bytes.length}`
      )
    if (bytes.toString('base64url') !== nonce) throw new EarRequestError('nonce', 'is not canonical base64url')
  }
  if (audience !== undefined) {
    if (typeof audience !== 'string' || audience.length === 0 || audience.length > EAR_LIMITS.maxAudienceChars)
      throw new EarRequestError('audience', `must be 1 to ${EAR_LIMITS.maxAudienceChars} characters`)
    // biome-ignore lint/suspicious/noControlCharactersInRegex: control characters are what is refused
    if (/[\u0000-\u001f\u007f]/.test(audience))
      throw new EarRequestError('audience', 'must not hold control characters')
  }
}

/** Issues results about devices this agent attested. */
export class EarIssuer {
  private readonly init: EarIssuerInit
  /** Signed results without a nonce, by subject, audience and verdict (at most EAR_LIMITS.maxCachedResults). */
  private readonly cache = new Map<string, { token: Promise<string>; expiresAt: number }>()

  constructor(init: EarIssuerInit) {
    this.init = init
  }

  /** How many signed results are cached (bounded by EAR_LIMITS.maxCachedResults). */
  get cached(): number {
    return this.cache.size
  }

  /**
   * A signed result about `request.device`. Refused (EarUnknownDeviceError) for a device this
   * agent never judged, (EarStaleVerdictError) when its latest verdict is not fresh, and for this
   * device itself (EarSelfError). A revoked or quarantined device gets a contraindicated result
   * at any time: that is known now.
   */
  async issue(request: EarRequest, options: { signal?: AbortSignal } = {}): Promise<IssuedEar> {
    checkEarRequest(request)
    if (request.device === this.init.issuer) throw new EarSelfError(request.device)
    const now = this.init.clock.now()
    const excluded = this.init.exclusion(request.device)
    const verdict = this.verdictFor(request.device, now, excluded)
    const tier = this.init.tier?.(request.device) ?? 'software'
    const status = earStatus(verdict, trustworthinessVector(verdict, tier))
    const expiresAt = Math.floor((verdict.at + EAR_LIMITS.verdictFreshMs) / 1000) * 1000
    const sign = (): Promise<string> =>
      encodeEar(
        earHeader(this.init.issuer),
        earClaims({ verdict, tier, now, build: this.init.build, nonce: request.nonce, audience: request.audience }),
        this.init.signer,
        options
      )
    if (request.nonce !== undefined) return { token: await sign(), status, expiresAt, cached: false }
    const key = JSON.stringify([
      request.device,
      request.audience ?? null,
      verdict.trusted,
      verdict.kind ?? null,
      verdict.codes ?? [],
      // An exclusion is dated when first signed: its result stands for the freshness window like
      // a verdict's (a cleared quarantine changes the key), instead of a new signature each call.
      excluded === undefined ? verdict.at : null,
      verdict.policyId,
      tier
    ])
    const held = this.cache.get(key)
    if (held !== undefined && held.expiresAt > now)
      return { token: await held.token, status, expiresAt: held.expiresAt, cached: true }
    this.cache.delete(key)
    const token = sign()
    this.cache.set(key, { token, expiresAt })
    token.catch(() => this.cache.delete(key))
    for (const oldest of this.cache.keys()) {
      if (this.cache.size <= EAR_LIMITS.maxCachedResults) break
      this.cache.delete(oldest)
    }
    return { token: await token, status, expiresAt, cached: false }
  }

  /** What the result rests on: the exclusion known now, or the latest verdict if fresh. */
  private verdictFor(deviceId: string, now: number, excluded: 'revoked' | 'quarantined' | undefined): EarVerdict {
    const verdict = this.init.verdictOn(deviceId)
    if (excluded !== undefined)
      return { deviceId, trusted: false, kind: excluded, at: now, policyId: verdict?.policyId ?? this.init.policyId() }
    if (verdict === undefined) throw new EarUnknownDeviceError(deviceId)
    if (now - verdict.at > EAR_LIMITS.verdictFreshMs || verdict.at - now > EAR_LIMITS.verdictSkewMs)
      throw new EarStaleVerdictError(deviceId, verdict.at, now)
    return verdict
  }
}
