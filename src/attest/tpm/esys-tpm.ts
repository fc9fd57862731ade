import { MalformedInputError } from '../../common/index.js'
import { readPcrSnapshot } from './pcr-read.js'
import { connectionLost, translateNativeError } from './native-errors.js'
import type { HashAlg, PcrSelection, PcrValues } from '../pcrs.js'
import {
  attestationKeyTemplate,
  signingKeyTemplate,
  sealedDataTemplate,
  marshalPublic,
  marshalPcrSelection,
  parseCapabilityData,
  EK_CERTIFICATE_NV_INDEX
} from '../tpm2/index.js'
import { loadNative, type NativeBinding, type NativeContext } from './native.js'
import { parseTcti } from './tcti.js'
import { SerialQueue } from './queue.js'
import { TpmCommandError, TpmTimeoutError, TpmClosedError, TPM_RC, tpmCode } from './errors.js'
import { COUNTER_ATTRIBUTES, counterValue, verifyCounterPublic } from './nv-counter.js'
import { ObjectSlots } from './object-slots.js'
import { TPM_SE_POLICY, unsealUnderPolicy } from './unseal-policy.js'
import { ECDSA_SHA256_SCHEME, sensitiveCreate, digestValues, parseTimeInfo } from './wire.js'
import { decodeTpmInfo } from './info.js'
import type {
  Tpm,
  TpmCallOptions,
  TpmInfo,
  TpmClock,
  KeyBlob,
  KeyKind,
  EndorsementKey,
  EndorsementKeyKind,
  AttestResult,
  UnsealPolicy
} from './tpm.js'

export interface EsysTpmInit {
  /** TCTI string, e.g. `device:/dev/tpmrm0` or `swtpm:path=/run/fleet/tpm.sock`. */
  tcti: string
  /** Deadline for each TPM command. Default 10 s. */
  commandTimeoutMs?: number
}

/** Called after every TPM operation with its name, duration (ms, queueing excluded) and outcome. */
export type TpmObserver = (op: string, ms: number, ok: boolean) => void

const MAX_EK_CERTIFICATE_SIZE = 4096
const MAX_SEALED_DATA = 128
const TPM_CAP_PCRS = 0x00000005
const TPM_CAP_TPM_PROPERTIES = 0x00000006
const TPM_PT_FIXED = 0x100

/**
 * A TPM reached through tpm2-tss ESAPI (native/). One ESYS context, commands serialised.
 *
 * Which objects stay loaded is ObjectSlots' business (object-slots.ts).
 */
export class EsysTpm implements Tpm {
  readonly tcti: string
  private readonly socketPath: string | undefined
  private readonly native: NativeBinding
  private readonly context: NativeContext
  private readonly queue = new SerialQueue()
  private readonly timeoutMs: number
  private closed = false
  /** Why the context became unusable while open (a timeout, a broken connection), if it did. */
  private lostWith: Error | undefined
  private readonly slots: ObjectSlots

  private constructor(init: EsysTpmInit, native: NativeBinding) {
    const tcti = parseTcti(init.tcti)
    this.tcti = tcti.conf
    this.socketPath = tcti.kind === 'swtpm' ? tcti.path : undefined
    this.native = native
    this.context = new native.Context()
    this.slots = new ObjectSlots(native, this.tcti)
    this.timeoutMs = init.commandTimeoutMs ?? 10_000
  }

  /** Opens the TPM and sends TPM2_Startup(CLEAR) (an already started TPM is fine). */
  static async open(init: EsysTpmInit, options: TpmCallOptions = {}): Promise<EsysTpm> {
    const tpm = new EsysTpm(init, loadNative())
    try {
      await tpm.call(
        'open',
        async (c) => {
          await c.open(tpm.tcti, tpm.timeoutMs)
        },
        options
      )
      await tpm.call(
        'startup',
        async (c) => {
          await c.startup(true).catch((err: unknown) => {
            if (tpmCode(err) !== TPM_RC.INITIALIZE) throw err
          })
        },
        options
      )
    } catch (err) {
      await tpm.close()
      throw err
    }
    return tpm
  }

  async info(options: TpmCallOptions = {}): Promise<TpmInfo> {
    return await this.call(
      'getCapability',
      async (c) => {
        const fixed = parseCapabilityData((await c.getCapability(TPM_CAP_TPM_PROPERTIES, TPM_PT_FIXED, 64)).data)
        const pcrs = parseCapabilityData((await c.getCapability(TPM_CAP_PCRS, 0, 1)).data)
        return decodeTpmInfo(fixed, pcrs)
      },
      options
    )
  }

  async getRandom(count: number, options: TpmCallOptions = {}): Promise<Uint8Array> {
    return await this.call(
      'getRandom',
      async (c) => {
        const parts: Uint8Array[] = []
        let have = 0
        while (have < count) {
          const part = await c.getRandom(Math.min(32, count - have))
          parts.push(part)
          have += part.length
        }
        return new Uint8Array(Buffer.concat(parts).subarray(0, count))
      },
      options
    )
  }

