import type { Entry } from '../../ledger/index.js'
import { GATE_LIMITS } from './limits.js'

/**
 * The latest verdict each peer recorded on this device (an attest.verdict entry in the peer's own
 * feed, signed by the peer's TPM-held key and replicated here): what a workload's quorum counts.
 * At most GATE_LIMITS.maxVerdictPeers peers; the one heard from longest ago goes first.
 */
export class VerdictsOnSelf {
  private readonly self: string
  private readonly latest = new Map<string, { trusted: boolean; at: number; seq: number }>()

  constructor(self: string) {
    this.self = self
  }

  /** Takes an entry of `feed` (verified, in feed order): a verdict on this device is remembered. */
  record(feed: string, entry: Entry): void {
    if (entry.type !== 'attest.verdict' || feed === this.self) return
    const body = entry.body as { subject?: unknown; trusted?: unknown }
    if (body.subject !== this.self || typeof body.trusted !== 'boolean') return
    // The latest in feed order wins, whatever the entries' own dates say: a peer whose clock ran
    // ahead cannot keep an old trusted verdict over its newer refusal.
    const held = this.latest.get(feed)
    if (held !== undefined && held.seq >= entry.seq) return
    this.latest.delete(feed)
    if (this.latest.size >= GATE_LIMITS.maxVerdictPeers) this.latest.delete(this.latest.keys().next().value!)
    this.latest.set(feed, { trusted: body.trusted, at: entry.time, seq: entry.seq })
  }

  /** The peers (feed ids) whose latest verdict on this device is trusted and at most `freshMs` old at `now`. */
  trustedBy(now: number, freshMs: number): string[] {
    // A verdict dated ahead of this clock by more than the skew allowed counts as none: a peer
    // cannot keep its word fresh by writing a future time.
    return [...this.latest]
      .filter(([, v]) => v.trusted && now - v.at <= freshMs && v.at - now <= GATE_LIMITS.verdictSkewMs)
      .map(([feed]) => feed)
  }
}
