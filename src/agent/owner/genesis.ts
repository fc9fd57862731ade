import { createHash } from 'node:crypto'
import { mkdir, readFile, rename, writeFile } from 'node:fs/promises'
import path from 'node:path'
import { FleetError, MalformedInputError, toBase64, fromBase64 } from '../../common/index.js'
import {
  eccPoint,
  parsePublic,
  sealToPcrs,
  releaseSecret,
  tpmP256Signer,
  sealedFromJson,
  sealedToJson,
  type SealedSecretJson,
  type PcrSelection,
  type Tpm,
  type KeyBlob
} from '../../attest/index.js'
import {
  DOMAIN,
  HybridSigner,
  defaultMlDsa65,
  verifyHybrid,
  type HybridPublicKey,
  type HybridSignature
} from '../../identity/index.js'
import { encodeCanonical, decodeCanonical } from '../../codec/index.js'

/**
 * The fleet owner's identity: a P-256 key in the TPM of the machine where the ceremony runs and an
 * ML-DSA-65 seed sealed to that machine's boot, and the genesis statement that founds the fleet:
 * fleetId = SHA-256 of the genesis statement's bytes.
 */
export interface GenesisStatement {
  v: 1
  kind: 'genesis'
  name: string
  owner: { p256: Uint8Array; mldsa65: Uint8Array }
  createdAt: number
}

export interface OwnerState {
  version: 1
  fleetId: string
  name: string
  tcti: string
  genesis: { statement: string; p256: string; mldsa65: string }
  signingKey: { public: string; private: string }
  mldsa: { publicKey: string; sealed: SealedSecretJson }
}

export const OWNER_STATE_FILE = 'owner.json'

/** Thrown when a genesis statement is malformed or its hybrid signature does not verify. */
export class GenesisError extends FleetError {
  constructor(reason: string) {
    super(`genesis statement: ${reason}`, { code: 'ERR_GENESIS' })
  }
}

export function fleetIdOf(statement: Uint8Array): string {
  return createHash('sha256').update(statement).digest('hex')
}

/** Decodes and verifies a genesis statement (self-signed by the owner key it names); returns the fleetId. */
export function verifyGenesis(
  statement: Uint8Array,
  signature: HybridSignature
): { fleetId: string; genesis: GenesisStatement; ownerKey: HybridPublicKey } {
  let value: unknown
  try {
    value = decodeCanonical(statement, { maxBytes: 8 * 1024 })
  } catch (err) {
    throw new GenesisError((err as Error).message)
  }
  const g = value as GenesisStatement
  const keys = typeof value === 'object' && value !== null ? Object.keys(value).sort().join(',') : ''
  if (
    keys !== 'createdAt,kind,name,owner,v' ||
    g.v !== 1 ||
    g.kind !== 'genesis' ||
    typeof g.name !== 'string' ||
    g.name.length > 128 ||
    typeof g.createdAt !== 'number' ||
    !(g.owner?.p256 instanceof Uint8Array) ||
    !(g.owner?.mldsa65 instanceof Uint8Array)
  ) {
    throw new GenesisError('not a version-1 genesis statement')
  }
  const ownerKey = { p256: g.owner.p256, mldsa65: g.owner.mldsa65 }
  try {
    verifyHybrid(ownerKey, DOMAIN.genesis, statement, signature)
  } catch (err) {
    throw new GenesisError((err as Error).message)
  }
  return { fleetId: fleetIdOf(statement), genesis: g, ownerKey }
}

/** Creates the owner key in this TPM and signs the genesis statement. */
export async function initOwner(
  tpm: Tpm,
  options: { name: string; bootPcrs: number[]; random: (n: number) => Uint8Array; now: () => Date }
): Promise<OwnerState> {
  const key = await tpm.createKey('signing')
  const seed = new Uint8Array(
    createHash('sha256')
      .update(await tpm.getRandom(32))
      .update(options.random(32))
      .digest()
  )
  const mldsa = defaultMlDsa65().fromSeed(seed)
  const selection: PcrSelection = [{ hash: 'sha256', pcrs: [...options.bootPcrs].sort((a, b) => a - b) }]
  const sealed = await sealToPcrs(tpm, seed, selection, await tpm.readPcrs(selection))
  seed.fill(0)
  const signer = new HybridSigner(tpmP256Signer(tpm, key), mldsa)
  const genesis: GenesisStatement = {
    v: 1,
    kind: 'genesis',
    name: options.name,
    owner: { p256: eccPoint(parsePublic(key.public)), mldsa65: mldsa.publicKey },
    createdAt: options.now().getTime()
  }
  const statement = encodeCanonical(genesis)
  const signature = await signer.sign(DOMAIN.genesis, statement)
  return {
    version: 1,
    fleetId: fleetIdOf(statement),
    name: options.name,
    tcti: tpm.tcti,
    genesis: { statement: toBase64(statement), p256: toBase64(signature.p256), mldsa65: toBase64(signature.mldsa65) },
    signingKey: { public: toBase64(key.public), private: toBase64(key.private) },
    mldsa: { publicKey: toBase64(mldsa.publicKey), sealed: sealedToJson(sealed) }
  }
}

/** The owner's signer, available only on the owner's machine after a good boot. */
export async function unlockOwner(tpm: Tpm, state: OwnerState): Promise<HybridSigner> {
  const seed = await releaseSecret(tpm, sealedFromJson(state.mldsa.sealed))
  const mldsa = defaultMlDsa65().fromSeed(seed)
  seed.fill(0)
  const key: KeyBlob = { public: fromBase64(state.signingKey.public), private: fromBase64(state.signingKey.private) }
  return new HybridSigner(tpmP256Signer(tpm, key), mldsa)
}

export async function writeOwnerState(dir: string, state: OwnerState): Promise<void> {
  await mkdir(dir, { recursive: true, mode: 0o700 })
  const file = path.join(dir, OWNER_STATE_FILE)
  await writeFile(`${file}.tmp`, `${JSON.stringify(state, null, 2)}\n`, { mode: 0o600 })
  await rename(`${file}.tmp`, file)
}

/** Reads owner.json and re-verifies its genesis statement and fleetId. */
export async function readOwnerState(dir: string): Promise<OwnerState> {
  const file = path.join(dir, OWNER_STATE_FILE)
  let state: OwnerState
  try {
    const text = await readFile(file, 'utf8')
    if (text.length > 256 * 1024) throw new Error('too large')
    state = JSON.parse(text) as OwnerState
  } catch (err) {
    throw new MalformedInputError(
      `owner state ${file}: ${(err as NodeJS.ErrnoException).code === 'ENOENT' ? 'not found (run fleet owner init first)' : (err as Error).message}`,
      { code: 'ERR_OWNER_STATE' }
    )
  }
  if (state?.version !== 1 || typeof state.genesis?.statement !== 'string')
    throw new MalformedInputError(`owner state ${file}: not a version-1 owner state`, { code: 'ERR_OWNER_STATE' })
  const verified = verifyGenesis(fromBase64(state.genesis.statement), {
    p256: fromBase64(state.genesis.p256),
    mldsa65: fromBase64(state.genesis.mldsa65)
  })
  if (verified.fleetId !== state.fleetId)
    throw new GenesisError(`fleetId ${state.fleetId} is not the hash of the genesis statement (${verified.fleetId})`)
  return state
}