  async readPcrs(selection: PcrSelection, options: TpmCallOptions = {}): Promise<PcrValues> {
    return await this.call(
      'pcrRead',
      async (c) => {
        return await readPcrSnapshot(c, this.tcti, selection)
      },
      options
    )
  }

  async extendPcr(
    pcr: number,
    digests: Partial<Record<HashAlg, Uint8Array>>,
    options: TpmCallOptions = {}
  ): Promise<void> {
    const encoded = digestValues(digests)
    await this.call(
      'pcrExtend',
      async (c) => {
        await c.pcrExtend(pcr, encoded)
      },
      options
    )
  }

  async readCounter(nvIndex: number, options: TpmCallOptions = {}): Promise<bigint> {
    return await this.call(
      'nvCounter',
      async (c) => {
        await this.trustedCounter(c, nvIndex, true)
        return counterValue(this.tcti, nvIndex, await c.nvRead(nvIndex, 8))
      },
      options
    )
  }

  async incrementCounter(nvIndex: number, options: TpmCallOptions = {}): Promise<bigint> {
    return await this.call(
      'nvIncrement',
      async (c) => {
        await this.trustedCounter(c, nvIndex, true)
        await c.nvIncrement(nvIndex)
        return counterValue(this.tcti, nvIndex, await c.nvRead(nvIndex, 8))
      },
      options
    )
  }

  /**
   * Makes sure the index at `nvIndex` is a counter exactly as this project defines it, defining it
   * when absent (and `define`). An index someone else defined there first is refused
   * (NvCounterUntrustedError), never read or written.
   */
  private async trustedCounter(c: NativeContext, nvIndex: number, define: boolean): Promise<void> {
    let found = await c.nvReadPublic(nvIndex).catch((err: unknown) => {
      if (tpmCode(err) === TPM_RC.HANDLE) return undefined
      throw err
    })
    if (found === undefined && define) {
      await c.nvDefineCounter(nvIndex, COUNTER_ATTRIBUTES)
      found = await c.nvReadPublic(nvIndex)
    }
    if (found === undefined)
      throw new TpmCommandError(this.tcti, 'nvReadPublic', TPM_RC.HANDLE, `no NV index 0x${nvIndex.toString(16)}`)
    verifyCounterPublic(this.tcti, nvIndex, found.public)
  }

  async readClock(options: TpmCallOptions = {}): Promise<TpmClock> {
    return await this.call('readClock', async (c) => parseTimeInfo(await c.readClock()), options)
  }

  async endorsementKey(kind: EndorsementKeyKind, options: TpmCallOptions = {}): Promise<EndorsementKey> {
    return await this.call(
      'endorsementKey',
      async (c) => {
        const ek = { public: await this.slots.withEndorsementKey(c, kind, async (_handle, publicArea) => publicArea) }
        let certificate: Uint8Array | undefined
        for (const index of EK_CERTIFICATE_NV_INDEX[kind]) {
          certificate = await c.nvRead(index, MAX_EK_CERTIFICATE_SIZE).catch(() => undefined)
          if (certificate !== undefined) break
        }
        return certificate === undefined ? { kind, public: ek.public } : { kind, public: ek.public, certificate }
      },
      options
    )
  }

  async createKey(kind: KeyKind, options: TpmCallOptions = {}): Promise<KeyBlob> {
    const template = marshalPublic(kind === 'attestation' ? attestationKeyTemplate() : signingKeyTemplate())
    return await this.call(
      'create',
      async (c) => {
        const created = await c.create(await this.slots.storagePrimary(c), sensitiveCreate(), template)
        return { public: created.public, private: created.private }
      },
      options
    )
  }

  async sign(key: KeyBlob, digest: Uint8Array, options: TpmCallOptions = {}): Promise<Uint8Array> {
    return await this.call(
      'sign',
      async (c) => await c.sign(await this.slots.loadCached(c, key), digest, ECDSA_SHA256_SCHEME),
      options
    )
  }

  async quote(
    attestationKey: KeyBlob,
    qualifyingData: Uint8Array,
    selection: PcrSelection,
    options: TpmCallOptions = {}
  ): Promise<AttestResult> {
    const encoded = marshalPcrSelection(selection)
    return await this.call(
      'quote',
      async (c) => {
        return await c.quote(
          await this.slots.loadCached(c, attestationKey),
          qualifyingData,
          ECDSA_SHA256_SCHEME,
          encoded
        )
      },
      options
    )
  }

