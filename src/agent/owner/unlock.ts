/**
 * One way to the owner's signer, wherever its keys are held: every owner command unlocks through
 * unlockOwner, and gets a HybridSigner whose `authority` (the P-256 half alone, for
 * TPM2_PolicyAuthorize approvals) is the TPM's key or the token's.
 */
import type { Tpm } from '../../attest/index.js'
import { OwnerAccessMissingError } from './errors.js'
import type { OwnerState } from './state.js'
import { type TokenAccess, type UnlockedOwner, unlockTokenOwner } from './token-owner.js'
import { unlockTpmOwner } from './tpm-owner.js'

/** What unlocking may need: the TPM for a TPM-held owner, a PIN source (and module options) for a token. */
export interface OwnerAccess extends Partial<TokenAccess> {
  /** The TPM of this machine: where a TPM-held owner's keys are. */
  tpm?: Tpm
}

/**
 * The owner's signer: from the TPM (TPM-held, version 1) or the token (version 2, pkcs11). The
 * state MUST come from readOwnerState, which checked it against the genesis statement. close()
 * it when done.
 */
export async function unlockOwner(
  state: OwnerState,
  access: OwnerAccess,
  options: { signal?: AbortSignal } = {}
): Promise<UnlockedOwner> {
  options.signal?.throwIfAborted()
  if (state.version === 1) {
    if (access.tpm === undefined) throw new OwnerAccessMissingError('tpm', 'the TPM that holds them')
    const signer = await unlockTpmOwner(access.tpm, state)
    return { signer, close: async () => {} }
  }
  if (access.pin === undefined) throw new OwnerAccessMissingError('pkcs11', "a source for the token's PIN")
  return await unlockTokenOwner(
    state,
    { pin: access.pin, modulePatterns: access.modulePatterns, load: access.load, mldsa: access.mldsa },
    options
  )
}
