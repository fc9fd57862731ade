/** What a failed native call means, as this project's typed errors (errors.ts). */
import { FleetError } from '../../common/index.js'
import { TpmCommandError, TpmUnavailableError } from './errors.js'
import { unreachableHint } from './tcti.js'

/** A native call's failure as a typed error: the TPM unreachable (TCTI layer), or a command's response code. */
export function translateNativeError(tcti: string, op: string, err: unknown): Error {
  if (err instanceof FleetError) return err
  if (!(err instanceof Error) || (err as { rc?: unknown }).rc === undefined) {
    return err instanceof Error ? err : new Error(String(err))
  }
  const { rc, rcText, op: nativeOp } = err as unknown as { rc: number; rcText: string; op: string }
  const layer = (rc >>> 16) & 0xff
  if (layer === 0x0a || rc === 0xffff0001) {
    const hint = unreachableHint(tcti)
    return new TpmUnavailableError(tcti, hint === undefined ? rcText : `${hint} (${rcText})`)
  }
  return new TpmCommandError(tcti, nativeOp ?? op, rc, rcText)
}

/** ESAPI's TSS2_ESYS_RC_BAD_SEQUENCE: a command was started while an earlier one never finished. */
const ESYS_BAD_SEQUENCE = 0x70007

/** Whether a failed command means the connection to the TPM is gone (rather than a refusal by the TPM). */
export function connectionLost(err: Error): boolean {
  if (err instanceof TpmUnavailableError) return true
  return err instanceof TpmCommandError && (err.layer === 'tcti' || err.rc === ESYS_BAD_SEQUENCE)
}
