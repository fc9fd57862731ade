/**
 * owner.json: the fleet owner's public record and the wrapped or sealed forms of its keys, in one
 * of two forms. Both are read strictly (exact fields, bounded sizes) and re-verified on every
 * read: the genesis statement's signature, the fleetId as its hash, and the keys recorded as the
 * ones it names.
 *
 * Frozen forms (a change is a new version; fields are written in the order shown):
 *   version 1, a TPM-held owner (no `kind`; the form since the first release, read and written
 *     byte for byte as before): version, fleetId, name, tcti, genesis, signingKey (the TPM key's
 *     TPM2B_PUBLIC and TPM2B_PRIVATE), mldsa (public key, the seed sealed to the TPM and boot PCRs).
 *   version 2, kind 'pkcs11', a token-held owner: version, kind, fleetId, name, tcti (the TPM of
 *     the owner's machine, for the feed's clock and rollback counter), genesis, pkcs11 (the module
 *     path, the token's label and serial, the P-256 key's label and public key, the wrap key's
 *     label, the ML-DSA-65 public key and the seed sealed by the wrap key).
 */
import { readFile } from 'node:fs/promises'
import path from 'node:path'
import { bytesEqual, fromBase64, writeFileDurably } from '../../common/index.js'
import { eccPoint, parsePublic, type SealedSecretJson } from '../../attest/index.js'
import { MLDSA65_PUBLIC_KEY_SIZE } from '../../identity/index.js'
import { decodeSealedSeed } from '../../pkcs11/index.js'
import { GenesisError, OwnerStateError } from './errors.js'
import { verifyGenesis, type GenesisJson } from './genesis.js'
import {
  FLEET_NAME_MAX,
  KEY_LABEL_MAX_BYTES,
  MODULE_PATH_MAX_BYTES,
  OWNER_STATE_MAX_BYTES,
  PCR_COUNT,
  SELECTION_BANKS_MAX,
  TCTI_MAX,
  TOKEN_LABEL_MAX_BYTES,
  TOKEN_SERIAL_MAX_BYTES,
  TPM_BLOB_BASE64_MAX
} from './limits.js'

export const OWNER_STATE_FILE = 'owner.json'

/** A TPM-held owner: a P-256 key in the TPM, the ML-DSA-65 seed sealed to the TPM and the boot. */
export interface TpmOwnerState {
  version: 1
  fleetId: string
  name: string
  tcti: string
  genesis: GenesisJson
  signingKey: { public: string; private: string }
  mldsa: { publicKey: string; sealed: SealedSecretJson }
}

/** A token-held owner: a P-256 key on a PKCS#11 token, the ML-DSA-65 seed sealed by an AES key on it. */
export interface TokenOwnerState {
  version: 2
  kind: 'pkcs11'
  fleetId: string
  name: string
  /** The TPM of the owner's machine: the owner's feed's clock and rollback counter. */
  tcti: string
  genesis: GenesisJson
  pkcs11: TokenOwnerKeys
}

export interface TokenOwnerKeys {
  /** Absolute path of the PKCS#11 module, as given to `fleet owner init`. */
  module: string
  token: { label: string; serial: string }
  /** The P-256 key's label and its public key (SEC1 uncompressed point, base64). */
  p256: { label: string; publicKey: string }
  wrapKey: { label: string }
  /** The ML-DSA-65 public key and the seed sealed by the wrap key (base64). */
  mldsa: { publicKey: string; sealed: string }
}

export type OwnerState = TpmOwnerState | TokenOwnerState

/** Where the owner's keys are held. */
export function ownerKeyHolder(state: OwnerState): 'tpm' | 'pkcs11' {
  return state.version === 1 ? 'tpm' : state.kind
}

export async function writeOwnerState(dir: string, state: OwnerState): Promise<void> {
  await writeFileDurably(path.join(dir, OWNER_STATE_FILE), `${JSON.stringify(state, null, 2)}\n`)
}

