import { readFile } from 'node:fs/promises'
import path from 'node:path'
import { MalformedInputError, writeFileDurably } from '../../common/index.js'
import type { PcrSelection, SealedSecretJson } from '../../attest/index.js'
import { DEVICE_LIMITS } from './limits.js'

/**
 * The device's state file (DIR/device.json). It holds public data and TPM-wrapped blobs only:
 * nothing in it is usable without this device's TPM. Frozen format: fields are only added with a
 * new version; readers refuse versions and fields they do not know.
 *   version 1: seeds sealed to the PCR values at fleet init;
 *   version 2: seeds sealed to the fleet owner (TPM2_PolicyAuthorize, policyRef fleet-release-v1),
 *              with the owner's version-1 approvals (PolicyPCR only: they cannot be withdrawn);
 *   version 3: as version 2, with policyRef fleet-release-v2 and version-2 approvals (PolicyPCR
 *              then PolicyNV on the approval-epoch counter: withdrawable). Same fields as 2.
 * An enrolled device of version 1 also keeps its seeds sealed to the owner in a file of their own
 * (owner-copy.ts), for a first approval installed in another boot state.
 */
export interface DeviceState {
  version: 1 | 2 | 3
  deviceId: string
  tcti: string
  endorsementKey: { kind: 'rsa'; public: string; certificate?: string }
  attestationKey: { public: string; private: string }
  signingKey: { public: string; private: string; certify: { attest: string; signature: string; nonce: string } }
  mldsa: { publicKey: string; sealed: SealedSecretJson }
  peer: { peerId: string; sealed: SealedSecretJson }
  sealing: { selection: PcrSelection; agentPcr: number }
  createdAt: string
  /** Versions 2 and 3: owner-signed release approvals (release-approval.ts), newest last. */
  approvals?: ApprovalJson[]
}

export interface ApprovalJson {
  approval: string
  p256: string
  mldsa65: string
}

export const DEVICE_STATE_FILE = 'device.json'
const FIELDS_V1 = [
  'version',
  'deviceId',
  'tcti',
  'endorsementKey',
  'attestationKey',
  'signingKey',
  'mldsa',
  'peer',
  'sealing',
  'createdAt'
]
const FIELDS_V2 = [...FIELDS_V1, 'approvals']
/** Approvals kept in the state (the newest). */
export const MAX_STORED_APPROVALS = 8

/** Thrown when the state file is missing, unreadable, or not a valid version-1 device state. Exit 2. */
export class DeviceStateError extends MalformedInputError {
  constructor(file: string, reason: string) {
    super(`device state ${file}: ${reason}`, { code: 'ERR_DEVICE_STATE' })
  }
}

export async function readDeviceState(dir: string): Promise<DeviceState> {
  const file = path.join(dir, DEVICE_STATE_FILE)
  let text: string
  try {
    text = await readFile(file, 'utf8')
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code
    throw new DeviceStateError(
      file,
      code === 'ENOENT' ? 'not found (run fleet init first)' : `cannot read (${code ?? String(err)})`
    )
  }
  if (text.length > DEVICE_LIMITS.maxStateBytes) throw new DeviceStateError(file, 'too large')
  let value: unknown
  try {
    value = JSON.parse(text)
  } catch (err) {
    throw new DeviceStateError(file, `not JSON (${(err as Error).message})`)
  }
  const state = value as Record<string, unknown>
  if (typeof value !== 'object' || value === null || Array.isArray(value))
    throw new DeviceStateError(file, 'not a JSON object')
  if (state.version !== 1 && state.version !== 2 && state.version !== 3)
    throw new DeviceStateError(file, `unsupported version ${JSON.stringify(state.version)}`)
  const fields = state.version === 1 ? FIELDS_V1 : FIELDS_V2
  for (const key of Object.keys(state))
    if (!fields.includes(key)) throw new DeviceStateError(file, `unknown field "${key}"`)
  for (const key of fields) if (state[key] === undefined) throw new DeviceStateError(file, `missing field "${key}"`)
  if (typeof state.deviceId !== 'string' || !/^[a-z2-7]{52}$/.test(state.deviceId))
    throw new DeviceStateError(file, 'bad deviceId')
  checkNested(file, value as DeviceState)
  return value as DeviceState
}

/** Writes atomically (temp file + rename), so a crash never leaves a half-written state file. */
export async function writeDeviceState(dir: string, state: DeviceState): Promise<void> {
  await writeFileDurably(path.join(dir, DEVICE_STATE_FILE), `${JSON.stringify(state, null, 2)}\n`)
}

const BASE64 = /^[A-Za-z0-9+/]*={0,2}$/

