import { createHash } from 'node:crypto'
import { readFile } from 'node:fs/promises'
import path from 'node:path'
import {
  FleetError,
  MalformedInputError,
  toBase64,
  fromBase64,
  writeFileDurably,
  makeDirectory
} from '../../common/index.js'
import {
  parseBootPolicy,
  bootPolicyId,
  canonicalPolicyJson,
  parsePublic,
  checkAttestationKey,
  checkDeviceSigningKey,
  type BootPolicy
} from '../../attest/index.js'
import {
  DOMAIN,
  verifyHybrid,
  type HybridPublicKey,
  type HybridSignature,
  type HybridSigner
} from '../../identity/index.js'
import { decodeCanonical, encodeCanonical } from '../../codec/index.js'
import { ownerFeedId } from '../../ledger/index.js'
import { verifyGenesis } from '../owner/index.js'
import { HOSTNAME_PATTERN } from './ceremony.js'

/** What a device is enrolled as (the ontology's device.enrol roles). */
export const DEVICE_ROLES = ['workstation', 'server', 'hub'] as const
export type DeviceRole = (typeof DEVICE_ROLES)[number]

/**
 * The owner's statement that admits a device, version 1 (canonical CBOR, hybrid-signed by the
 * owner with DOMAIN.enrolment). It binds the hardware (EK), the keys that speak for the device
 * (AK, DSK, ML-DSA-65), its Noise identity (PeerId) and the boot policy it was judged by.
 */
export interface EnrolmentRecord {
  v: 1
  kind: 'enrolment'
  fleet: Uint8Array
  deviceId: string
  ekPubHash: Uint8Array
  akPub: Uint8Array
  dskPub: Uint8Array
  pqPub: Uint8Array
  peerId: string
  role: DeviceRole
  policyId: string
  hostname: string
  issuedAt: number
}

export interface SignedEnrolment {
  record: Uint8Array
  signature: HybridSignature
}

/** Thrown when an enrolment record is malformed, not signed by this fleet's owner, or not for this device. */
export class EnrolmentRecordError extends FleetError {
  constructor(reason: string) {
    super(`enrolment record: ${reason}`, { code: 'ERR_ENROLMENT_RECORD' })
  }
}

const RECORD_FIELDS = [
  'v',
  'kind',
  'fleet',
  'deviceId',
  'ekPubHash',
  'akPub',
  'dskPub',
  'pqPub',
  'peerId',
  'role',
  'policyId',
  'hostname',
  'issuedAt'
]
  .sort()
  .join(',')
const MAX_RECORD_BYTES = 8 * 1024

export function encodeEnrolmentRecord(record: EnrolmentRecord): Uint8Array {
  return encodeCanonical(record)
}

export async function signEnrolmentRecord(record: EnrolmentRecord, owner: HybridSigner): Promise<SignedEnrolment> {
  const bytes = encodeEnrolmentRecord(record)
  return { record: bytes, signature: await owner.sign(DOMAIN.enrolment, bytes) }
}

/**
 * Decodes a record strictly and checks the owner's hybrid signature, the fleet, and that the AK
 * and DSK it names were made inside a TPM (checkAttestationKey, checkDeviceSigningKey): a record
 * signed for a software key, by a mistaken or older owner, is not trusted offline either.
 */