/** Reads owner.json strictly and re-verifies its genesis statement, fleetId and recorded keys. */
export async function readOwnerState(dir: string): Promise<OwnerState> {
  const file = path.join(dir, OWNER_STATE_FILE)
  let text: string
  try {
    const bytes = await readFile(file)
    if (bytes.length > OWNER_STATE_MAX_BYTES)
      throw new OwnerStateError(file, `larger than ${OWNER_STATE_MAX_BYTES} bytes`)
    text = bytes.toString('utf8')
  } catch (err) {
    if (err instanceof OwnerStateError) throw err
    const code = (err as NodeJS.ErrnoException).code
    throw new OwnerStateError(
      file,
      code === 'ENOENT' ? 'not found (run fleet owner init first)' : (code ?? String(err))
    )
  }
  return verifyOwnerState(file, parseOwnerState(file, text))
}

/** Decodes owner.json's text into one of the two forms; checks shapes and bounds only. */
export function parseOwnerState(file: string, text: string): OwnerState {
  let value: unknown
  try {
    value = JSON.parse(text)
  } catch (err) {
    throw new OwnerStateError(file, `not JSON (${(err as Error).message})`)
  }
  const check = new FieldCheck(file)
  const top = check.object(value, 'owner state')
  if (top.version === 1) {
    check.exactly(top, 'owner state', ['version', 'fleetId', 'name', 'tcti', 'genesis', 'signingKey', 'mldsa'])
    common(check, top)
    const signingKey = check.object(top.signingKey, 'signingKey')
    check.exactly(signingKey, 'signingKey', ['public', 'private'])
    check.base64(signingKey.public, 'signingKey.public', TPM_BLOB_BASE64_MAX)
    check.base64(signingKey.private, 'signingKey.private', TPM_BLOB_BASE64_MAX)
    const mldsa = check.object(top.mldsa, 'mldsa')
    check.exactly(mldsa, 'mldsa', ['publicKey', 'sealed'])
    check.base64(mldsa.publicKey, 'mldsa.publicKey', 4096, MLDSA65_PUBLIC_KEY_SIZE)
    sealedToPcrs(check, mldsa.sealed, 'mldsa.sealed')
    return value as TpmOwnerState
  }
  if (top.version === 2) {
    check.exactly(top, 'owner state', ['version', 'kind', 'fleetId', 'name', 'tcti', 'genesis', 'pkcs11'])
    if (top.kind !== 'pkcs11') check.fail('kind', "the only kind of version 2 is 'pkcs11'")
    common(check, top)
    const keys = check.object(top.pkcs11, 'pkcs11')
    check.exactly(keys, 'pkcs11', ['module', 'token', 'p256', 'wrapKey', 'mldsa'])
    check.text(keys.module, 'pkcs11.module', MODULE_PATH_MAX_BYTES)
    if (!path.isAbsolute(keys.module as string)) check.fail('pkcs11.module', 'not an absolute path')
    const token = check.object(keys.token, 'pkcs11.token')
    check.exactly(token, 'pkcs11.token', ['label', 'serial'])
    check.text(token.label, 'pkcs11.token.label', TOKEN_LABEL_MAX_BYTES)
    check.text(token.serial, 'pkcs11.token.serial', TOKEN_SERIAL_MAX_BYTES, { empty: true })
    const p256 = check.object(keys.p256, 'pkcs11.p256')
    check.exactly(p256, 'pkcs11.p256', ['label', 'publicKey'])
    check.text(p256.label, 'pkcs11.p256.label', KEY_LABEL_MAX_BYTES)
    const point = check.base64(p256.publicKey, 'pkcs11.p256.publicKey', 128, 65)
    if (point[0] !== 0x04) check.fail('pkcs11.p256.publicKey', 'not an uncompressed SEC1 point')
    const wrapKey = check.object(keys.wrapKey, 'pkcs11.wrapKey')
    check.exactly(wrapKey, 'pkcs11.wrapKey', ['label'])
    check.text(wrapKey.label, 'pkcs11.wrapKey.label', KEY_LABEL_MAX_BYTES)
    const mldsa = check.object(keys.mldsa, 'pkcs11.mldsa')
    check.exactly(mldsa, 'pkcs11.mldsa', ['publicKey', 'sealed'])
    check.base64(mldsa.publicKey, 'pkcs11.mldsa.publicKey', 4096, MLDSA65_PUBLIC_KEY_SIZE)
    try {
      decodeSealedSeed(check.base64(mldsa.sealed, 'pkcs11.mldsa.sealed', 256))
    } catch (err) {
      check.fail('pkcs11.mldsa.sealed', (err as Error).message)
    }
    return value as TokenOwnerState
  }
  return check.fail('version', `${JSON.stringify(top.version)} is not a known version (1: TPM, 2: PKCS#11 token)`)
}

