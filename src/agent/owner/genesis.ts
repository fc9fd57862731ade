/**
 * The genesis statement that founds a fleet, self-signed by the owner's hybrid key:
 * fleetId = SHA-256 of the statement's bytes.
 */
import { createHash } from 'node:crypto'
import { toBase64 } from '../../common/index.js'
import {
  DOMAIN,
  verifyHybrid,
  type HybridPublicKey,
  type HybridSignature,
  type HybridSigner
} from '../../identity/index.js'
import { encodeCanonical, decodeCanonical } from '../../codec/index.js'
import { GenesisError } from './errors.js'
import { FLEET_NAME_MAX, GENESIS_STATEMENT_MAX_BYTES } from './limits.js'

export interface GenesisStatement {
  v: 1
  kind: 'genesis'
  name: string
  owner: { p256: Uint8Array; mldsa65: Uint8Array }
  createdAt: number
}

/** The genesis statement and its hybrid signature as owner.json and trust headers carry them (base64). */
export interface GenesisJson {
  statement: string
  p256: string
  mldsa65: string
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
    value = decodeCanonical(statement, { maxBytes: GENESIS_STATEMENT_MAX_BYTES })
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
    g.name.length > FLEET_NAME_MAX ||
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

/** Makes and signs the genesis statement of a fleet whose owner holds `signer`. */
export async function signGenesis(
  signer: HybridSigner,
  init: { name: string; now: () => Date }
): Promise<{ fleetId: string; genesis: GenesisJson }> {
  const statement: GenesisStatement = {
    v: 1,
    kind: 'genesis',
    name: init.name,
    owner: { p256: signer.publicKey.p256, mldsa65: signer.publicKey.mldsa65 },
    createdAt: init.now().getTime()
  }
  const bytes = encodeCanonical(statement)
  const signature = await signer.sign(DOMAIN.genesis, bytes)
  return {
    fleetId: fleetIdOf(bytes),
    genesis: { statement: toBase64(bytes), p256: toBase64(signature.p256), mldsa65: toBase64(signature.mldsa65) }
  }
}