/** Every nested field the agent reads, checked here so a doctored file fails as input, not later. */
function checkNested(file: string, state: DeviceState): void {
  const fail = (field: string): never => {
    throw new DeviceStateError(file, `bad field "${field}"`)
  }
  const base64Field = (value: unknown, field: string, max = 16 * 1024): void => {
    if (typeof value !== 'string' || value.length === 0 || value.length > max || !BASE64.test(value)) fail(field)
  }
  const object = (value: unknown, field: string): Record<string, unknown> => {
    if (typeof value !== 'object' || value === null || Array.isArray(value)) fail(field)
    return value as Record<string, unknown>
  }
  const sealed = (value: unknown, field: string): void => {
    const s = object(value, field)
    const blob = object(s.blob, `${field}.blob`)
    base64Field(blob.public, `${field}.blob.public`)
    base64Field(blob.private, `${field}.blob.private`)
    selection(s.selection, `${field}.selection`)
    if (s.expected !== undefined) {
      const expected = object(s.expected, `${field}.expected`)
      for (const [pcr, hex] of Object.entries(expected))
        if (!/^\d{1,2}$/.test(pcr) || typeof hex !== 'string' || !/^[0-9a-f]{64}$/.test(hex)) fail(`${field}.expected`)
    }
    // Version 1 seals to PCR values; versions 2 and 3 to the owner.
    if (
      (state.version === 1) !== (s.authority === undefined) ||
      (s.expected !== undefined && s.authority !== undefined)
    )
      fail(`${field}.authority`)
    if (s.authority !== undefined) {
      const authority = object(s.authority, `${field}.authority`)
      if (
        typeof authority.point !== 'string' ||
        !/^04[0-9a-f]{128}$/.test(authority.point) ||
        typeof authority.policyRef !== 'string' ||
        !/^[0-9a-f]{64}$/.test(authority.policyRef)
      )
        fail(`${field}.authority`)
    }
  }
  const selection = (value: unknown, field: string): void => {
    if (!Array.isArray(value) || value.length === 0 || value.length > 4) fail(field)
    for (const bank of value as unknown[]) {
      const b = object(bank, field)
      if (
        b.hash !== 'sha256' ||
        !Array.isArray(b.pcrs) ||
        b.pcrs.length === 0 ||
        b.pcrs.length > 24 ||
        !b.pcrs.every((p) => Number.isInteger(p) && p >= 0 && p < 24)
      )
        fail(field)
    }
  }
  if (typeof state.tcti !== 'string' || state.tcti.length > 512) fail('tcti')
  const ek = object(state.endorsementKey, 'endorsementKey')
  if (ek.kind !== 'rsa') fail('endorsementKey.kind')
  base64Field(ek.public, 'endorsementKey.public')
  if (ek.certificate !== undefined) base64Field(ek.certificate, 'endorsementKey.certificate')
  const ak = object(state.attestationKey, 'attestationKey')
  base64Field(ak.public, 'attestationKey.public')
  base64Field(ak.private, 'attestationKey.private')
  const dsk = object(state.signingKey, 'signingKey')
  base64Field(dsk.public, 'signingKey.public')
  base64Field(dsk.private, 'signingKey.private')
  const certify = object(dsk.certify, 'signingKey.certify')
  for (const key of ['attest', 'signature', 'nonce']) base64Field(certify[key], `signingKey.certify.${key}`)
  const mldsa = object(state.mldsa, 'mldsa')
  base64Field(mldsa.publicKey, 'mldsa.publicKey')
  sealed(mldsa.sealed, 'mldsa.sealed')
  const peer = object(state.peer, 'peer')
  if (typeof peer.peerId !== 'string' || !/^[1-9A-HJ-NP-Za-km-z]{40,64}$/.test(peer.peerId)) fail('peer.peerId')
  sealed(peer.sealed, 'peer.sealed')
  const sealing = object(state.sealing, 'sealing')
  selection(sealing.selection, 'sealing.selection')
  if (!Number.isInteger(sealing.agentPcr) || (sealing.agentPcr as number) < 16 || (sealing.agentPcr as number) > 23)
    fail('sealing.agentPcr')
  if (typeof state.createdAt !== 'string' || state.createdAt.length > 64) fail('createdAt')
  if (state.version !== 1) {
    if (
      !Array.isArray(state.approvals) ||
      state.approvals.length === 0 ||
      state.approvals.length > MAX_STORED_APPROVALS
    )
      fail('approvals')
    state.approvals!.forEach((value, i) => {
      const a = object(value, `approvals[${i}]`)
      if (Object.keys(a).length !== 3) fail(`approvals[${i}]`)
      base64Field(a.approval, `approvals[${i}].approval`)
      base64Field(a.p256, `approvals[${i}].p256`, 128)
      base64Field(a.mldsa65, `approvals[${i}].mldsa65`)
    })
  }
}
