/**
 * Requests waiting for a peer's attestation (a hub's reservations): each resolves true once the
 * peer is attested, false as soon as it is refused, after its time, or when the service stops.
 * Bounded: at most ATTEST_LIMITS.maxAttestWaiters in all and maxAttestWaitersPerPeer for one peer;
 * past either a request is answered false at once, so a flood of unattested peers holds nothing up.
 */
import { ATTEST_LIMITS } from './limits.js'

/** What the waiters ask of the attestation service. */
export interface AttestProbe {
  attested(peerId: string): boolean
  /** Refused or a stranger: no use waiting. */
  refused(peerId: string): boolean
}

export class AttestWaiters {
  private readonly checks = new Map<(stopping?: boolean) => void, string>()
  private stopped = false

  constructor(private readonly probe: AttestProbe) {}

  async wait(peerId: string, ms: number): Promise<boolean> {
    if (this.probe.attested(peerId)) return true
    if (
      this.stopped ||
      this.probe.refused(peerId) ||
      this.checks.size >= ATTEST_LIMITS.maxAttestWaiters ||
      this.waitingFor(peerId) >= ATTEST_LIMITS.maxAttestWaitersPerPeer
    )
      return false
    return await new Promise<boolean>((resolve) => {
      const done = (answer: boolean): void => {
        clearTimeout(timer)
        if (this.checks.delete(check)) resolve(answer)
      }
      const check = (stopping?: boolean): void => {
        if (this.probe.attested(peerId)) done(true)
        else if (stopping === true || this.probe.refused(peerId)) done(false)
      }
      const timer = setTimeout(() => done(false), ms)
      this.checks.set(check, peerId)
    })
  }

  /** Something changed (a verdict, a refusal): each waiter looks again. */
  changed(): void {
    for (const check of [...this.checks.keys()]) check()
  }

  /** Every waiter is answered false, and later requests too. */
  stop(): void {
    this.stopped = true
    for (const check of [...this.checks.keys()]) check(true)
  }

  private waitingFor(peerId: string): number {
    let count = 0
    for (const peer of this.checks.values()) if (peer === peerId) count++
    return count
  }
}
