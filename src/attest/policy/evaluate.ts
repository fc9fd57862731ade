import { toHex } from '../../common/index.js'
import type { HashAlg, PcrValues } from '../pcrs.js'
import { bootPolicyId, type BootPolicy } from './format.js'

/** One event of a verified log, as the policy sees it. */
export interface PolicyEvent {
  readonly index: number
  readonly pcr: number
  readonly typeName: string
  readonly digests: Partial<Record<HashAlg, Uint8Array>>
}

export type PolicyReasonCode =
  | 'pcr_not_quoted'
  | 'pcr_unmeasured'
  | 'event_not_allowed'
  | 'digest_missing'
  | 'secure_boot_off'
  | 'secure_boot_unknown'
  | 'ak_attributes_unchecked'

/** Why a boot is not trusted: everything a person needs to find the difference. */
export interface PolicyReason {
  readonly code: PolicyReasonCode
  readonly message: string
  readonly pcr?: number
  readonly eventIndex?: number
  readonly eventType?: string
  readonly digest?: string
}

export interface BootVerdict {
  readonly trusted: boolean
  readonly policyId: string
  readonly reasons: readonly PolicyReason[]
}

/**
 * Judges a boot against a policy. `events` MUST come from a log verified against `quoted` (only
 * verified events may be judged); the policy module does not replay. Every reason is reported,
 * not just the first, so an operator sees the whole difference at once.
 */
export function evaluateVerifiedBoot(
  policy: BootPolicy,
  events: readonly PolicyEvent[],
  quoted: PcrValues,
  secureBootEnabled: boolean | undefined
): BootVerdict {
  const reasons: PolicyReason[] = []
  const bank = quoted[policy.bank]
  for (const pcr of policy.pcrs) {
    if (bank?.get(pcr) === undefined) {
      reasons.push({
        code: 'pcr_not_quoted',
        pcr,
        message: `PCR ${pcr} (${policy.bank}) is required by the policy but was not quoted`
      })
    }
  }
  const required = new Set(policy.pcrs)
  const measured = new Set<number>()
  for (const event of events) {
    // EV_NO_ACTION events are not measured into PCRs: nothing to judge.
    if (!required.has(event.pcr) || event.typeName === 'EV_NO_ACTION') continue
    measured.add(event.pcr)
    const digest = event.digests[policy.bank]
    if (digest === undefined) {
      reasons.push({
        code: 'digest_missing',
        pcr: event.pcr,
        eventIndex: event.index,
        eventType: event.typeName,
        message: `event #${event.index} (${event.typeName}, PCR ${event.pcr}) has no ${policy.bank} digest`
      })
      continue
    }
    const hex = toHex(digest)
    const allowed = policy.events[String(event.pcr)]?.[event.typeName]
    if (allowed === undefined || !allowed.includes(hex)) {
      reasons.push({
        code: 'event_not_allowed',
        pcr: event.pcr,
        eventIndex: event.index,
        eventType: event.typeName,
        digest: hex,
        message: `PCR ${event.pcr} event #${event.index} ${event.typeName} digest ${hex} is not allowed by the policy`
      })
    }
  }
  for (const pcr of policy.pcrs) {
    const expected = policy.events[String(pcr)]
    if (expected !== undefined && Object.keys(expected).length > 0 && !measured.has(pcr)) {
      reasons.push({
        code: 'pcr_unmeasured',
        pcr,
        message: `PCR ${pcr} has no events, but the policy expects ${Object.keys(expected).join(', ')}`
      })
    }
  }
  if (policy.secureBoot === 'required') {
    if (secureBootEnabled === undefined)
      reasons.push({
        code: 'secure_boot_unknown',
        pcr: 7,
        message: 'Secure Boot is required, but the log does not show its state'
      })
    else if (!secureBootEnabled)
      reasons.push({ code: 'secure_boot_off', pcr: 7, message: 'Secure Boot is required, but it is off' })
  }
  return { trusted: reasons.length === 0, policyId: bootPolicyId(policy), reasons }
}
