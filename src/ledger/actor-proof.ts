/**
 * An actor's own hardware signature of one action: what it signs (the action statement) and the
 * proof a version-2 entry carries in its `proof` field.
 *
 * The statement is fixed before the entry exists: an operator approves an action (touches a FIDO2
 * key, or a PKCS#11 token signs) before the agent gives it a place in its feed, so it covers what
 * the action is and where it happens, not the feed position: fleet, device, type, actor, attest,
 * body, and `at`, the time the actor signed. An entry's time must fall within
 * ACTOR_PROOF_LIMITS of `at`, so a proof cannot be kept and appended much later; a proof names the
 * device, so it cannot be appended on another. The proof's signature is interpreted by its kind:
 *   pkcs11: ECDSA P-256 over SHA-256 of the statement, IEEE P1363 r‖s (64 bytes);
 *   webauthn: a stored WebAuthn assertion (src/webauthn) whose challenge is SHA-256 of the statement;
 *   workload: no signature: the calling program as the device's agent measured it (WorkloadEvidence,
 *     canonical CBOR), vouched for by the device's own signature of its feed.
 * Who the actor is, and which key is theirs, is not the ledger's to know: an ActorDirectory (built
 * from the owner's actor enrolments) checks the signature.
 */
import { encodeCanonical, decodeRecord, type Schema } from '../codec/index.js'
import { DOMAIN, domainSeparated } from '../identity/index.js'
import type { Entry } from './entry.js'
import {
  ActorProofTimeError,
  ActorProofUncheckedError,
  FeedVerificationError,
  MalformedActorProofError,
  MissingActorProofError,
  UnexpectedActorProofError
} from './errors.js'
import { ACTOR_PROOF_LIMITS } from './limits.js'

export const ACTOR_PROOF_KINDS = ['pkcs11', 'webauthn', 'workload'] as const
export type ActorProofKind = (typeof ACTOR_PROOF_KINDS)[number]

/** A decoded proof (format version 1). */
export interface ActorProof {
  kind: ActorProofKind
  /** When the actor signed, ms since the Unix epoch. */
  at: number
  sig: Uint8Array
}

const PROOF_V1 = {
  v: { kind: 'uint', max: 1 },
  kind: { kind: 'string', max: 16, oneOf: ACTOR_PROOF_KINDS },
  at: { kind: 'uint' },
  sig: { kind: 'bytes', max: ACTOR_PROOF_LIMITS.maxSignatureBytes }
} as const satisfies Schema

/** What the agent measured of a local service's calling program: a `workload` proof's `sig`. */
export interface WorkloadEvidence {
  uid: number
  /** The executable's path as the kernel showed it. */
  exe: string
  /** SHA-256 of the executable the process was started from. */
  exeDigest: Uint8Array
  /** For an interpreter, the script it was started with (its own word) and that file's SHA-256. */
  script?: { path: string; digest?: Uint8Array }
}

const WORKLOAD_V1 = {
  v: { kind: 'uint', max: 1 },
  uid: { kind: 'uint', max: 4_294_967_295 },
  exe: { kind: 'string', max: 4096 },
  exeDigest: { kind: 'bytes', size: 32, max: 32 },
  script: {
    kind: 'record',
    optional: true,
    fields: { path: { kind: 'string', max: 4096 }, digest: { kind: 'bytes', size: 32, max: 32, optional: true } }
  }
} as const satisfies Schema

export function encodeWorkloadEvidence(evidence: WorkloadEvidence): Uint8Array {
  const value: Record<string, unknown> = { v: 1, uid: evidence.uid, exe: evidence.exe, exeDigest: evidence.exeDigest }
  if (evidence.script !== undefined)
    value.script =
      evidence.script.digest === undefined
        ? { path: evidence.script.path }
        : { path: evidence.script.path, digest: evidence.script.digest }
  return encodeCanonical(value)
}

