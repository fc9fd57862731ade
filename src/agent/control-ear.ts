/**
 * The attestation-result commands of the control socket: attest.result (a signed EAR about a
 * device this agent attested) and attest.keys (the JWKS of the fleet's enrolled, unrevoked
 * devices, as this agent holds the owner's feed). `fleet attest result` and `fleet attest keys`
 * send them.
 */
import { ControlError } from './control-error.js'
import { fleetJwks, type EarIssuer, type EarRequest } from './ear/index.js'
import type { Membership } from './membership/index.js'

/** What the control socket serves of attestation results. */
export interface ControlEar {
  ear: Pick<EarIssuer, 'issue'>
  membership: Pick<Membership, 'list' | 'isRevoked'>
}

/** An attest.result request's fields (their values are checked by the issuer). */
function resultRequest(request: Record<string, unknown>): EarRequest {
  const { device, nonce, audience } = request
  if (
    typeof device !== 'string' ||
    (nonce !== undefined && typeof nonce !== 'string') ||
    (audience !== undefined && typeof audience !== 'string')
  )
    throw new ControlError('attest.result needs device, and takes nonce and audience as strings', 'ERR_BAD_REQUEST')
  return { device, nonce, audience }
}

/** Answers attestation-result command `cmd`. */
export async function earCommand(
  cmd: 'attest.result' | 'attest.keys',
  request: Record<string, unknown>,
  served: ControlEar,
  options: { signal?: AbortSignal } = {}
): Promise<Record<string, unknown>> {
  if (cmd === 'attest.keys') {
    const members = served.membership.list().filter((member) => !served.membership.isRevoked(member.deviceId))
    return { ok: true, jwks: fleetJwks(members.map((m) => ({ deviceId: m.deviceId, point: m.feedKey.p256 }))) }
  }
  const issued = await served.ear.issue(resultRequest(request), options)
  return {
    ok: true,
    token: issued.token,
    status: issued.status,
    expiresAt: new Date(issued.expiresAt).toISOString(),
    cached: issued.cached
  }
}
