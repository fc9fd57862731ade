import type { LedgerSpace, LedgerSublevel } from './ledger-store.js'

/**
 * The sublevels of a ledger store, by what they hold: the one place their names are written.
 *
 * FROZEN: these are on-disk names. Each is the key prefix ('!entries!…', '!replicas!!<feed>!!meta!…')
 * of everything already stored under it, in every store ever written; renaming one orphans that
 * data, and reusing one for something else misreads it. Add new names; never change or reuse one.
 */
export const LEDGER_SUBLEVELS = {
  /** A feed's entries in runs, keyed by the run's last seq (entry-runs.ts). */
  entries: 'entries',
  /** A feed's signed checkpoint notes, keyed by their size (16 hex digits). */
  checkpoints: 'checkpoints',
  /** A feed's state records: 'state' (size, head, frontier); the own feed's also 'checkpoint', 'epoch', 'rollback'. */
  meta: 'meta',
  /** Other devices' feeds, each in a sublevel named by its feed id, laid out as a feed. */
  replicas: 'replicas',
  /** In a replica: the history an authorised epoch replaced, by epoch ('replaced/<epoch>/entries', …/checkpoints). */
  replaced: 'replaced',
  /** The feed ids of the replicas held (empty values). */
  replicaIndex: 'replica-index',
  /** Owner-signed enrolment records of fleet members, by deviceId. */
  members: 'members',
  /** alert.revocation entries that proved an owner revocation, by the revoked deviceId. */
  provenRevocations: 'proven-revocations',
  /** Equivocation evidence of each quarantined device, by deviceId. */
  quarantine: 'quarantine',
  /** What the actor registry judged of WebAuthn signatures, kept across restarts (counter-memory.ts in agent/membership). */
  actorCounters: 'actor-counters',
  /** Per sink and feed, the next seq to deliver to the sink (agent/sinks/cursor-store.ts). */
  sinkCursors: 'sink-cursors',
  /** Per peer feed, the seq up to which its alerts were acted on (agent/replication/peer-alerts.ts). */
  alertCursors: 'alert-cursors',
  /** Peers' alerts about devices not enrolled here yet, by '<reporting feed>!<seq>' (peer-alerts.ts). */
  alertsWaiting: 'alerts-waiting'
} as const

/**
 * The sublevels of one feed as FeedLedger writes it: at the store's root for its own feed, under
 * replicas/<feed> for a replica.
 */
export interface FeedSublevels {
  entries: LedgerSublevel
  checkpoints: LedgerSublevel
  meta: LedgerSublevel
}

/** The sublevels of the feed laid out at `space`. */
export function feedSublevels(space: LedgerSpace): FeedSublevels {
  return {
    entries: space.sublevel(LEDGER_SUBLEVELS.entries),
    checkpoints: space.sublevel(LEDGER_SUBLEVELS.checkpoints),
    meta: space.sublevel(LEDGER_SUBLEVELS.meta)
  }
}

/** Where the replica of `feed` lies in a store (a feed's layout: see feedSublevels). */
export function replicaSpace(store: LedgerSpace, feed: string): LedgerSublevel {
  return store.sublevel(LEDGER_SUBLEVELS.replicas).sublevel(feed)
}