/**
 * The checks that need the genesis statement: it verifies, fleetId is its hash, the name is its
 * name, and the keys recorded are the owner keys it names.
 */
function verifyOwnerState(file: string, state: OwnerState): OwnerState {
  const verified = verifyGenesis(fromBase64(state.genesis.statement), {
    p256: fromBase64(state.genesis.p256),
    mldsa65: fromBase64(state.genesis.mldsa65)
  })
  if (verified.fleetId !== state.fleetId)
    throw new GenesisError(`fleetId ${state.fleetId} is not the hash of the genesis statement (${verified.fleetId})`)
  if (verified.genesis.name !== state.name) throw new OwnerStateError(file, "not the genesis statement's name", 'name')
  const recorded =
    state.version === 1
      ? { p256: tpmPoint(file, state.signingKey.public), mldsa65: state.mldsa.publicKey, field: 'signingKey.public' }
      : {
          p256: fromBase64(state.pkcs11.p256.publicKey),
          mldsa65: state.pkcs11.mldsa.publicKey,
          field: 'pkcs11.p256.publicKey'
        }
  if (!bytesEqual(recorded.p256, verified.ownerKey.p256))
    throw new OwnerStateError(file, "not the owner's P-256 key named in the genesis statement", recorded.field)
  if (!bytesEqual(fromBase64(recorded.mldsa65), verified.ownerKey.mldsa65)) {
    const field = state.version === 1 ? 'mldsa.publicKey' : 'pkcs11.mldsa.publicKey'
    throw new OwnerStateError(file, "not the owner's ML-DSA-65 key named in the genesis statement", field)
  }
  return state
}

function tpmPoint(file: string, blob: string): Uint8Array {
  try {
    return eccPoint(parsePublic(fromBase64(blob)))
  } catch (err) {
    throw new OwnerStateError(file, `not a P-256 TPM2B_PUBLIC (${(err as Error).message})`, 'signingKey.public')
  }
}

/** The fields both forms share. */
function common(check: FieldCheck, top: Record<string, unknown>): void {
  if (typeof top.fleetId !== 'string' || !/^[0-9a-f]{64}$/.test(top.fleetId)) check.fail('fleetId', 'not 64 hex digits')
  if (typeof top.name !== 'string' || top.name.length === 0 || top.name.length > FLEET_NAME_MAX)
    check.fail('name', `not 1 to ${FLEET_NAME_MAX} characters`)
  check.text(top.tcti, 'tcti', TCTI_MAX)
  const genesis = check.object(top.genesis, 'genesis')
  check.exactly(genesis, 'genesis', ['statement', 'p256', 'mldsa65'])
  check.base64(genesis.statement, 'genesis.statement', 12 * 1024)
  check.base64(genesis.p256, 'genesis.p256', 128)
  check.base64(genesis.mldsa65, 'genesis.mldsa65', 8192)
}