export function verifyEnrolmentRecord(
  signed: SignedEnrolment,
  owner: { key: HybridPublicKey; fleetId: Uint8Array }
): EnrolmentRecord {
  let value: unknown
  try {
    value = decodeCanonical(signed.record, { maxBytes: MAX_RECORD_BYTES })
  } catch (err) {
    throw new EnrolmentRecordError((err as Error).message)
  }
  const r = value as EnrolmentRecord
  if (typeof value !== 'object' || value === null || Object.keys(value).sort().join(',') !== RECORD_FIELDS)
    throw new EnrolmentRecordError('not a version-1 record')
  if (
    r.v !== 1 ||
    r.kind !== 'enrolment' ||
    !(r.fleet instanceof Uint8Array) ||
    r.fleet.length !== 32 ||
    typeof r.deviceId !== 'string' ||
    !/^[a-z2-7]{52}$/.test(r.deviceId) ||
    !(r.ekPubHash instanceof Uint8Array) ||
    r.ekPubHash.length !== 32 ||
    !(r.akPub instanceof Uint8Array) ||
    r.akPub.length > 1024 ||
    !(r.dskPub instanceof Uint8Array) ||
    r.dskPub.length > 1024 ||
    !(r.pqPub instanceof Uint8Array) ||
    r.pqPub.length !== 1952 ||
    typeof r.peerId !== 'string' ||
    r.peerId.length > 128 ||
    !(DEVICE_ROLES as readonly string[]).includes(r.role) ||
    typeof r.policyId !== 'string' ||
    !/^[0-9a-f]{64}$/.test(r.policyId) ||
    typeof r.hostname !== 'string' ||
    !new RegExp(HOSTNAME_PATTERN).test(r.hostname) ||
    !Number.isSafeInteger(r.issuedAt)
  ) {
    throw new EnrolmentRecordError('a field has the wrong type or size')
  }
  if (Buffer.compare(r.fleet, owner.fleetId) !== 0) throw new EnrolmentRecordError('it belongs to another fleet')
  try {
    verifyHybrid(owner.key, DOMAIN.enrolment, signed.record, signed.signature)
  } catch (err) {
    throw new EnrolmentRecordError(`not signed by this fleet's owner (${(err as Error).message})`)
  }
  try {
    checkAttestationKey(parsePublic(r.akPub))
    checkDeviceSigningKey(parsePublic(r.dskPub))
  } catch (err) {
    throw new EnrolmentRecordError(`device ${r.deviceId}: ${(err as Error).message}`)
  }
  return r
}

/** The owner's own feed: named from the fleet, so it never collides with a device's feed. */
export { ownerFeedId }

export function ekPubHash(ekPublic: Uint8Array): Uint8Array {
  return new Uint8Array(createHash('sha256').update(ekPublic).digest())
}

/**
 * What an enrolled device keeps (DIR/enrolment.json): the owner-signed record, the fleet's genesis
 * statement (so the owner key and fleetId are re-derived, never trusted from the file) and the boot
 * policy the owner judges this fleet by.
 */
export interface DeviceEnrolment {
  fleetId: Uint8Array
  ownerKey: HybridPublicKey
  genesis: { statement: Uint8Array; signature: HybridSignature }
  signed: SignedEnrolment
  record: EnrolmentRecord
  policy: BootPolicy
}

export const ENROLMENT_FILE = 'enrolment.json'

/** Checks a complete enrolment bundle: genesis, owner signature, and that the record names this device and the policy. */
export function verifyDeviceEnrolment(
  input: {
    genesis: { statement: Uint8Array; signature: HybridSignature }
    signed: SignedEnrolment
    policy: Uint8Array | string
  },
  deviceId?: string
): DeviceEnrolment {
  const genesis = verifyGenesis(input.genesis.statement, input.genesis.signature)
  const fleetId = new Uint8Array(Buffer.from(genesis.fleetId, 'hex'))
  const record = verifyEnrolmentRecord(input.signed, { key: genesis.ownerKey, fleetId })
  if (deviceId !== undefined && record.deviceId !== deviceId)
    throw new EnrolmentRecordError(`it enrols ${record.deviceId}, not this device (${deviceId})`)
  const policy = parseBootPolicy(input.policy)
  if (bootPolicyId(policy) !== record.policyId)
    throw new EnrolmentRecordError('the boot policy is not the one the record names')
  return { fleetId, ownerKey: genesis.ownerKey, genesis: input.genesis, signed: input.signed, record, policy }
}

export async function writeDeviceEnrolment(dir: string, enrolment: DeviceEnrolment): Promise<void> {
  await makeDirectory(dir, { mode: 0o700 })
  const file = path.join(dir, ENROLMENT_FILE)
  const json = {
    version: 1,
    fleetId: Buffer.from(enrolment.fleetId).toString('hex'),
    deviceId: enrolment.record.deviceId,
    genesis: {
      statement: toBase64(enrolment.genesis.statement),
      p256: toBase64(enrolment.genesis.signature.p256),
      mldsa65: toBase64(enrolment.genesis.signature.mldsa65)
    },
    record: {
      bytes: toBase64(enrolment.signed.record),
      p256: toBase64(enrolment.signed.signature.p256),
      mldsa65: toBase64(enrolment.signed.signature.mldsa65)
    },
    policy: canonicalPolicyJson(enrolment.policy)
  }
  await writeFileDurably(file, `${JSON.stringify(json, null, 2)}\n`)
}

