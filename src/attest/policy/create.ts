import { toHex } from '../../common/index.js'
import type { HashAlg } from '../pcrs.js'
import type { BootPolicy, SecureBootRequirement } from './format.js'
import type { PolicyEvent } from './evaluate.js'
import { BootPolicyCreateError } from './errors.js'

/** PCRs a boot policy covers by default: firmware (0-3), boot loader and kernel (4), Secure Boot (7). */
export const DEFAULT_POLICY_PCRS = [0, 1, 2, 3, 4, 7]

export interface CreatePolicyOptions {
  pcrs?: number[]
  bank?: HashAlg
  /** Default: required when the reference log shows Secure Boot on, else any. */
  secureBoot?: SecureBootRequirement
}

/**
 * Builds a policy from a known-good boot: every event digest seen in the selected PCRs is allowed.
 * The reference log is trusted because the operator says it is known good; it is still parsed
 * and replayed strictly first.
 */
export function createBootPolicy(
  events: readonly PolicyEvent[],
  secureBootEnabled: boolean | undefined,
  options: CreatePolicyOptions = {}
): BootPolicy {
  const bank = options.bank ?? 'sha256'
  const pcrs = [...new Set(options.pcrs ?? DEFAULT_POLICY_PCRS)].sort((a, b) => a - b)
  const allowed: Record<string, Record<string, string[]>> = {}
  for (const event of events) {
    // EV_NO_ACTION events (the log header, StartupLocality) are never extended into a PCR.
    if (!pcrs.includes(event.pcr) || event.typeName === 'EV_NO_ACTION') continue
    const digest = event.digests[bank]
    if (digest === undefined)
      throw new BootPolicyCreateError(`event #${event.index} has no ${bank} digest; choose the bank the log carries`)
    const types = allowed[String(event.pcr)] ?? {}
    allowed[String(event.pcr)] = types
    const list = types[event.typeName] ?? []
    types[event.typeName] = list
    const hex = toHex(digest)
    if (!list.includes(hex)) list.push(hex)
  }
  for (const types of Object.values(allowed)) for (const list of Object.values(types)) list.sort()
  const secureBoot = options.secureBoot ?? (secureBootEnabled === true ? 'required' : 'any')
  if (secureBoot === 'required' && secureBootEnabled !== true) {
    throw new BootPolicyCreateError('Secure Boot is required but the reference log does not show it on')
  }
  return { version: 1, bank, pcrs, secureBoot, events: allowed }
}