/** A TPM owner's seed, sealed to PCR values (sealToPcrs): a blob, a selection and the values. */
function sealedToPcrs(check: FieldCheck, value: unknown, field: string): void {
  const sealed = check.object(value, field)
  check.exactly(sealed, field, ['blob', 'selection', 'expected'])
  const blob = check.object(sealed.blob, `${field}.blob`)
  check.exactly(blob, `${field}.blob`, ['public', 'private'])
  check.base64(blob.public, `${field}.blob.public`, TPM_BLOB_BASE64_MAX)
  check.base64(blob.private, `${field}.blob.private`, TPM_BLOB_BASE64_MAX)
  const selection = sealed.selection
  if (!Array.isArray(selection) || selection.length === 0 || selection.length > SELECTION_BANKS_MAX)
    check.fail(`${field}.selection`, `not 1 to ${SELECTION_BANKS_MAX} banks`)
  for (const bank of selection as unknown[]) {
    const b = check.object(bank, `${field}.selection`)
    check.exactly(b, `${field}.selection`, ['hash', 'pcrs'])
    if (
      b.hash !== 'sha256' ||
      !Array.isArray(b.pcrs) ||
      b.pcrs.length === 0 ||
      b.pcrs.length > PCR_COUNT ||
      !b.pcrs.every((pcr) => Number.isInteger(pcr) && pcr >= 0 && pcr < PCR_COUNT)
    )
      check.fail(`${field}.selection`, 'not a sha256 bank of PCR numbers')
  }
  const expected = check.object(sealed.expected, `${field}.expected`)
  const entries = Object.entries(expected)
  if (entries.length > PCR_COUNT || entries.some(([pcr, hex]) => !/^\d{1,2}$/.test(pcr) || !isHex64(hex)))
    check.fail(`${field}.expected`, 'not PCR numbers with 64-hex-digit values')
}

/** `least` to `maxBytes` bytes of UTF-8 without control characters: labels, paths, TCTIs. */
export function isPlainText(text: string, least: number, maxBytes: number): boolean {
  const bytes = Buffer.byteLength(text)
  // biome-ignore lint/suspicious/noControlCharactersInRegex: control characters are what it refuses
  return bytes >= least && bytes <= maxBytes && !/[\u0000-\u001f\u007f]/.test(text)
}

function isHex64(value: unknown): boolean {
  return typeof value === 'string' && /^[0-9a-f]{64}$/.test(value)
}

const BASE64 = /^[A-Za-z0-9+/]*={0,2}$/

/** The field checks of one file: each refusal is an OwnerStateError naming the field. */
class FieldCheck {
  private readonly file: string

  constructor(file: string) {
    this.file = file
  }

  fail(field: string, reason: string): never {
    throw new OwnerStateError(this.file, reason, field)
  }

  object(value: unknown, field: string): Record<string, unknown> {
    if (typeof value !== 'object' || value === null || Array.isArray(value)) this.fail(field, 'not an object')
    return value as Record<string, unknown>
  }

  /** Exactly these fields, no more and none missing. */
  exactly(value: Record<string, unknown>, field: string, names: string[]): void {
    const extra = Object.keys(value).find((name) => !names.includes(name))
    if (extra !== undefined) this.fail(field, `unknown field "${extra}"`)
    const missing = names.find((name) => !(name in value))
    if (missing !== undefined) this.fail(field, `missing field "${missing}"`)
  }

  /** Text of 1 (0 with `empty`) to `maxBytes` UTF-8 bytes without control characters. */
  text(value: unknown, field: string, maxBytes: number, options: { empty?: boolean } = {}): void {
    const least = options.empty === true ? 0 : 1
    if (typeof value !== 'string' || !isPlainText(value, least, maxBytes))
      this.fail(field, `not ${least} to ${maxBytes} bytes of text without control characters`)
  }

  /** Base64 of at most `maxChars` characters, decoding to exactly `size` bytes when given. */
  base64(value: unknown, field: string, maxChars: number, size?: number): Uint8Array {
    if (typeof value !== 'string' || value.length === 0 || value.length > maxChars || !BASE64.test(value))
      this.fail(field, `not base64 of at most ${maxChars} characters`)
    const bytes = fromBase64(value)
    if (size !== undefined && bytes.length !== size) this.fail(field, `${bytes.length} bytes, not ${size}`)
    return bytes
  }
}
