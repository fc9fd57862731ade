import { FleetError, bytesEqual, toHex, toBase64, fromBase64 } from '../common/index.js'
import type { HashAlg, PcrSelection, PcrValues } from './pcrs.js'
import type { P256Signer } from '../identity/index.js'
import {
  externalVerificationKey,
  marshalPublic,
  objectName,
  policyAuthorize,
  policyPcr,
  policyNv,
  TPM_EO,
  ZERO_POLICY,
  p1363ToSignature,
  marshalSignature
} from './tpm2/index.js'
import { counterBytes, counterNvName } from './tpm/nv-counter.js'
import type { KeyBlob, Tpm, TpmCallOptions } from './tpm/tpm.js'
import { UnsealRefusedError } from './tpm/errors.js'

/**
 * A secret sealed in the TPM with the PCR values it was sealed to (public information, kept so
 * that a refusal can say which PCRs differ).
 */
export interface SealedSecret {
  readonly blob: KeyBlob
  readonly selection: PcrSelection
  /** sha256 PCR values the secret is released under (for a direct PCR policy). */
  readonly expected?: Record<string, string>
  /** For PolicyAuthorize: the authority's P-256 point and the policyRef. */
  readonly authority?: { readonly point: string; readonly policyRef: string }
}

/**
 * An authority's signed approval of a PCR state, for secrets sealed to that authority. With an
 * `epoch`, the approved policy is PolicyPCR then PolicyNV(counter ≤ epoch): the approval holds
 * while the TPM's approval-epoch counter at `nvIndex` has not gone past `epoch`, and raising the
 * counter withdraws it for good (TPM counters never go back).
 */
export interface PcrApproval {
  readonly selection: PcrSelection
  readonly values: Record<string, string>
  readonly approvedPolicy: string
  readonly policyRef: string
  /** P-256 ECDSA over SHA-256(approvedPolicy ‖ policyRef), IEEE P1363. */
  readonly signature: string
  readonly epoch?: ApprovalEpoch
}

/** The approval-epoch counter an approval is bound to, and the highest value it is valid at. */
export interface ApprovalEpoch {
  readonly nvIndex: number
  readonly epoch: bigint
}

/** The policy an authority approves: these PCR values, and (with `epoch`) the counter at most at it. */
export function approvedPolicyDigest(selection: PcrSelection, values: PcrValues, epoch?: ApprovalEpoch): Uint8Array {
  const pcrs = policyPcr(ZERO_POLICY, selection, values)
  return epoch === undefined
    ? pcrs
    : policyNv(pcrs, counterNvName(epoch.nvIndex), counterBytes(epoch.epoch), 0, TPM_EO.UNSIGNED_LE)
}

/** Thrown when key release is refused: the PCRs differ from what the secret is bound to. */
export class KeyReleaseRefusedError extends FleetError {
  readonly differences: ReadonlyArray<{ pcr: number; expected: string; actual: string }>
  constructor(differences: Array<{ pcr: number; expected: string; actual: string }>, detail: string, hint?: string) {
    const list = differences
      .map((d) => `PCR ${d.pcr} is ${d.actual.slice(0, 16)}…, expected ${d.expected.slice(0, 16)}…`)
      .join('; ')
    super(`keys stay sealed: ${list === '' ? detail : list}${hint === undefined ? '' : ` (${hint})`}`, {
      code: 'ERR_KEY_RELEASE_REFUSED'
    })
    this.differences = differences
  }
}

function valuesToHex(selection: PcrSelection, values: PcrValues): Record<string, string> {
  const out: Record<string, string> = {}
  for (const bank of selection)
    for (const pcr of bank.pcrs) {
      const value = values[bank.hash]?.get(pcr)
      if (value !== undefined) out[String(pcr)] = toHex(value)
    }
  return out
}

function hexToValues(selection: PcrSelection, hex: Record<string, string>): PcrValues {
  const out: PcrValues = {}
  for (const bank of selection)
    out[bank.hash] = new Map(bank.pcrs.map((pcr) => [pcr, new Uint8Array(Buffer.from(hex[String(pcr)] ?? '', 'hex'))]))
  return out
}

/** Seals `secret` to exactly these PCR values (TPM2_PolicyPCR). */
export async function sealToPcrs(
  tpm: Tpm,
  secret: Uint8Array,
  selection: PcrSelection,
  values: PcrValues,
  options: TpmCallOptions = {}
): Promise<SealedSecret> {
  const blob = await tpm.seal(secret, policyPcr(ZERO_POLICY, selection, values), options)
  return { blob, selection, expected: valuesToHex(selection, values) }
}

/**
 * Seals `secret` to an authority (TPM2_PolicyAuthorize): released under any PCR state the
 * authority signs an approval for, so an approved new boot state needs no re-sealing.
 */
export async function sealToAuthority(
  tpm: Tpm,
  secret: Uint8Array,
  selection: PcrSelection,
  authorityPoint: Uint8Array,
  policyRef: Uint8Array,
  options: TpmCallOptions = {}
): Promise<SealedSecret> {
  const name = objectName(externalVerificationKey(authorityPoint))
  const blob = await tpm.seal(secret, policyAuthorize(name, policyRef), options)
  return { blob, selection, authority: { point: toHex(authorityPoint), policyRef: toHex(policyRef) } }
}

