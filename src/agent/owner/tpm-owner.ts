/**
 * A TPM-held owner: a P-256 key in the TPM of the machine where the ceremony runs and an
 * ML-DSA-65 seed sealed to that machine's TPM and boot.
 */
import { createHash } from 'node:crypto'
import { fromBase64, toBase64 } from '../../common/index.js'
import {
  releaseSecret,
  sealToPcrs,
  sealedFromJson,
  sealedToJson,
  tpmP256Signer,
  type KeyBlob,
  type PcrSelection,
  type Tpm
} from '../../attest/index.js'
import { HybridSigner, defaultMlDsa65 } from '../../identity/index.js'
import { signGenesis } from './genesis.js'
import type { TpmOwnerState } from './state.js'

/** Creates the owner key in this TPM and signs the genesis statement. */
export async function initOwner(
  tpm: Tpm,
  options: { name: string; bootPcrs: number[]; random: (n: number) => Uint8Array; now: () => Date }
): Promise<TpmOwnerState> {
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
  const { fleetId, genesis } = await signGenesis(signer, options)
  return {
    version: 1,
    fleetId,
    name: options.name,
    tcti: tpm.tcti,
    genesis,
    signingKey: { public: toBase64(key.public), private: toBase64(key.private) },
    mldsa: { publicKey: toBase64(mldsa.publicKey), sealed: sealedToJson(sealed) }
  }
}

/** The owner's signer, available only on the owner's machine after a good boot. */
export async function unlockTpmOwner(tpm: Tpm, state: TpmOwnerState): Promise<HybridSigner> {
  const seed = await releaseSecret(tpm, sealedFromJson(state.mldsa.sealed))
  const mldsa = defaultMlDsa65().fromSeed(seed)
  seed.fill(0)
  const key: KeyBlob = { public: fromBase64(state.signingKey.public), private: fromBase64(state.signingKey.private) }
  return new HybridSigner(tpmP256Signer(tpm, key), mldsa)
}
