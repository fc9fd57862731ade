import { createHash } from 'node:crypto'
import { FleetError } from '../../common/index.js'
import { storageKeyTemplate, rsaEkTemplate, eccEkTemplate, marshalPublic } from '../tpm2/index.js'
import type { NativeBinding, NativeContext } from './native.js'
import { TpmKeyLoadError, TPM_RC, tpmCode } from './errors.js'
import { sensitiveCreate } from './wire.js'
import type { KeyBlob, EndorsementKeyKind } from './tpm.js'

/**
 * Persistent handles of the EKs (TCG Provisioning Guidance): RSA 2048 at 0x81010001, ECC P-256 at
 * 0x81010002. Absent ones are recreated from their standard templates (L-1, L-2).
 */
const EK_PERSISTENT_HANDLE: Record<EndorsementKeyKind, number> = { rsa: 0x81010001, ecc: 0x81010002 }

/**
 * The objects an EsysTpm keeps loaded. The storage primary key stays loaded; one key blob is
 * cached loaded; at most one more object is loaded for the duration of a command and flushed
 * after it. That fits the three transient slots of swtpm. Every method runs with the command
 * queue held (inside EsysTpm's `call`).
 */
export class ObjectSlots {
  private readonly native: NativeBinding
  private readonly tcti: string
  private primary: number | undefined
  private cached: { id: string; handle: number } | undefined
  private readonly endorsement = new Map<
    EndorsementKeyKind,
    { handle: number; transient: boolean; public: Uint8Array }
  >()

  constructor(native: NativeBinding, tcti: string) {
    this.native = native
    this.tcti = tcti
  }

  async storagePrimary(c: NativeContext): Promise<number> {
    if (this.primary === undefined) {
      // Deterministic: the same template under the same seed gives the same key every time, so
      // nothing needs to be persisted in the TPM. The endorsement hierarchy, because attestations
      // by keys of other hierarchies carry obfuscated resetCount/restartCount/firmwareVersion
      // (TPM 2.0 Part 1, §36.7), and verifiers must see those counters never go backwards.
      const primary = await c.createPrimary(
        this.native.ESYS_TR_RH_ENDORSEMENT,
        sensitiveCreate(),
        marshalPublic(storageKeyTemplate())
      )
      this.primary = primary.handle
    }
    return this.primary
  }

  private async loadBlob(c: NativeContext, blob: KeyBlob): Promise<number> {
    const parent = await this.storagePrimary(c)
    try {
      return await c.load(parent, blob.private, blob.public).catch(async (err: unknown) => {
        // Slots full: give up the cached key and try once more.
        if (tpmCode(err) !== TPM_RC.OBJECT_MEMORY || this.cached === undefined) throw err
        await c.flush(this.cached.handle).catch(() => undefined)
        this.cached = undefined
        return await c.load(parent, blob.private, blob.public)
      })
    } catch (err) {
      const code = tpmCode(err)
      if (code !== undefined && code !== TPM_RC.OBJECT_MEMORY) {
        const e = err as { rc: number; rcText: string }
        throw new TpmKeyLoadError(this.tcti, e.rc, e.rcText)
      }
      throw err
    }
  }

  async loadCached(c: NativeContext, blob: KeyBlob): Promise<number> {
    const id = blobId(blob)
    if (this.cached?.id === id) return this.cached.handle
    if (this.cached !== undefined) {
      await c.flush(this.cached.handle).catch(() => undefined)
      this.cached = undefined
    }
    const handle = await this.loadBlob(c, blob)
    this.cached = { id, handle }
    return handle
  }

  async withTemporary<T>(c: NativeContext, blob: KeyBlob, use: (handle: number) => Promise<T>): Promise<T> {
    const handle = await this.loadBlob(c, blob)
    try {
      return await use(handle)
    } finally {
      await c.flush(handle).catch(() => undefined)
    }
  }

  /**
   * Runs `use` with the EK loaded. A persistent EK costs no object slot; one recreated from its
   * template (same seed, same key) is flushed right after, so it never holds a slot between commands.
   */
  async withEndorsementKey<T>(
    c: NativeContext,
    kind: EndorsementKeyKind,
    use: (handle: number, publicArea: Uint8Array) => Promise<T>
  ): Promise<T> {
    const known = this.endorsement.get(kind)
    if (known !== undefined && !known.transient) return await use(known.handle, known.public)
    if (known === undefined) {
      try {
        const handle = await c.trFromTpmPublic(EK_PERSISTENT_HANDLE[kind])
        const entry = { handle, transient: false, public: (await c.readPublic(handle)).public }
        this.endorsement.set(kind, entry)
        return await use(entry.handle, entry.public)
      } catch (err) {
        if (err instanceof FleetError) throw err
        // Not persisted: recreate it from the standard template below.
      }
    }
    const template = marshalPublic(kind === 'rsa' ? rsaEkTemplate() : eccEkTemplate())
    const created = await c.createPrimary(this.native.ESYS_TR_RH_ENDORSEMENT, sensitiveCreate(), template)
    this.endorsement.set(kind, { handle: 0, transient: true, public: created.public })
    try {
      return await use(created.handle, created.public)
    } finally {
      await c.flush(created.handle).catch(() => undefined)
    }
  }

  /** Flushes what is loaded (at close). */
  async release(c: NativeContext): Promise<void> {
    for (const handle of [this.cached?.handle, this.primary])
      if (handle !== undefined) await c.flush(handle).catch(() => undefined)
    for (const ek of this.endorsement.values()) if (!ek.transient) await c.flush(ek.handle, true).catch(() => undefined)
  }

  /** Drops all handles (the context is gone). */
  forget(): void {
    this.cached = undefined
    this.primary = undefined
    this.endorsement.clear()
  }
}

function blobId(blob: KeyBlob): string {
  return createHash('sha256').update(blob.public).update(blob.private).digest('hex')
}
