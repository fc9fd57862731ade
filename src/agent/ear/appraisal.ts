/**
 * The appraisal a result states: a verdict of the attestation judge mapped to an EAR status and an
 * AR4SI trustworthiness vector (pure, no I/O). Frozen mapping: a relying party's policy is written
 * against these values; change them only with a new eat_profile fragment.
 *
 * AR4SI tiers: 2–31 affirming, 32–95 warning, 96–127 contraindicated; 0 (or a claim left out)
 * says nothing. Only what the judge checked is claimed:
 *   instance-identity  the owner-signed enrolment, the AK it names, the PeerId Noise proved
 *   executables        the boot measurements (a quote over the policy's PCRs, the event log
 *                      replayed): 3 "approved boot" — the quote says nothing of what ran since
 *   configuration      the policy's configuration checks (Secure Boot state)
 *   hardware           2 only for a TPM established as hardware; a software TPM is 32 (warning)
 * Left out: file-system, runtime-opaque, storage-opaque and sourced-data, which no evidence here
 * covers (the quote measures the boot, not files, memory or the data a device takes in).
 */
import type { PeerStatus } from '../attestation/index.js'

/** Whether the device's TPM is a hardware TPM, as established by its EK certificate chain. */
export type TpmTier = 'hardware' | 'software'

export type EarStatus = 'affirming' | 'warning' | 'contraindicated'

/** The AR4SI claims a result may carry, by their JSON names. */
export interface TrustworthinessVector {
  'instance-identity'?: number
  executables?: number
  configuration?: number
  hardware?: number
}

/**
 * What a result rests on: the issuing agent's latest verdict on the device (its attestation
 * judge's outcome), or its knowledge now that the device is revoked or quarantined.
 */
export interface EarVerdict {
  deviceId: string
  trusted: boolean
  /** Why not, when not trusted: the judge's refusal kind, or revoked/quarantined. */
  kind?: string
  /** The boot policy's reason codes, for an untrusted boot. */
  codes?: readonly string[]
  /** When the verdict was reached (ms since the epoch, this agent's clock). */
  at: number
  /** The boot policy it was judged by (bootPolicyId). */
  policyId: string
}

/** AR4SI values used here (draft-ietf-rats-ar4si, trustworthiness claims). */
export const AR4SI = {
  trustworthyInstance: 2,
  untrustworthyInstance: 96,
  cryptoValidationFailed: 99,
  approvedBoot: 3,
  contraindicatedRuntime: 96,
  approvedConfig: 2,
  unsupportableConfig: 96,
  genuineHardware: 2,
  unsafeHardware: 32
} as const

/** Policy reason codes that are about configuration, not about what was loaded. */
const CONFIGURATION_CODES = new Set(['secure_boot_off', 'secure_boot_unknown'])

/** The tier of one AR4SI value; values below 2 (no claim, malfunction, unexpected evidence) have none. */
export function tierOf(value: number): EarStatus | undefined {
  if (value >= 96) return 'contraindicated'
  if (value >= 32) return 'warning'
  if (value >= 2) return 'affirming'
  return undefined
}

/** The vector a verdict supports. */
export function trustworthinessVector(verdict: EarVerdict, tier: TpmTier): TrustworthinessVector {
  const hardware = tier === 'hardware' ? AR4SI.genuineHardware : AR4SI.unsafeHardware
  if (verdict.trusted)
    return {
      'instance-identity': AR4SI.trustworthyInstance,
      executables: AR4SI.approvedBoot,
      configuration: AR4SI.approvedConfig,
      hardware
    }
  switch (verdict.kind) {
    case 'untrusted-boot': {
      // The device is who it says (its record and AK checked out); its boot is not what the policy allows.
      const codes = verdict.codes ?? []
      const configuration = codes.some((code) => CONFIGURATION_CODES.has(code))
      const executables = codes.length === 0 || codes.some((code) => !CONFIGURATION_CODES.has(code))
      return {
        'instance-identity': AR4SI.trustworthyInstance,
        ...(executables ? { executables: AR4SI.contraindicatedRuntime } : {}),
        ...(configuration ? { configuration: AR4SI.unsupportableConfig } : {}),
        hardware
      }
    }
    case 'revoked':
    case 'quarantined':
    case 'clone':
      // Recognised, but the owner withdrew it, it forked its feed, or its PeerId quoted with another AK.
      return { 'instance-identity': AR4SI.untrustworthyInstance }
    default:
      // 'refused': evidence that did not validate (record, quote, signature, a clock gone back, a broken exchange).
      return { 'instance-identity': AR4SI.cryptoValidationFailed }
  }
}

/**
 * The result's status: contraindicated for a verdict that is not trusted, whatever the vector;
 * otherwise the worst tier among the claims (warning for a software TPM).
 */
export function earStatus(verdict: EarVerdict, vector: TrustworthinessVector): EarStatus {
  if (!verdict.trusted) return 'contraindicated'
  const tiers = Object.values(vector).map((value) => tierOf(value as number))
  if (tiers.includes('contraindicated')) return 'contraindicated'
  if (tiers.includes('warning')) return 'warning'
  return 'affirming'
}

/** The verdict a status of the attestation service states (none without a device or a policy). */
export function verdictOfStatus(status: PeerStatus | undefined): EarVerdict | undefined {
  if (status?.deviceId === undefined || status.policyId === undefined) return undefined
  return {
    deviceId: status.deviceId,
    trusted: status.trusted,
    ...(status.kind === undefined ? {} : { kind: status.kind }),
    ...(status.codes === undefined ? {} : { codes: status.codes }),
    at: Date.parse(status.at),
    policyId: status.policyId
  }
}
