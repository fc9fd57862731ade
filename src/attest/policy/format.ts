import { createHash } from 'node:crypto'
import { HASH_ALGS, DIGEST_SIZE, PCR_COUNT, type HashAlg } from '../pcrs.js'
import { BootPolicyFormatError } from './errors.js'
import { POLICY_LIMITS } from './limits.js'

export type SecureBootRequirement = 'required' | 'any'

/**
 * A boot policy, version 1. Frozen format: fields are only ever added with a new version, and a
 * reader refuses versions and fields it does not know (fail closed, never accept-all).
 *
 *   { "version": 1, "bank": "sha256", "pcrs": [0, 2, 4, 7],
 *     "secureBoot": "required",
 *     "events": { "4": { "EV_EFI_BOOT_SERVICES_APPLICATION": ["<hex digest>", …] }, … } }
 *
 * `pcrs`: the PCRs that MUST be quoted and whose every event MUST be allowed by `events`.
 * `events`: per PCR, per event type name, the allowed digests (in `bank`).
 */
export interface BootPolicy {
  readonly version: 1
  readonly bank: HashAlg
  readonly pcrs: readonly number[]
  readonly secureBoot: SecureBootRequirement
  readonly events: Readonly<Record<string, Readonly<Record<string, readonly string[]>>>>
}

const FIELDS = new Set(['version', 'bank', 'pcrs', 'secureBoot', 'events'])

/** Strict parser: any unknown version, field or malformed value is refused. */
export function parseBootPolicy(bytes: Uint8Array | string): BootPolicy {
  const text = typeof bytes === 'string' ? bytes : Buffer.from(bytes).toString('utf8')
  if (text.length > POLICY_LIMITS.maxBytes)
    throw new BootPolicyFormatError(`larger than ${POLICY_LIMITS.maxBytes} bytes`)
  let value: unknown
  try {
    value = JSON.parse(text)
  } catch (err) {
    throw new BootPolicyFormatError(`not JSON (${(err as Error).message})`)
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value))
    throw new BootPolicyFormatError('not a JSON object')
  const record = value as Record<string, unknown>
  for (const key of Object.keys(record)) if (!FIELDS.has(key)) throw new BootPolicyFormatError(`unknown field "${key}"`)
  if (record.version !== 1)
    throw new BootPolicyFormatError(
      `unsupported version ${JSON.stringify(record.version)} (this agent reads version 1)`
    )
  const bank = record.bank
  if (typeof bank !== 'string' || !(HASH_ALGS as readonly string[]).includes(bank))
    throw new BootPolicyFormatError(`unknown bank ${JSON.stringify(bank)}`)
  const pcrs = record.pcrs
  if (!Array.isArray(pcrs) || pcrs.length === 0) throw new BootPolicyFormatError('"pcrs" must be a non-empty list')
  const seen = new Set<number>()
  for (const pcr of pcrs) {
    if (!Number.isInteger(pcr) || pcr < 0 || pcr >= PCR_COUNT)
      throw new BootPolicyFormatError(`PCR ${JSON.stringify(pcr)} out of range`)
    if (seen.has(pcr as number)) throw new BootPolicyFormatError(`PCR ${String(pcr)} listed twice`)
    seen.add(pcr as number)
  }
  if (record.secureBoot !== 'required' && record.secureBoot !== 'any')
    throw new BootPolicyFormatError('"secureBoot" must be "required" or "any"')
  const events = record.events
  if (typeof events !== 'object' || events === null || Array.isArray(events))
    throw new BootPolicyFormatError('"events" must be an object')
  const size = DIGEST_SIZE[bank as HashAlg]
  for (const [pcr, types] of Object.entries(events as Record<string, unknown>)) {
    if (!/^(0|[1-9]\d?)$/.test(pcr) || !seen.has(Number(pcr)))
      throw new BootPolicyFormatError(`"events" names PCR ${pcr}, which is not in "pcrs"`)
    if (typeof types !== 'object' || types === null || Array.isArray(types))
      throw new BootPolicyFormatError(`events of PCR ${pcr} must be an object`)
    const entries = Object.entries(types as Record<string, unknown>)
    if (entries.length > POLICY_LIMITS.maxEventTypesPerPcr)
      throw new BootPolicyFormatError(`too many event types for PCR ${pcr}`)
    for (const [type, digests] of entries) {
      if (!/^EV_[A-Z0-9_]+$|^0x[0-9a-f]{8}$/.test(type))
        throw new BootPolicyFormatError(`unknown event type name "${type}"`)
      if (!Array.isArray(digests) || digests.length > POLICY_LIMITS.maxDigestsPerEventType)
        throw new BootPolicyFormatError(`digests of ${type} in PCR ${pcr} must be a list`)
      for (const d of digests) {
        if (typeof d !== 'string' || d.length !== size * 2 || !/^[0-9a-f]+$/.test(d))
          throw new BootPolicyFormatError(`"${String(d)}" is not a lowercase ${bank} digest (${type}, PCR ${pcr})`)
      }
    }
  }
  return record as unknown as BootPolicy
}

/** Canonical JSON (sorted keys, sorted digest lists): the bytes that are hashed and signed. */
export function canonicalPolicyJson(policy: BootPolicy): string {
  const events: Record<string, Record<string, string[]>> = {}
  for (const pcr of Object.keys(policy.events).sort((a, b) => Number(a) - Number(b))) {
    const types = policy.events[pcr]!
    events[pcr] = {}
    for (const type of Object.keys(types).sort()) events[pcr][type] = [...new Set(types[type])].sort()
  }
  return JSON.stringify({
    version: 1,
    bank: policy.bank,
    pcrs: [...policy.pcrs].sort((a, b) => a - b),
    secureBoot: policy.secureBoot,
    events
  })
}

/** policyId: SHA-256 over the canonical JSON, hex. Enrolment records name the policy by it. */
export function bootPolicyId(policy: BootPolicy): string {
  return createHash('sha256').update(canonicalPolicyJson(policy)).digest('hex')
}

export { POLICY_LIMITS }
