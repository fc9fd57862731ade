/**
 * The programs the owner allowed to act as local services (workload.allow, workload.revoke), and
 * the check of a `service` entry's workload proof against them: the calling program as its agent
 * measured it (uid, SHA-256 of the executable, its path when the allowance names one, and for an
 * interpreter its script) must match an allowance for that service in force when it acted. A
 * copied binary has the same digest but runs from another path or under another uid, so both are
 * part of the match; a modified one has another digest. The refusal names all three.
 */
import { toHex } from '../../common/index.js'
import type { Entry, WorkloadEvidence } from '../../ledger/index.js'
import { TooManyWorkloadsError, WorkloadNotAllowedError } from './actor-errors.js'
import { ACTOR_LIMITS } from './limits.js'

/** A program the owner allowed a service to act through. */
export interface WorkloadAllowance {
  service: string
  uid: number
  exeDigest: Uint8Array
  /** The path it must run from, when the owner named one. */
  exe?: string
  scriptDigest?: Uint8Array
  description: string
  /** The time of the owner's workload.allow. */
  allowedAt: number
  /** Set once the owner revoked it. */
  revoked?: { reason: string; at: number }
}

const same = (a: Uint8Array, b: Uint8Array | undefined): boolean =>
  b !== undefined && a.length === b.length && a.every((byte, i) => byte === b[i])

export class WorkloadAllowances {
  private readonly allowances: WorkloadAllowance[] = []

  /** Applies an entry of the owner's feed (the caller's guarantee), in feed order; other actions are ignored. */
  apply(entry: Entry): 'allowed' | 'revoked' | undefined {
    if (entry.type === 'workload.allow') {
      const b = entry.body as Omit<WorkloadAllowance, 'allowedAt' | 'revoked'>
      if (this.allowances.length >= ACTOR_LIMITS.maxWorkloadAllowances)
        throw new TooManyWorkloadsError(ACTOR_LIMITS.maxWorkloadAllowances)
      this.allowances.push({
        service: b.service,
        uid: b.uid,
        exeDigest: b.exeDigest,
        exe: b.exe,
        scriptDigest: b.scriptDigest,
        description: b.description,
        allowedAt: entry.time
      })
      return 'allowed'
    }
    if (entry.type === 'workload.revoke') {
      const b = entry.body as { service: string; exeDigest: Uint8Array; reason: string }
      let changed = false
      for (const allowance of this.allowances) {
        if (allowance.service !== b.service || !same(allowance.exeDigest, b.exeDigest) || allowance.revoked) continue
        allowance.revoked = { reason: b.reason, at: entry.time }
        changed = true
      }
      return changed ? 'revoked' : undefined
    }
    return undefined
  }

  list(): WorkloadAllowance[] {
    return [...this.allowances]
  }

  /**
   * Throws WorkloadNotAllowedError unless an allowance for `service` in force at `at` matches the
   * program: its uid, its executable's digest and, when the allowance names one, its script's.
   */
  check(service: string, evidence: WorkloadEvidence, at: number, where: { feed: string; seq: number }): void {
    const skew = ACTOR_LIMITS.enrolSkewMs
    const allowed = this.allowances.some(
      (a) =>
        a.service === service &&
        a.uid === evidence.uid &&
        same(a.exeDigest, evidence.exeDigest) &&
        (a.exe === undefined || a.exe === evidence.exe) &&
        (a.scriptDigest === undefined || same(a.scriptDigest, evidence.script?.digest)) &&
        a.allowedAt - skew <= at &&
        (a.revoked === undefined || at < a.revoked.at)
    )
    if (!allowed)
      throw new WorkloadNotAllowedError(service, {
        uid: evidence.uid,
        exe: evidence.exe,
        exeDigest: toHex(evidence.exeDigest),
        scriptDigest: evidence.script?.digest === undefined ? undefined : toHex(evidence.script.digest),
        feed: where.feed,
        seq: where.seq
      })
  }
}