/** Reads DIR/enrolment.json and re-verifies all of it; undefined when the device is not enrolled. */
export async function readDeviceEnrolment(dir: string, deviceId: string): Promise<DeviceEnrolment | undefined> {
  const file = path.join(dir, ENROLMENT_FILE)
  let text: string
  try {
    text = await readFile(file, 'utf8')
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined
    throw new MalformedInputError(
      `enrolment ${file}: cannot read (${(err as NodeJS.ErrnoException).code ?? String(err)})`,
      { code: 'ERR_ENROLMENT_FILE' }
    )
  }
  const fail = (reason: string): never => {
    throw new MalformedInputError(`enrolment ${file}: ${reason}`, { code: 'ERR_ENROLMENT_FILE' })
  }
  if (text.length > 128 * 1024) fail('too large')
  let json: { version?: unknown; genesis?: Record<string, unknown>; record?: Record<string, unknown>; policy?: unknown }
  try {
    json = JSON.parse(text) as typeof json
  } catch {
    return fail('not JSON')
  }
  const str = (value: unknown, field: string): Uint8Array => {
    if (typeof value !== 'string' || value.length > 64 * 1024 || !/^[A-Za-z0-9+/]*={0,2}$/.test(value))
      fail(`bad field ${field}`)
    return fromBase64(value as string)
  }
  if (
    json?.version !== 1 ||
    typeof json.genesis !== 'object' ||
    json.genesis === null ||
    typeof json.record !== 'object' ||
    json.record === null ||
    typeof json.policy !== 'string'
  )
    fail('not a version-1 enrolment')
  return verifyDeviceEnrolment(
    {
      genesis: {
        statement: str(json.genesis!.statement, 'genesis.statement'),
        signature: {
          p256: str(json.genesis!.p256, 'genesis.p256'),
          mldsa65: str(json.genesis!.mldsa65, 'genesis.mldsa65')
        }
      },
      signed: {
        record: str(json.record!.bytes, 'record.bytes'),
        signature: { p256: str(json.record!.p256, 'record.p256'), mldsa65: str(json.record!.mldsa65, 'record.mldsa65') }
      },
      policy: json.policy as string
    },
    deviceId
  )
}

/** The owner's feed entry for an enrolment (appended before the device receives its record). */
export function enrolmentEntry(
  record: EnrolmentRecord,
  ownerName: string
): { type: 'device.enrol'; actor: { id: string; role: 'owner' }; attest: null; body: Record<string, unknown> } {
  return {
    type: 'device.enrol',
    actor: { id: `owner/${ownerName}`.slice(0, 128), role: 'owner' },
    attest: null,
    body: {
      deviceId: record.deviceId,
      ekPubHash: record.ekPubHash,
      akPub: record.akPub,
      dskPub: record.dskPub,
      pqPub: record.pqPub,
      peerId: record.peerId,
      role: record.role,
      policyId: record.policyId
    }
  }
}

/** A signed enrolment record as stored and passed between agents (CBOR: record, p256, mldsa65). */
export function encodeSignedEnrolment(signed: SignedEnrolment): Uint8Array {
  return encodeCanonical({ record: signed.record, p256: signed.signature.p256, mldsa65: signed.signature.mldsa65 })
}

/** Strict decoding of encodeSignedEnrolment's bytes (the signatures are not checked here). */
export function decodeSignedEnrolment(bytes: Uint8Array): SignedEnrolment {
  const value = decodeCanonical(bytes, { maxBytes: 16 * 1024 }) as {
    record?: unknown
    p256?: unknown
    mldsa65?: unknown
  }
  if (
    typeof value !== 'object' ||
    value === null ||
    Object.keys(value).length !== 3 ||
    !(value.record instanceof Uint8Array) ||
    !(value.p256 instanceof Uint8Array) ||
    !(value.mldsa65 instanceof Uint8Array)
  ) {
    throw new MalformedInputError('not a signed enrolment record', { code: 'ERR_MALFORMED_ENROLMENT' })
  }
  return { record: value.record, signature: { p256: value.p256, mldsa65: value.mldsa65 } }
}
