import type { HashAlg, PcrSelection, PcrValues } from '../pcrs.js'

/** Every async TPM operation takes this last; deadlines are set at the edge. */
export interface TpmCallOptions {
  signal?: AbortSignal
}

/**
 * A key or sealed object wrapped by the TPM's storage key. Only the TPM that made it can load it:
 * copied to another machine it is useless (clone refusal rests on this).
 */
export interface KeyBlob {
  /** TPM2B_PUBLIC */
  readonly public: Uint8Array
  /** TPM2B_PRIVATE, encrypted and integrity-protected by the parent storage key. */
  readonly private: Uint8Array
}

/**
 * Kinds of key this project creates (templates in src/attest/tpm2):
 * - attestation: restricted ECC P-256 signing key (AK), only for TPM2_Quote and TPM2_Certify;
 * - signing: non-restricted ECC P-256 signing key (DSK), for checkpoints and statements.
 */
export type KeyKind = 'attestation' | 'signing'

export type EndorsementKeyKind = 'rsa' | 'ecc'

export interface EndorsementKey {
  readonly kind: EndorsementKeyKind
  /** TPM2B_PUBLIC of the EK. */
  readonly public: Uint8Array
  /** DER EK certificate from NV, when the manufacturer provisioned one. */
  readonly certificate?: Uint8Array
}

export interface TpmClock {
  /** Milliseconds since the last TPM reset (TPMS_TIME_INFO.time). */
  readonly time: bigint
  /** Milliseconds the TPM has been powered, never going backwards when `safe`. */
  readonly clock: bigint
  readonly resetCount: number
  readonly restartCount: number
  readonly safe: boolean
}

export interface TpmInfo {
  readonly manufacturer: string
  readonly vendor: string
  readonly firmwareVersion: string
  readonly specRevision: string
  /** Banks with at least one PCR allocated. */
  readonly banks: HashAlg[]
}

export interface AttestResult {
  /** TPMS_ATTEST bytes as signed. */
  readonly attest: Uint8Array
  /** TPMT_SIGNATURE */
  readonly signature: Uint8Array
}

/**
 * An authority's approval of a PCR policy, for TPM2_PolicyAuthorize: the sealed object's policy
 * names the authority's key, not PCR values, so the authority can approve a new boot state
 * without anything being re-sealed.
 */
export interface AuthorizedPolicy {
  /** The policy digest the authority approved: PolicyPCR, then PolicyNV when `epoch` is given. */
  readonly approvedPolicy: Uint8Array
  readonly policyRef: Uint8Array
  /** TPM2B_PUBLIC of the authority's verification key, loaded into the TPM to check `signature`. */
  readonly authorityPublic: Uint8Array
  /** TPMT_SIGNATURE by the authority over SHA-256(approvedPolicy ‖ policyRef). */
  readonly signature: Uint8Array
  /**
   * An approval valid while the TPM's approval-epoch counter at `nvIndex` is at most `epoch`
   * (TPM2_PolicyNV, UNSIGNED_LE): raising the counter past it withdraws the approval for good.
   */
  readonly epoch?: { readonly nvIndex: number; readonly epoch: bigint }
}

/**
 * How a sealed object's policy is satisfied at unseal time. `pcrs`: TPM2_PolicyPCR with the
 * current values of these PCRs (the TPM compares, so nothing here can lie about them); then, when
 * `authorize` is given, TPM2_PolicyNV on its epoch counter (if it has an epoch) and
 * TPM2_PolicyAuthorize with the authority's signed approval.
 */
export interface UnsealPolicy {
  readonly pcrs: PcrSelection
  readonly authorize?: AuthorizedPolicy
}

/**
 * A TPM 2.0 device. The native implementation (EsysTpm) talks to tpm2-tss; tests and large
 * in-process simulations may use a software fake with the same contract.
 *
 * Implementations MUST serialise commands to one device and MUST flush every transient object
 * they load (software TPMs have three object slots). Methods reject with the errors of
 * ./errors.ts, never with raw native errors.
 */
export interface Tpm {
  /** The TCTI this TPM was opened with: it names the device in every error. */
  readonly tcti: string
  info(options?: TpmCallOptions): Promise<TpmInfo>
  getRandom(count: number, options?: TpmCallOptions): Promise<Uint8Array>
  readPcrs(selection: PcrSelection, options?: TpmCallOptions): Promise<PcrValues>
  /** Extends one PCR in each bank given (one digest per bank). */
  extendPcr(pcr: number, digests: Partial<Record<HashAlg, Uint8Array>>, options?: TpmCallOptions): Promise<void>
  readClock(options?: TpmCallOptions): Promise<TpmClock>
  endorsementKey(kind: EndorsementKeyKind, options?: TpmCallOptions): Promise<EndorsementKey>
  createKey(kind: KeyKind, options?: TpmCallOptions): Promise<KeyBlob>
  /** ECDSA-SHA256 over a SHA-256 digest computed by the caller; returns TPMT_SIGNATURE. */
  sign(key: KeyBlob, digest: Uint8Array, options?: TpmCallOptions): Promise<Uint8Array>
  quote(
    attestationKey: KeyBlob,
    qualifyingData: Uint8Array,
    selection: PcrSelection,
    options?: TpmCallOptions
  ): Promise<AttestResult>
  certify(
    object: KeyBlob,
    attestationKey: KeyBlob,
    qualifyingData: Uint8Array,
    options?: TpmCallOptions
  ): Promise<AttestResult>
  /** Recovers a MakeCredential secret: proves `attestationKey` lives in the TPM of this EK. */
  activateCredential(
    attestationKey: KeyBlob,
    endorsementKind: EndorsementKeyKind,
    credentialBlob: Uint8Array,
    secret: Uint8Array,
    options?: TpmCallOptions
  ): Promise<Uint8Array>
  /**
   * Seals `data` (≤128 bytes) under a policy digest: only a session satisfying it can unseal.
   * Implementations on a real bus MUST encrypt `data` on its way in, and unseal's and
   * activateCredential's results on their way out (salted sessions with parameter encryption).
   */
  seal(data: Uint8Array, authPolicy: Uint8Array, options?: TpmCallOptions): Promise<KeyBlob>
  /**
   * Rejects with UnsealRefusedError when the policy is not satisfied, and ApprovalWithdrawnError
   * when the approval's epoch counter has gone past its epoch.
   */
  unseal(sealed: KeyBlob, policy: UnsealPolicy, options?: TpmCallOptions): Promise<Uint8Array>
  /**
   * A monotonic counter in the TPM's NV memory at `nvIndex` (an owner-range index), made on first
   * use: its value. It never goes back, whatever is done to the disk. An index found there that is
   * not a counter as this project defines it (nv-counter.ts) is refused: NvCounterUntrustedError.
   */
  readCounter(nvIndex: number, options?: TpmCallOptions): Promise<bigint>
  /** Adds one to that counter; returns the new value. */
  incrementCounter(nvIndex: number, options?: TpmCallOptions): Promise<bigint>
  /** Idempotent. */
  close(): Promise<void>
}