/** Strict decoding of a workload proof's evidence. */
export function decodeWorkloadEvidence(bytes: Uint8Array): WorkloadEvidence {
  try {
    const record = decodeRecord(bytes, WORKLOAD_V1, { maxBytes: ACTOR_PROOF_LIMITS.maxSignatureBytes })
    const evidence: WorkloadEvidence = { uid: record.uid, exe: record.exe, exeDigest: record.exeDigest }
    if (record.script !== undefined) evidence.script = record.script as WorkloadEvidence['script']
    return evidence
  } catch (err) {
    throw new MalformedActorProofError(`workload evidence: ${(err as Error).message}`, err)
  }
}

/** The action an actor signs: an entry's fields that do not depend on its place in the feed. */
export interface ActorAction {
  fleet: Uint8Array
  device: string
  type: string
  actor: { id: string; role: string }
  attest: Uint8Array | null
  body: Record<string, unknown>
}

/** The bytes an actor's key signs for `action` at `at` (domain-separated canonical CBOR). */
export function actorStatement(action: ActorAction, at: number): Uint8Array {
  const { fleet, device, type, actor, attest, body } = action
  const statement = encodeCanonical({
    v: 1,
    fleet,
    device,
    type,
    actor: { id: actor.id, role: actor.role },
    attest,
    body,
    at
  })
  return domainSeparated(DOMAIN.actorAction, statement)
}

export function encodeActorProof(proof: ActorProof): Uint8Array {
  const bytes = encodeCanonical({ v: 1, kind: proof.kind, at: proof.at, sig: proof.sig })
  if (bytes.length > ACTOR_PROOF_LIMITS.maxProofBytes || proof.sig.length === 0)
    throw new MalformedActorProofError(`a proof is 1 to ${ACTOR_PROOF_LIMITS.maxProofBytes} bytes with a signature`)
  return bytes
}

/** Strict decoding: canonical CBOR, exactly the four fields of version 1, within their bounds. */
export function decodeActorProof(bytes: Uint8Array): ActorProof {
  let record: ReturnType<typeof decodeRecord<typeof PROOF_V1>>
  try {
    record = decodeRecord(bytes, PROOF_V1, { maxBytes: ACTOR_PROOF_LIMITS.maxProofBytes })
  } catch (err) {
    throw new MalformedActorProofError((err as Error).message, err)
  }
  if (record.v !== 1) throw new MalformedActorProofError(`unsupported version ${record.v}`)
  if (record.sig.length === 0) throw new MalformedActorProofError('the signature is empty')
  return { kind: record.kind as ActorProofKind, at: record.at, sig: record.sig }
}

/**
 * The roles whose entries carry an actor proof, every such entry, always: an operator's or
 * auditor's own hardware signature, or for a service the agent's measurement of the program that
 * asked (a `workload` proof).
 */
export const ACTOR_PROOF_ROLES = ['operator', 'auditor', 'service'] as const

/** Whether entries by an actor in `role` must carry an actor proof (and only those may carry one). */
export function requiresActorProof(role: string): boolean {
  return (ACTOR_PROOF_ROLES as readonly string[]).includes(role)
}

/** One entry's proof to check: who claims to act, what they must have signed, and where the entry is. */
export interface ActorCheck {
  actor: { id: string; role: string }
  statement: Uint8Array
  proof: ActorProof
  at: { feed: string; seq: number }
}

/**
 * What to do when a WebAuthn signature counter goes back (a cloned authenticator): refuse the
 * entry (on append: the action never happens), or accept it and report the clone (a peer's
 * feed: the entry is genuinely signed by the enrolled credential, so refusing it would stall the
 * feed; the directory's clone report becomes an alert instead).
 */
export type CloneHandling = 'refuse' | 'report'

/**
 * How a directory checks proofs: `clones`, what a cloned authenticator's signature gets;
 * `appending`, the entries are about to be appended to the checker's own feed (their seq is not
 * known yet: each is the newest of its feed, and a signature already seen anywhere is a replay).
 */
export interface ActorCheckOptions {
  clones?: CloneHandling
  appending?: boolean
}