/**
 * Seals `secret` under the same policy as `like`: to the same PCR values, or to the same
 * authority and policyRef. A workload's secret is sealed alike with the device's own keys, so
 * that exactly the boot states that release those release it.
 */
export async function sealAlike(
  tpm: Tpm,
  secret: Uint8Array,
  like: SealedSecret,
  options: TpmCallOptions = {}
): Promise<SealedSecret> {
  if (like.authority !== undefined)
    return await sealToAuthority(
      tpm,
      secret,
      like.selection,
      new Uint8Array(Buffer.from(like.authority.point, 'hex')),
      new Uint8Array(Buffer.from(like.authority.policyRef, 'hex')),
      options
    )
  return await sealToPcrs(tpm, secret, like.selection, hexToValues(like.selection, like.expected ?? {}), options)
}

/** The authority approves a PCR state (while the approval-epoch counter is at most `epoch`, if given). */
export async function approvePcrState(
  authority: P256Signer,
  selection: PcrSelection,
  values: PcrValues,
  policyRef: Uint8Array,
  epoch?: ApprovalEpoch
): Promise<PcrApproval> {
  const approvedPolicy = approvedPolicyDigest(selection, values, epoch)
  // ECDSA-SHA256 over (approvedPolicy ‖ policyRef) is a signature over aHash, as the TPM checks it.
  const signature = await authority.sign(new Uint8Array(Buffer.concat([approvedPolicy, policyRef])))
  const approval = {
    selection,
    values: valuesToHex(selection, values),
    approvedPolicy: toHex(approvedPolicy),
    policyRef: toHex(policyRef),
    signature: toHex(signature)
  }
  return epoch === undefined ? approval : { ...approval, epoch }
}

/**
 * Unseals a secret. On refusal, reads the current PCRs and reports exactly which differ from the
 * values the secret (or the approval) is bound to. An approval whose epoch has been withdrawn is
 * refused by the TPM with ApprovalWithdrawnError.
 */
export async function releaseSecret(
  tpm: Tpm,
  sealed: SealedSecret,
  approval?: PcrApproval,
  options: TpmCallOptions = {}
): Promise<Uint8Array> {
  const expected = approval?.values ?? sealed.expected ?? {}
  try {
    if (sealed.authority !== undefined) {
      if (approval === undefined)
        throw new KeyReleaseRefusedError([], 'the secret is sealed to an authority and no approval was given')
      const authorize = {
        approvedPolicy: new Uint8Array(Buffer.from(approval.approvedPolicy, 'hex')),
        policyRef: new Uint8Array(Buffer.from(approval.policyRef, 'hex')),
        authorityPublic: marshalPublic(
          externalVerificationKey(new Uint8Array(Buffer.from(sealed.authority.point, 'hex')))
        ),
        signature: marshalSignature(p1363ToSignature(new Uint8Array(Buffer.from(approval.signature, 'hex')))),
        epoch: approval.epoch
      }
      return await tpm.unseal(sealed.blob, { pcrs: approval.selection, authorize }, options)
    }
    return await tpm.unseal(sealed.blob, { pcrs: sealed.selection }, options)
  } catch (err) {
    if (!(err instanceof UnsealRefusedError)) throw err
    const selection = approval?.selection ?? sealed.selection
    const current = await tpm.readPcrs(selection, options)
    throw new KeyReleaseRefusedError(differingPcrs(selection, current, hexToValues(selection, expected)), err.message)
  }
}

/** The PCRs of `selection` whose current value is not the wanted one (for KeyReleaseRefusedError). */
export function differingPcrs(
  selection: PcrSelection,
  current: PcrValues,
  wanted: PcrValues
): Array<{ bank: HashAlg; pcr: number; expected: string; actual: string }> {
  const differences: Array<{ bank: HashAlg; pcr: number; expected: string; actual: string }> = []
  for (const bank of selection)
    for (const pcr of bank.pcrs) {
      const actual = current[bank.hash]?.get(pcr) ?? new Uint8Array(0)
      const want = wanted[bank.hash]?.get(pcr) ?? new Uint8Array(0)
      if (!bytesEqual(actual, want))
        differences.push({ bank: bank.hash, pcr, expected: toHex(want), actual: toHex(actual) })
    }
  return differences
}

/** A sealed secret as stored in the state files (base64 blobs). */
export interface SealedSecretJson {
  blob: { public: string; private: string }
  selection: PcrSelection
  expected?: Record<string, string>
  authority?: { point: string; policyRef: string }
}

export function sealedToJson(sealed: SealedSecret): SealedSecretJson {
  return {
    blob: { public: toBase64(sealed.blob.public), private: toBase64(sealed.blob.private) },
    selection: sealed.selection,
    expected: sealed.expected,
    authority: sealed.authority
  }
}

export function sealedFromJson(json: SealedSecretJson): SealedSecret {
  return {
    blob: { public: fromBase64(json.blob.public), private: fromBase64(json.blob.private) },
    selection: json.selection,
    expected: json.expected,
    authority: json.authority
  }
}