  async certify(
    object: KeyBlob,
    attestationKey: KeyBlob,
    qualifyingData: Uint8Array,
    options: TpmCallOptions = {}
  ): Promise<AttestResult> {
    return await this.call(
      'certify',
      async (c) => {
        const signer = await this.slots.loadCached(c, attestationKey)
        return await this.slots.withTemporary(
          c,
          object,
          async (handle) => await c.certify(handle, signer, qualifyingData, ECDSA_SHA256_SCHEME)
        )
      },
      options
    )
  }

  async activateCredential(
    attestationKey: KeyBlob,
    endorsementKind: EndorsementKeyKind,
    credentialBlob: Uint8Array,
    secret: Uint8Array,
    options: TpmCallOptions = {}
  ): Promise<Uint8Array> {
    return await this.call(
      'activateCredential',
      async (c) => {
        const ak = await this.slots.loadCached(c, attestationKey)
        return await this.slots.withEndorsementKey(c, endorsementKind, async (ek) => {
          // The EK's policy (policy A) is PolicySecret on the endorsement hierarchy.
          const session = await c.startAuthSession(TPM_SE_POLICY)
          try {
            await c.policySecret(this.native.ESYS_TR_RH_ENDORSEMENT, session)
            return await c.activateCredential(
              ak,
              ek,
              session,
              credentialBlob,
              secret,
              await this.slots.storagePrimary(c)
            )
          } finally {
            await c.flush(session).catch(() => undefined)
          }
        })
      },
      options
    )
  }

  async seal(data: Uint8Array, authPolicy: Uint8Array, options: TpmCallOptions = {}): Promise<KeyBlob> {
    if (data.length === 0 || data.length > MAX_SEALED_DATA)
      throw new MalformedInputError(`sealed data must be 1..${MAX_SEALED_DATA} bytes`)
    const template = marshalPublic(sealedDataTemplate(authPolicy))
    return await this.call(
      'seal',
      async (c) => {
        const created = await c.create(await this.slots.storagePrimary(c), sensitiveCreate(data), template, true)
        return { public: created.public, private: created.private }
      },
      options
    )
  }

  async unseal(sealed: KeyBlob, policy: UnsealPolicy, options: TpmCallOptions = {}): Promise<Uint8Array> {
    return await this.call(
      'unseal',
      async (c) =>
        await unsealUnderPolicy(c, { native: this.native, tcti: this.tcti, slots: this.slots }, sealed, policy),
      options
    )
  }

  async close(): Promise<void> {
    if (this.closed) return
    if (this.lostWith !== undefined) {
      // No TPM to flush objects in: a restarted one starts with none.
      this.closed = true
      this.slots.forget()
      this.context.close()
      return
    }
    // Flush what we loaded, then release the context. A hung command makes close() abandon it.
    try {
      await this.queue.run(
        async () => {
          await this.slots.release(this.context)
        },
        2_000,
        () => new TpmTimeoutError(this.tcti, 'close', 2_000)
      )
    } catch {
      // Nothing more can be done for a TPM that does not answer.
    }
    this.closed = true
    this.slots.forget()
    this.context.close()
  }

  // --- internals: every method below runs inside `call`, i.e. with the queue held ---

  /** Set to observe TPM latency (metrics). */
  observer: TpmObserver | undefined

  /**
   * Told once, with the typed error, when this context becomes unusable while open: a command
   * passed its deadline (TpmTimeoutError), or the connection to the TPM broke (TpmUnavailableError,
   * or ESAPI's "called in the wrong order" left by a command whose answer never came). Every later
   * call then fails at once with TpmClosedError. The TCTI does not reconnect: a TPM that comes back
   * (a restarted swtpm, which has also lost its PCRs and loaded objects) needs a new context, so an
   * agent exits and is started again (systemd's Restart=).
   */
  onLost: ((err: Error) => void) | undefined

  private lose(err: Error): void {
    if (this.lostWith !== undefined || this.closed) return
    this.lostWith = err
    this.onLost?.(err)
  }

  private async call<T>(op: string, task: (context: NativeContext) => Promise<T>, options: TpmCallOptions): Promise<T> {
    if (this.closed || this.lostWith !== undefined) throw new TpmClosedError(this.tcti)
    return await this.queue.run(
      async () => {
        if (this.closed || this.lostWith !== undefined) throw new TpmClosedError(this.tcti)
        const started = performance.now()
        try {
          const result = await task(this.context)
          this.observer?.(op, performance.now() - started, true)
          return result
        } catch (err) {
          this.observer?.(op, performance.now() - started, false)
          const translated = translateNativeError(this.tcti, op, err)
          if (connectionLost(translated)) this.lose(translated)
          throw translated
        }
      },
      this.timeoutMs,
      () => {
        // The native call may never return: unblock it (or the process could not even exit) and
        // let nothing else use this context.
        const timeout = new TpmTimeoutError(this.tcti, op, this.timeoutMs)
        this.lose(timeout)
        this.closed = true
        if (this.socketPath !== undefined) this.context.abort(this.socketPath)
        return timeout
      },
      options.signal
    )
  }
}