/**
 * Checks proofs' signatures against the actors' enrolled keys. verifyAll takes the checks of one
 * feed in feed order and throws, at the first that fails, a typed error naming why (unknown
 * actor, revoked actor, a role the actor was not enrolled for, a signature that does not verify,
 * a replayed signature, a WebAuthn counter that went back when clones are refused). A directory
 * that keeps what it judged across restarts (the agent's) resolves only once that is written, so
 * an entry is never stored before its judgement; when it cannot write, LedgerWriteError.
 */
export interface ActorDirectory {
  verifyAll(checks: readonly ActorCheck[], options?: ActorCheckOptions): Promise<void>
}

/**
 * The checks of an entry's actor proof that need no key: present (version 2), well formed, and
 * signed within ACTOR_PROOF_LIMITS of the entry's time. Returns the proof and the statement it
 * must sign, for an ActorDirectory.
 */
export function readActorProof(entry: Entry): { proof: ActorProof; statement: Uint8Array } {
  if (entry.v !== 2 || entry.proof === undefined)
    throw new MissingActorProofError(entry.type, entry.actor.id, entry.seq)
  const proof = decodeActorProof(entry.proof)
  const signedBefore = entry.time - proof.at
  if (signedBefore > ACTOR_PROOF_LIMITS.maxSignedBeforeMs || -signedBefore > ACTOR_PROOF_LIMITS.maxSignedAfterMs)
    throw new ActorProofTimeError(entry.seq, entry.time, proof.at)
  return { proof, statement: actorStatement(entry, proof.at) }
}

/**
 * The actor-proof rule over entries of one feed, in feed order: an entry by an operator or
 * auditor carries a proof its actor's enrolled key made (checked by `directory`); an entry by any
 * other role carries none. Without a directory, an entry that needs a proof is refused: there is
 * nothing to check it against.
 */
export async function verifyActorProofs(
  entries: readonly Entry[],
  directory: ActorDirectory | undefined,
  options: ActorCheckOptions = {}
): Promise<void> {
  const checks: ActorCheck[] = []
  for (const entry of entries) {
    if (!requiresActorProof(entry.actor.role)) {
      if (entry.proof !== undefined) throw new UnexpectedActorProofError(entry.seq, entry.actor.role)
      continue
    }
    const { proof, statement } = readActorProof(entry)
    checks.push({ actor: entry.actor, statement, proof, at: { feed: entry.feed, seq: entry.seq } })
  }
  if (checks.length === 0) return
  if (directory === undefined) throw new ActorProofUncheckedError(checks[0]!.at.seq, checks[0]!.actor.id)
  await directory.verifyAll(checks, options)
}

/** verifyActorProofs for one entry; returns its proof. */
export async function verifyActorProof(
  entry: Entry,
  directory: ActorDirectory,
  options: ActorCheckOptions = {}
): Promise<ActorProof> {
  const { proof } = readActorProof(entry)
  await verifyActorProofs([entry], directory, options)
  return proof
}

/**
 * The actor proofs of a feed being verified, checked in runs of ACTOR_PROOF_LIMITS.verifyRun entries (a directory
 * checks a run's token signatures together); a failure is the feed's, at the entry it names.
 */
export class ActorProofRun {
  private run: Entry[] = []
  constructor(private readonly directory: ActorDirectory | undefined) {}

  async add(entry: Entry): Promise<void> {
    if (entry.proof === undefined && !requiresActorProof(entry.actor.role)) return
    this.run.push(entry)
    if (this.run.length >= ACTOR_PROOF_LIMITS.verifyRun) await this.flush()
  }

  async flush(): Promise<void> {
    const run = this.run
    this.run = []
    try {
      await verifyActorProofs(run, this.directory, { clones: 'report' })
    } catch (err) {
      const seq = (err as { seq?: unknown }).seq
      const at = typeof seq === 'number' ? seq : run[0]!.seq
      // The typed errors name their entry already.
      const message = (err as Error).message
      throw new FeedVerificationError(message.startsWith('entry ') ? message : `entry ${at}: ${message}`, {
        seq: at,
        cause: err
      })
    }
  }
}
