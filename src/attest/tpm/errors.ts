import { FleetError, MalformedInputError } from '../../common/index.js'

/** TSS2 error layers (bits 16..23 of a TSS2_RC). Layer 0 is a response code from the TPM itself. */
const LAYER_TPM = 0
const LAYER_NAMES: Record<number, string> = { 0: 'tpm', 6: 'sys', 7: 'esapi', 8: 'sys', 10: 'tcti', 11: 'resmgr' }

/** Format-one response codes carry a handle/session/parameter number; this strips it. */
export function baseResponseCode(rc: number): number {
  const code = rc & 0xffff
  return (code & 0x080) !== 0 ? code & 0x0bf : code & 0xfff
}

/** TPM response codes this project reacts to (TPM 2.0 Part 2, TPM_RC). */
export const TPM_RC = {
  INITIALIZE: 0x100,
  VALUE: 0x084,
  HANDLE: 0x08b,
  POLICY_FAIL: 0x09d,
  POLICY: 0x126,
  INTEGRITY: 0x09f,
  PCR_CHANGED: 0x128,
  OBJECT_MEMORY: 0x902,
  RETRY: 0x922
} as const

/**
 * What full object slots (TPM_RC_OBJECT_MEMORY) usually mean: a TPM used without a resource
 * manager (swtpm, /dev/tpm0) keeps the objects of a program that was killed until it restarts.
 */
const OBJECT_MEMORY_HINT =
  ': its object slots are full, held by another program or left by one that was interrupted; without a resource manager (swtpm, /dev/tpm0) they stay until the TPM restarts: use /dev/tpmrm0, or restart the software TPM, or flush them (tpm2_flushcontext --transient-object) while nothing else uses it'

/**
 * Thrown when a TPM command fails: a response code from the TPM, or an error of the TSS layers
 * below it. `rc` is the full TSS2_RC, `rcText` its decoded text (Tss2_RC_Decode).
 */
export class TpmCommandError extends FleetError {
  readonly tcti: string
  readonly op: string
  readonly rc: number
  readonly rcText: string
  readonly layer: string

  constructor(tcti: string, op: string, rc: number, rcText: string) {
    const hint =
      ((rc >>> 16) & 0xff) === LAYER_TPM && baseResponseCode(rc) === TPM_RC.OBJECT_MEMORY ? OBJECT_MEMORY_HINT : ''
    super(`TPM ${op} failed on ${tcti}: ${rcText} (0x${rc.toString(16)})${hint}`, { code: 'ERR_TPM_COMMAND' })
    this.tcti = tcti
    this.op = op
    this.rc = rc
    this.rcText = rcText
    this.layer = LAYER_NAMES[(rc >>> 16) & 0xff] ?? 'unknown'
  }

  /** The TPM's own response code without handle/parameter numbering, or undefined for TSS errors. */
  get tpmResponseCode(): number | undefined {
    return ((this.rc >>> 16) & 0xff) === LAYER_TPM ? baseResponseCode(this.rc) : undefined
  }
}

/** Thrown when the TPM named by a TCTI cannot be reached (no device, no socket, refused). */
export class TpmUnavailableError extends FleetError {
  readonly tcti: string
  constructor(tcti: string, reason: string) {
    super(`no TPM reachable at ${tcti}: ${reason}`, { code: 'ERR_TPM_UNAVAILABLE' })
    this.tcti = tcti
  }
}

/** Thrown when a TPM command does not answer within its deadline; the context is then unusable. */
export class TpmTimeoutError extends FleetError {
  readonly tcti: string
  readonly op: string
  readonly timeoutMs: number
  constructor(tcti: string, op: string, timeoutMs: number) {
    super(`TPM ${op} on ${tcti} did not answer within ${timeoutMs} ms`, { code: 'ERR_TPM_TIMEOUT' })
    this.tcti = tcti
    this.op = op
    this.timeoutMs = timeoutMs
  }
}

/** Thrown when a TPM is used after close(), or after a timeout made its context unusable. */
export class TpmClosedError extends FleetError {
  constructor(tcti: string) {
    super(`the TPM context for ${tcti} is closed`, { code: 'ERR_TPM_CLOSED' })
  }
}

/**
 * Thrown when a TPM stopped answering while it was in use (`fleet run`): a command passed its
 * deadline or the connection broke. `cause` is the typed error that showed it (TpmTimeoutError,
 * TpmUnavailableError, or a TSS error of the connection). Nothing stored depends on the lost
 * command; a new context on a TPM that is back resumes the work.
 */
