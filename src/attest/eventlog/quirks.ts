import { EV } from './types.js'

/**
 * A named workaround for firmware or kernels whose logs do not replay as the spec says although
 * the boot was measured faithfully. verifyEventLog tries one only after the plain replay failed on
 * `pcr`, and the verified log names the one that made the replay match.
 */
export interface EventLogQuirk {
  readonly name: string
  /** The PCR whose mismatch this quirk can explain; it is not tried for mismatches elsewhere. */
  readonly pcr: number
  /** Where the quirk was seen and why the workaround is sound. */
  readonly reason: string
  /**
   * Events measured by the firmware but missing from the log, appended to the log's events (the
   * digest of each is computed over its data, in every bank).
   */
  readonly missingEvents: ReadonlyArray<{ readonly pcr: number; readonly type: number; readonly data: string }>
}

const EBS_INVOCATION = 'Exit Boot Services Invocation'
const EBS_SUCCESS = 'Exit Boot Services Returned with Success'
const EBS_FAILURE = 'Exit Boot Services Returned with Failure'

const ebsReason =
  'UEFI firmware measures EV_EFI_ACTION "Exit Boot Services Invocation" and its outcome into PCR 5 ' +
  'inside ExitBootServices(), after the OS loader copied the log; a kernel that does not append the EFI final ' +
  'events table (EFI_TCG2_FINAL_EVENTS_TABLE) to its copy hands out a log without them. The events are fixed strings, so appending them adds nothing an ' +
  'attacker could choose; the replay must still match the quote. Same workaround as google/go-attestation ' +
  '(attest/eventlog_workarounds.go: "EBS Invocation + Success", "+ Failure", "+ Failure + Success").'

/** Tried in this order; the first that makes every quoted PCR match wins. Do NOT reorder: results name the quirk. */
export const EVENTLOG_QUIRKS: readonly EventLogQuirk[] = Object.freeze(
  [
    {
      name: 'exit-boot-services-events-missing',
      pcr: 5,
      reason: ebsReason,
      missingEvents: [
        { pcr: 5, type: EV.EV_EFI_ACTION, data: EBS_INVOCATION },
        { pcr: 5, type: EV.EV_EFI_ACTION, data: EBS_SUCCESS }
      ]
    },
    {
      name: 'exit-boot-services-failure-events-missing',
      pcr: 5,
      reason: ebsReason,
      missingEvents: [
        { pcr: 5, type: EV.EV_EFI_ACTION, data: EBS_INVOCATION },
        { pcr: 5, type: EV.EV_EFI_ACTION, data: EBS_FAILURE }
      ]
    },
    {
      name: 'exit-boot-services-failure-then-success-events-missing',
      pcr: 5,
      reason: ebsReason,
      missingEvents: [
        { pcr: 5, type: EV.EV_EFI_ACTION, data: EBS_INVOCATION },
        { pcr: 5, type: EV.EV_EFI_ACTION, data: EBS_FAILURE },
        { pcr: 5, type: EV.EV_EFI_ACTION, data: EBS_SUCCESS }
      ]
    }
  ].map((quirk) => Object.freeze(quirk))
)
