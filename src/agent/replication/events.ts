/**
 * What replication did, reported as it happens to the replicator's `onEvent` hook (the agent's
 * `onReplication`): tests and tools wait on these instead of letting time pass. The hook is
 * called synchronously and must not throw; nothing in replication depends on it.
 */
export type ReplicationEvent =
  /** A pull from `peerId` ended, done or failed: every batch it brought had been dealt with. */
  | { type: 'pull-ended'; peerId: string; ok: boolean }
  /**
   * A batch of `feed` (pulled or pushed) from `peerId` did not verify against the feed's key and
   * the entries held: nothing of it was stored.
   */
  | { type: 'batch-refused'; peerId: string; feed: string; reason: string }
  /** An alert (alert.equivocation, alert.revocation) in `feed`, from `peerId`, was read and judged. */
  | { type: 'alert-read'; peerId: string; feed: string; alert: string }
  /**
   * An announce or push from `peerId`, which is not attested, was dropped unheard: all of them but
   * an announce of the owner's feed whose newer owner-signed checkpoint verifies.
   */
  | { type: 'announce-dropped'; peerId: string }
  /**
   * Witnessing looked at the newest checkpoint held of a peer's `feed` and left nothing due:
   * `cosigned` when it added this agent's cosignature; not when the feed is not this agent's to
   * cosign (outside its witness set) or that size was cosigned already.
   */
  | { type: 'cosign-decided'; feed: string; cosigned: boolean }