export class TpmLostError extends FleetError {
  readonly tcti: string
  constructor(tcti: string, cause: Error) {
    const code = (cause as { code?: unknown }).code
    super(`the TPM at ${tcti} stopped answering (${typeof code === 'string' ? `${code}: ` : ''}${cause.message})`, {
      code: 'ERR_TPM_LOST',
      cause
    })
    this.tcti = tcti
  }
}

/** Thrown when a TCTI string is not one this project accepts. Exit code 2. */
export class InvalidTctiError extends MalformedInputError {
  constructor(tcti: string, reason: string) {
    super(`invalid TCTI "${tcti}": ${reason} (expected device:/dev/tpmrm0, swtpm:path=SOCKET or swtpm:host=H,port=P)`, {
      code: 'ERR_INVALID_TCTI'
    })
  }
}

/**
 * Thrown when a key blob does not load into this TPM: it was wrapped by another TPM (a copied state
 * directory) or has been altered.
 */
export class TpmKeyLoadError extends FleetError {
  readonly tcti: string
  readonly rc: number
  constructor(tcti: string, rc: number, rcText: string) {
    super(`a stored key does not load into the TPM at ${tcti} (made by another TPM, or altered): ${rcText}`, {
      code: 'ERR_TPM_KEY_LOAD'
    })
    this.tcti = tcti
    this.rc = rc
  }
}

/** Thrown when the TPM refuses to unseal because the policy (e.g. PCR values) is not satisfied. */
export class UnsealRefusedError extends FleetError {
  readonly tcti: string
  readonly rc: number
  constructor(tcti: string, rc: number, rcText: string) {
    super(`the TPM at ${tcti} refused to unseal: its policy is not satisfied (${rcText})`, {
      code: 'ERR_TPM_UNSEAL_REFUSED'
    })
    this.tcti = tcti
    this.rc = rc
  }
}

/**
 * Thrown when the NV index at a counter's handle is not a monotonic counter as this project
 * defines it (another type, other attributes, another nameAlg, a policy): someone defined it
 * first, and its value cannot be trusted never to go back.
 */
export class NvCounterUntrustedError extends FleetError {
  readonly tcti: string
  readonly nvIndex: number
  /** TPMA_NV of the index found (0 when not read). */
  readonly attributes: number
  readonly nameAlg: number
  readonly reason: string
  constructor(tcti: string, nvIndex: number, attributes: number, nameAlg: number, reason: string) {
    super(`the NV index 0x${nvIndex.toString(16)} on ${tcti} is not a trusted monotonic counter: ${reason}`, {
      code: 'ERR_TPM_NV_COUNTER_UNTRUSTED'
    })
    this.tcti = tcti
    this.nvIndex = nvIndex
    this.attributes = attributes
    this.nameAlg = nameAlg
    this.reason = reason
  }
}

/**
 * Thrown when an approval's epoch has been withdrawn: the TPM's approval-epoch counter is past the
 * epoch the approval is valid for (TPM2_PolicyNV fails), so it can never release keys again.
 */
export class ApprovalWithdrawnError extends FleetError {
  readonly tcti: string
  readonly nvIndex: number
  readonly epoch: bigint
  readonly counter: bigint | undefined
  constructor(tcti: string, nvIndex: number, epoch: bigint, counter: bigint | undefined) {
    super(
      `the TPM at ${tcti} refused to unseal: the approval is for epoch ${epoch}, withdrawn (the approval-epoch counter 0x${nvIndex.toString(16)} is at ${counter ?? 'a higher value'})`,
      { code: 'ERR_TPM_APPROVAL_WITHDRAWN' }
    )
    this.tcti = tcti
    this.nvIndex = nvIndex
    this.epoch = epoch
    this.counter = counter
  }
}

/** Thrown when the swtpm harness cannot set up, start or stop a software TPM. */
export class SwtpmError extends FleetError {
  readonly dir: string
  constructor(dir: string, message: string) {
    super(`software TPM in ${dir}: ${message}`, { code: 'ERR_SWTPM' })
    this.dir = dir
  }
}

/** The TPM response code of a failed native call (TPM layer only), without format bits; else undefined. */
export function tpmCode(err: unknown): number | undefined {
  const rc = (err as { rc?: unknown })?.rc
  if (typeof rc !== 'number' || ((rc >>> 16) & 0xff) !== 0) return undefined
  return baseResponseCode(rc)
}
