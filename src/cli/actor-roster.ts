/**
 * The fleet's actors as the owner's feed states them: its actor.enrol and actor.revoke entries
 * replayed in feed order. A later actor.enrol of an id replaces the key (rotation) and ends an
 * earlier revocation; actor.revoke of an id never enrolled changes nothing. An enrolment no proof
 * could ever match (a token key that is not a SEC1 P-256 point, a WebAuthn credential without its
 * id or RP ID) is passed over, as the agents' ActorRegistry passes it over. Pure: no I/O.
 * Also each actor as `fleet actor list` prints it (actorRow, actorText).
 */
import { bytesEqual, toHex } from '../common/index.js'
import type { Entry } from '../ledger/index.js'

export type ActorRole = 'operator' | 'auditor'
export type ActorKind = 'pkcs11' | 'webauthn'

/** One actor: the newest enrolment of its id, and its revocation if that came after. */
export interface RosterActor {
  readonly actorId: string
  readonly role: ActorRole
  readonly kind: ActorKind
  readonly publicKey: Uint8Array
  readonly credentialId: Uint8Array | undefined
  readonly rpId: string | undefined
  readonly hardware: string
  /** Whether the enrolment recorded attestation evidence. */
  readonly evidence: boolean
  /** When the owner's entry enrolling this key was made (ms since the epoch), and where. */
  readonly enrolledAt: number
  readonly enrolledSeq: number
  /** How many enrolments of this id the feed holds (rotations are the ones after the first). */
  readonly enrolments: number
  readonly revoked: { readonly reason: string; readonly at: number; readonly seq: number } | undefined
}

/** Replays the owner's feed entries (in order) into the actors they enrol, in order of first enrolment. */
export function actorRoster(entries: Iterable<Entry>): RosterActor[] {
  const actors = new Map<string, RosterActor>()
  for (const entry of entries) {
    if (entry.type === 'actor.enrol') {
      const body = entry.body as {
        actorId: string
        role: ActorRole
        kind: ActorKind
        publicKey: Uint8Array
        credentialId?: Uint8Array
        rpId?: string
        evidence?: Uint8Array
        hardware: string
      }
      if (!usable(body)) continue
      actors.set(body.actorId, {
        actorId: body.actorId,
        role: body.role,
        kind: body.kind,
        publicKey: body.publicKey,
        credentialId: body.credentialId,
        rpId: body.rpId,
        hardware: body.hardware,
        evidence: body.evidence !== undefined,
        enrolledAt: entry.time,
        enrolledSeq: entry.seq,
        enrolments: (actors.get(body.actorId)?.enrolments ?? 0) + 1,
        revoked: undefined
      })
    } else if (entry.type === 'actor.revoke') {
      const body = entry.body as { actorId: string; reason: string }
      const actor = actors.get(body.actorId)
      if (actor === undefined) continue
      actors.set(body.actorId, { ...actor, revoked: { reason: body.reason, at: entry.time, seq: entry.seq } })
    }
  }
  return [...actors.values()]
}

/** The actor enrolled now (not revoked) whose key this is: a token key by its point, a credential by its id. */
export function currentHolder(
  roster: readonly RosterActor[],
  key: { kind: ActorKind; publicKey: Uint8Array; credentialId?: Uint8Array }
): RosterActor | undefined {
  return roster.find(
    (actor) =>
      actor.revoked === undefined &&
      actor.kind === key.kind &&
      (key.kind === 'pkcs11'
        ? bytesEqual(actor.publicKey, key.publicKey)
        : actor.credentialId !== undefined &&
          key.credentialId !== undefined &&
          bytesEqual(actor.credentialId, key.credentialId))
  )
}

function usable(actor: { kind: ActorKind; publicKey: Uint8Array; credentialId?: Uint8Array; rpId?: string }): boolean {
  if (actor.kind === 'pkcs11') return actor.publicKey.length === 65 && actor.publicKey[0] === 0x04
  return actor.credentialId !== undefined && actor.credentialId.length > 0 && actor.rpId !== undefined
}

/** One actor as `fleet actor list --json` prints it. */
export interface ActorRow {
  actorId: string
  role: string
  kind: string
  hardware: string
  publicKey: string
  credentialId: string | null
  rpId: string | null
  evidence: boolean
  enrolledAt: string
  enrolments: number
  revoked: { reason: string; at: string } | null
}

export function actorRow(actor: RosterActor): ActorRow {
  return {
    actorId: actor.actorId,
    role: actor.role,
    kind: actor.kind,
    hardware: actor.hardware,
    publicKey: toHex(actor.publicKey),
    credentialId: actor.credentialId === undefined ? null : toHex(actor.credentialId),
    rpId: actor.rpId ?? null,
    evidence: actor.evidence,
    enrolledAt: new Date(actor.enrolledAt).toISOString(),
    enrolments: actor.enrolments,
    revoked:
      actor.revoked === undefined
        ? null
        : { reason: actor.revoked.reason, at: new Date(actor.revoked.at).toISOString() }
  }
}

export function actorText(row: ActorRow): string {
  const state = row.revoked === null ? 'active' : `REVOKED ${row.revoked.at}: ${row.revoked.reason}`
  return [
    `  ${row.actorId}  ${row.role}  ${row.kind}  enrolled ${row.enrolledAt}  ${state}`,
    `      ${row.hardware}`,
    `      ${row.evidence ? 'attestation evidence recorded' : 'no attestation evidence'}`
  ].join('\n')
}
