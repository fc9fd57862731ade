/**
 * The only file that loads the native binding (native/): tpm2-tss ESAPI, which EsysTpm wraps
 * behind the `Tpm` interface, and beside it the ledger's batch hashing (`nativeHasher`, given to
 * src/ledger by the composition code), which measured faster than node:crypto on the append
 * path (docs/benchmarks.md). Everything else uses the typed surface below.
 */
import { createRequire } from 'node:module'
import { existsSync } from 'node:fs'
import path from 'node:path'
import { FleetError, projectRoot } from '../../common/index.js'

/** The raw binding: every method returns a Promise and takes/returns TPM wire-format bytes. */
export interface NativeContext {
  open(tcti: string, timeoutMs: number): Promise<void>
  close(): boolean
  /** Unblocks a hung command by shutting down sockets connected to this swtpm path; the context is then unusable. */
  abort(socketPath: string): void
  startup(clear: boolean): Promise<void>
  getRandom(count: number): Promise<Uint8Array>
  getCapability(capability: number, property: number, count: number): Promise<{ more: boolean; data: Uint8Array }>
  trFromTpmPublic(handle: number): Promise<number>
  trGetName(handle: number): Promise<Uint8Array>
  readPublic(handle: number): Promise<{ public: Uint8Array; name: Uint8Array }>
  pcrRead(selection: Uint8Array): Promise<{ updateCounter: number; selection: Uint8Array; values: Uint8Array }>
  pcrExtend(pcr: number, digests: Uint8Array): Promise<void>
  createPrimary(
    hierarchy: number,
    sensitive: Uint8Array,
    template: Uint8Array
  ): Promise<{ handle: number; public: Uint8Array }>
  /** `protect`: inSensitive travels encrypted under a session salted with `parent` (for sealed data). */
  create(
    parent: number,
    sensitive: Uint8Array,
    template: Uint8Array,
    protect?: boolean
  ): Promise<{ private: Uint8Array; public: Uint8Array }>
  load(parent: number, privateBlob: Uint8Array, publicBlob: Uint8Array): Promise<number>
  loadExternal(publicBlob: Uint8Array, hierarchy: number): Promise<number>
  sign(key: number, digest: Uint8Array, scheme: Uint8Array): Promise<Uint8Array>
  verifySignature(key: number, digest: Uint8Array, signature: Uint8Array): Promise<Uint8Array>
  quote(
    key: number,
    qualifyingData: Uint8Array,
    scheme: Uint8Array,
    selection: Uint8Array
  ): Promise<{ attest: Uint8Array; signature: Uint8Array }>
  certify(
    object: number,
    signer: number,
    qualifyingData: Uint8Array,
    scheme: Uint8Array
  ): Promise<{ attest: Uint8Array; signature: Uint8Array }>
  /** The credential comes back encrypted under a session salted with `saltKey` (a loaded storage key). */
  activateCredential(
    activate: number,
    key: number,
    keySession: number,
    credentialBlob: Uint8Array,
    secret: Uint8Array,
    saltKey: number
  ): Promise<Uint8Array>
  nvRead(nvIndex: number, maxSize: number): Promise<Uint8Array>
  nvReadPublic(nvIndex: number): Promise<{ public: Uint8Array; name: Uint8Array }>
  /** Defines a TPM_NT_COUNTER index with these TPMA_NV attributes (8 bytes, SHA-256, empty auth) and increments it once. */
  nvDefineCounter(nvIndex: number, attributes: number): Promise<void>
  nvIncrement(nvIndex: number): Promise<void>
  evictControl(object: number, persistentHandle: number): Promise<number>
  flush(handle: number, metadataOnly?: boolean): Promise<void>
  readClock(): Promise<Uint8Array>
  startAuthSession(type: number): Promise<number>
  policyPcr(session: number, pcrDigest: Uint8Array, selection: Uint8Array): Promise<void>
  policySecret(authEntity: number, session: number): Promise<void>
  policyNv(session: number, nvIndex: number, operandB: Uint8Array, offset: number, operation: number): Promise<void>
  policyAuthorize(
    session: number,
    approvedPolicy: Uint8Array,
    policyRef: Uint8Array,
    keySignName: Uint8Array,
    ticket: Uint8Array
  ): Promise<void>
  policyGetDigest(session: number): Promise<Uint8Array>
  /** The data comes back encrypted under a session salted with `saltKey` (a loaded storage key). */
  unseal(item: number, session: number, saltKey: number): Promise<Uint8Array>
}

export interface NativeBinding {
  Context: new () => NativeContext
  ESYS_TR_NONE: number
  ESYS_TR_PASSWORD: number
  ESYS_TR_RH_OWNER: number
  ESYS_TR_RH_NULL: number
  ESYS_TR_RH_ENDORSEMENT: number
  ESYS_TR_RH_PLATFORM: number
  hashEntries: NativeHasher['hashEntries']
  hashPairs: NativeHasher['hashPairs']
}

/**
 * The ledger's batch hashing in one native call per batch (native/src/ledger_hash.cc): the
 * contract of src/ledger's `Hasher` (hasher.ts), which this type matches.
 */
export interface NativeHasher {
  hashEntries: (
    buf: Uint8Array,
    spans: Uint32Array,
    count: number,
    head: Uint8Array,
    size: number,
    roots: Uint8Array,
    out: Uint8Array,
    leaves?: Uint8Array
  ) => void
  hashPairs: (input: Uint8Array, count: number, out: Uint8Array) => void
}

/** Thrown when the native binding is not built (run the bootstrap) or fails to load. */
export class NativeBindingError extends FleetError {
  constructor(message: string, cause?: unknown) {
    super(message, { code: 'ERR_NATIVE_BINDING', cause })
  }
}

let binding: NativeBinding | undefined

/**
 * Where the binding is built: the file the agent measures with its code (src/agent/device), and
 * the one loadNative loads. Found from the project root, as compiled (dist/src/…) and bundled.
 */
export function nativeBindingFile(): string {
  return path.join(projectRoot(import.meta.url), 'native/build/Release/fleet_tpm.node')
}

/** Loads the binding once. tpm2-tss's own logging to stderr is silenced unless TSS2_LOG is set. */
export function loadNative(): NativeBinding {
  if (binding !== undefined) return binding
  process.env.TSS2_LOG ??= 'all+none'
  const file = nativeBindingFile()
  if (!existsSync(file)) {
    throw new NativeBindingError('the native TPM binding is not built: run `npm run bootstrap`')
  }
  try {
    binding = createRequire(import.meta.url)(file) as NativeBinding
  } catch (err) {
    throw new NativeBindingError(`the native TPM binding failed to load from ${file}: ${(err as Error).message}`, err)
  }
  return binding
}

/** The binding's batch hasher, for src/ledger's `Hasher`. Throws NativeBindingError when the binding does not load. */
export function nativeHasher(): NativeHasher {
  const { hashEntries, hashPairs } = loadNative()
  return { hashEntries, hashPairs }
}
