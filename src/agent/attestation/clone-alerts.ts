/**
 * Peers trying to pass as an enrolled device (a stranger with its record, or a clone) are
 * recorded without letting them fill the feed: per claimed device and window
 * (ATTEST_LIMITS.cloneAlertWindowMs), the first attempt is an alert.clone_suspected at once; the
 * others are counted, and the count is recorded (an untrusted attest.verdict) when the next window
 * opens, when the table of open windows is full (the oldest closes), or when the service stops.
 */
import type { FeedLedger } from '../../ledger/index.js'
import { ATTEST_LIMITS } from './protocol.js'
import type { AttestationOutcome } from './judge.js'

/** Attempts to pass as one claimed device within one alert window. */
interface CloneTally {
  since: number
  attempts: number
  firstPeerId: string
  /** When it opened on the steady clock: how long it stays open is not moved by a step of the wall clock. */
  opened: number
}

export interface CloneAlertsParts {
  ledger?: FeedLedger
  /** The wall clock: what the window's times are said in. */
  now: () => number
  /** A clock that never steps: how long a window stays open. */
  steady: () => number
  /** This agent, as the actor of what it records. */
  actor: () => { id: string; role: string }
  /** The boot policy verdicts are reached by now. */
  policyId: () => string
}

export class CloneAlerts {
  private readonly tallies = new Map<string, CloneTally>()

  constructor(private readonly parts: CloneAlertsParts) {}

  /** Windows open now (bounded by ATTEST_LIMITS.maxCloneTallies). */
  get open(): number {
    return this.tallies.size
  }

  /** An attempt by `peerId` to pass as the device `outcome.record` names. */
  async count(outcome: AttestationOutcome, peerId: string): Promise<void> {
    const record = outcome.record
    const ledger = this.parts.ledger
    if (record === undefined || ledger === undefined) return
    const now = this.parts.now()
    const opened = this.parts.steady()
    const open = this.tallies.get(record.deviceId)
    if (open !== undefined && opened - open.opened < ATTEST_LIMITS.cloneAlertWindowMs) {
      open.attempts++
      return
    }
    // The new window is open before anything is awaited: attempts arriving meanwhile count in it.
    this.tallies.delete(record.deviceId)
    this.tallies.set(record.deviceId, { since: now, opened, attempts: 1, firstPeerId: peerId })
    const closed: Array<[string, CloneTally]> = open === undefined ? [] : [[record.deviceId, open]]
    for (const [oldest, tally] of this.tallies) {
      if (this.tallies.size <= ATTEST_LIMITS.maxCloneTallies) break
      this.tallies.delete(oldest)
      closed.push([oldest, tally])
    }
    for (const [deviceId, tally] of closed) await this.recordCount(deviceId, tally)
    await ledger.append({
      type: 'alert.clone_suspected',
      actor: this.parts.actor(),
      attest: outcome.quoteHash ?? null,
      body: {
        peerId: peerId.slice(0, 128),
        claimedDeviceId: record.deviceId,
        presentedAkHash: outcome.quoteHash ?? new Uint8Array(32)
      }
    })
  }

  /** Records every open window's count (the service stops: a restart does not lose them). */
  async closeAll(onError: (err: unknown) => void): Promise<void> {
    for (const [deviceId, tally] of [...this.tallies]) {
      this.tallies.delete(deviceId)
      await this.recordCount(deviceId, tally).catch(onError)
    }
  }

  /** A closed window with more attempts than its alert: how many, as a refusal of the claimed device's record. */
  private async recordCount(deviceId: string, tally: CloneTally): Promise<void> {
    const ledger = this.parts.ledger
    if (tally.attempts <= 1 || ledger === undefined) return
    const end = tally.since + Math.min(this.parts.steady() - tally.opened, ATTEST_LIMITS.cloneAlertWindowMs)
    const reason =
      `${tally.attempts} connections presented the enrolment of device ${deviceId} without being it, from ${new Date(tally.since).toISOString()} ` +
      `to ${new Date(end).toISOString()} (the first, ${tally.firstPeerId.slice(0, 64)}, was alerted)`
    await ledger.append(
      {
        type: 'attest.verdict',
        actor: this.parts.actor(),
        attest: null,
        body: {
          subject: deviceId,
          trusted: false,
          policyId: this.parts.policyId(),
          quoteHash: new Uint8Array(32),
          reasons: [reason.slice(0, 512)]
        }
      },
      { routine: true }
    )
  }
}
