/**
 * The only file that loads the native binding (native/): tpm2-tss ESAPI, which EsysTpm wraps
 * behind the `Tpm` interface, and beside it the ledger's batch hashing (`nativeHasher`, given to
 * src/ledger by the composition code), which measured faster than node:crypto on the append
 * path (docs/benchmarks.md), the batch verification of P-256 signatures (`nativeP256Verifier`,
 * for actor-signed entries), and the credentials of a Unix socket's peer (`peerCredentials`, for
 * the agent's control socket), and advisory file locks that die with their holder (`flockNonBlocking`).
 * Everything else uses the typed surface below.
 */
import { createRequire } from 'node:module'
import { existsSync } from 'node:fs'
import os, { constants } from 'node:os'
import path from 'node:path'
import { FleetError, projectRoot } from '../../common/index.js'
import { P256_BATCH_LIMITS } from '../../identity/index.js'
import { NativeP256Verifier, type NativeP256Binding } from './p256-verifier.js'

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
  peerCredentials: (fd: number) => PeerCredentials
  flockNonBlocking: (fd: number, exclusive: boolean) => boolean
  P256Verifier: new (maxKeys: number, maxTables: number, tableAfterUses: number, threads: number) => NativeP256Binding
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

/**
 * The binding's P-256 batch verifier (src/identity's P256BatchVerifier), with the bounds of
 * P256_BATCH_LIMITS unless given (`tableAfterUses` 0: never build a table), split across
 * `threads` workers (default: the CPUs this process may use). Each verifier keeps its own keys.
 * Throws NativeBindingError when the binding does not load.
 */
export function nativeP256Verifier(
  init: { maxCachedKeys?: number; maxTables?: number; tableAfterUses?: number; threads?: number } = {}
): NativeP256Verifier {
  const { P256Verifier } = loadNative()
  return new NativeP256Verifier(
    new P256Verifier(
      init.maxCachedKeys ?? P256_BATCH_LIMITS.maxCachedKeys,
      init.maxTables ?? P256_BATCH_LIMITS.maxTables,
      init.tableAfterUses ?? P256_BATCH_LIMITS.tableAfterUses,
      init.threads ?? Math.min(os.availableParallelism(), 64)
    )
  )
}

/**
 * What the kernel recorded about the process at the other end of a connected Unix socket when it
 * connected (SO_PEERCRED): its pid in our pid namespace, its effective uid and gid then.
 */
export interface PeerCredentials {
  pid: number
  uid: number
  gid: number
}

/** Thrown when peerCredentials is given something that is not a file descriptor number. */
export class InvalidDescriptorError extends FleetError {
  constructor(readonly fd: unknown) {
    super(`not a file descriptor: ${String(fd)}`, { code: 'ERR_INVALID_DESCRIPTOR' })
  }
}

/** Thrown when the descriptor is open but is not a socket. */
export class NotASocketError extends FleetError {
  constructor(readonly fd: number) {
    super(`fd ${fd} is not a socket`, { code: 'ERR_NOT_A_SOCKET' })
  }
}

/** Thrown when the descriptor is a socket of another family than AF_UNIX (TCP has no peer credentials). */
export class NotAUnixSocketError extends FleetError {
  constructor(readonly fd: number) {
    super(`fd ${fd} is not a Unix socket`, { code: 'ERR_NOT_A_UNIX_SOCKET' })
  }
}

/**
 * Thrown when the socket has no peer process we can name: it listens or is not connected, or the
 * peer's pid namespace hides it from ours (the kernel then reports pid 0).
 */
export class NoPeerProcessError extends FleetError {
  constructor(
    readonly fd: number,
    detail: string
  ) {
    super(detail, { code: 'ERR_NO_PEER_PROCESS' })
  }
}

/** Thrown when a system call on the descriptor fails (EBADF: it is not open); `errno` is its name. */
export class PeerCredentialsError extends FleetError {
  constructor(
    readonly fd: number,
    readonly syscall: string,
    readonly errno: string
  ) {
    super(`the credentials of fd ${fd}'s peer could not be read: ${syscall} failed with ${errno}`, {
      code: 'ERR_PEER_CREDENTIALS'
    })
  }
}

/**
 * The credentials of the peer of the connected Unix socket `fd` (an accepted connection's), from
 * the kernel. Throws InvalidDescriptorError, NotASocketError, NotAUnixSocketError,
 * NoPeerProcessError or PeerCredentialsError, and NativeBindingError when the binding does not load.
 */
export function peerCredentials(fd: number): PeerCredentials {
  if (!Number.isInteger(fd) || fd < 0 || fd > 0x7fffffff) throw new InvalidDescriptorError(fd)
  try {
    return loadNative().peerCredentials(fd)
  } catch (err) {
    const native = err as { code?: unknown; message?: string; syscall?: unknown; errno?: unknown }
    switch (native.code) {
      case 'ERR_NATIVE_ARGUMENT':
        throw new InvalidDescriptorError(fd)
      case 'ERR_NOT_A_SOCKET':
        throw new NotASocketError(fd)
      case 'ERR_NOT_A_UNIX_SOCKET':
        throw new NotAUnixSocketError(fd)
      case 'ERR_NO_PEER_PROCESS':
        throw new NoPeerProcessError(fd, String(native.message))
      case 'ERR_PEER_CREDENTIALS':
        throw new PeerCredentialsError(fd, String(native.syscall), errnoName(native.errno))
      default:
        throw err
    }
  }
}

/** 'EBADF' for 9: the name Node uses for an errno number. */
function errnoName(errno: unknown): string {
  const name = Object.entries(constants.errno).find(([, value]) => value === errno)?.[0]
  return name ?? `errno ${String(errno)}`
}

/** Thrown when a file lock could not be asked for (EBADF, ENOLCK); `errno` is its name. */
export class FileLockError extends FleetError {
  constructor(readonly errno: string) {
    super(`a file lock could not be taken: flock failed with ${errno}`, { code: 'ERR_FILE_LOCK' })
  }
}

/**
 * Takes an advisory lock (flock(2), shared or exclusive) on the open file `fd` without waiting:
 * true when taken, false when another open file holds a conflicting lock. Released when the file
 * is closed, and by the kernel when the process dies: a lock never outlives its holder.
 */
export function flockNonBlocking(fd: number, exclusive: boolean): boolean {
  if (!Number.isInteger(fd) || fd < 0 || fd > 0x7fffffff) throw new InvalidDescriptorError(fd)
  try {
    return loadNative().flockNonBlocking(fd, exclusive)
  } catch (err) {
    const native = err as { code?: unknown; errno?: unknown }
    if (native.code === 'ERR_FILE_LOCK') throw new FileLockError(errnoName(native.errno))
    throw err
  }
}
