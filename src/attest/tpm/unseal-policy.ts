/**
 * The release policy's session, as EsysTpm.unseal runs it on the device's TPM: PolicyPCR over the
 * sealing selection, PolicyNV on the approval epoch's counter when the policy has one, and
 * PolicyAuthorize with a ticket from the authority's signature checked in the TPM itself; then
 * TPM2_Unseal. A refusal says which: the approval withdrawn (the epoch counter moved past it) or
 * the policy not met (another boot state, an approval that does not verify).
 */
import { createHash } from 'node:crypto'
import { marshalPcrSelection } from '../tpm2/index.js'
import type { NativeBinding, NativeContext } from './native.js'
import { ApprovalWithdrawnError, TPM_RC, UnsealRefusedError, tpmCode } from './errors.js'
import { counterBytes, counterValue } from './nv-counter.js'
import type { ObjectSlots } from './object-slots.js'
import type { AuthorizedPolicy, KeyBlob, UnsealPolicy } from './tpm.js'

export const TPM_SE_POLICY = 1
const TPM_EO_UNSIGNED_LE = 0x0009

/** What the session needs of its EsysTpm. */
export interface PolicyParts {
  native: NativeBinding
  tcti: string
  slots: ObjectSlots
}

/** Unseals `sealed` under `policy` on context `c` (run inside the EsysTpm's queue). */
export async function unsealUnderPolicy(
  c: NativeContext,
  parts: PolicyParts,
  sealed: KeyBlob,
  policy: UnsealPolicy
): Promise<Uint8Array> {
  const { tcti, slots } = parts
  const selection = marshalPcrSelection(policy.pcrs)
  const epoch = policy.authorize?.epoch
  // The authority's signature is checked first and its key flushed before the sealed item is
  // loaded: the ticket stays valid, and swtpm's three object slots are never exceeded.
  const approval = policy.authorize === undefined ? undefined : await verifyApproval(c, parts, policy.authorize)
  return await slots.withTemporary(c, sealed, async (item) => {
    const session = await c.startAuthSession(TPM_SE_POLICY)
    let step = 'policyPcr'
    try {
      await c.policyPcr(session, new Uint8Array(0), selection)
      if (epoch !== undefined) {
        step = 'policyNv'
        await c.policyNv(session, epoch.nvIndex, counterBytes(epoch.epoch), 0, TPM_EO_UNSIGNED_LE)
      }
      step = 'policyAuthorize'
      if (approval !== undefined && policy.authorize !== undefined) {
        await c.policyAuthorize(
          session,
          policy.authorize.approvedPolicy,
          policy.authorize.policyRef,
          approval.keyName,
          approval.ticket
        )
      }
      step = 'unseal'
      return await c.unseal(item, session, await slots.storagePrimary(c))
    } catch (err) {
      const code = tpmCode(err)
      if (step === 'policyNv' && epoch !== undefined && (code === TPM_RC.POLICY || code === TPM_RC.HANDLE)) {
        const counter =
          code === TPM_RC.POLICY
            ? await c.nvRead(epoch.nvIndex, 8).then(
                (bytes) => counterValue(tcti, epoch.nvIndex, bytes),
                () => undefined
              )
            : undefined
        throw new ApprovalWithdrawnError(tcti, epoch.nvIndex, epoch.epoch, counter)
      }
      if (code === TPM_RC.POLICY_FAIL || code === TPM_RC.PCR_CHANGED || code === TPM_RC.VALUE) {
        const e = err as { rc: number; rcText: string }
        throw new UnsealRefusedError(tcti, e.rc, e.rcText)
      }
      throw err
    } finally {
      await c.flush(session).catch(() => undefined)
    }
  })
}

/** The authority's approval checked in the TPM: its key's name and the verification ticket PolicyAuthorize takes. */
async function verifyApproval(
  c: NativeContext,
  parts: PolicyParts,
  approval: AuthorizedPolicy
): Promise<{ keyName: Uint8Array; ticket: Uint8Array }> {
  // The ticket must come from a non-null hierarchy or PolicyAuthorize refuses it.
  const key = await c.loadExternal(approval.authorityPublic, parts.native.ESYS_TR_RH_OWNER)
  try {
    const aHash = createHash('sha256').update(approval.approvedPolicy).update(approval.policyRef).digest()
    const ticket = await c.verifySignature(key, aHash, approval.signature).catch((err: unknown) => {
      const e = err as { rc?: number; rcText?: string }
      throw new UnsealRefusedError(
        parts.tcti,
        e.rc ?? 0,
        `the authority's approval does not verify: ${e.rcText ?? String(err)}`
      )
    })
    return { keyName: await c.trGetName(key), ticket }
  } finally {
    await c.flush(key).catch(() => undefined)
  }
}
