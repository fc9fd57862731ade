/**
 * The gate: whether a workload may start on this device, and go on running. A running agent has
 * released its keys (a boot state the owner approved, the agent measured); the gate adds what may
 * change afterwards, checked at each ask:
 *   - the PCRs still hold the values they held when the keys were released (a PCR extended since
 *     means something was measured into the boot state after the fact); a changed PCR's reason
 *     names the events the boot event log gained for it since, or says it was extended outside
 *     the log (pcr-change.ts);
 *   - the owner has not revoked this device, and its feed is not quarantined for equivocation;
 *   - with a quorum K: at least K peers, neither revoked nor quarantined, hold a trusted verdict on
 *     this device no older than GATE_LIMITS.verdictFreshMs (their attest.verdict entries, signed
 *     in their own TPMs and replicated here).
 * An admitted workload gets the secrets it asked for, unsealed in the TPM, and its start is an
 * entry of the device's feed (workload.start: the program's path and digest, the secrets by name,
 * the quorum); its stop too (workload.stop, with the reason).
 */
import type { PcrSelection, PcrValues, Tpm } from '../../attest/index.js'
import { differingPcrs, parseEventLog } from '../../attest/index.js'
import { processExists, steadyClock, type Clock } from '../../common/index.js'
import type { AppendInput } from '../../ledger/index.js'
import type { DeviceState } from '../device/index.js'
import { GateRefusedError, NotAdmittedError, QuorumError, TooManyGatedWorkloadsError } from './errors.js'
import { GATE_LIMITS } from './limits.js'
import { eventsPerPcr, explainPcrChange, type LogAtRelease, type LogNow, type PcrChange } from './pcr-change.js'
import { checkSecretName, openSecret } from './secrets.js'
import type { VerdictsOnSelf } from './verdicts.js'

/** What the gate asks of the running agent. */
export interface GateComponents {
  tpm: Tpm
  state: DeviceState
  /** The state directory (its secrets/). */
  dir: string
  /** Verdicts' freshness is judged by it (they carry their writers' wall-clock times). */
  clock: Clock
  /** When the PCRs were last read (re-read after GATE_LIMITS.pcrRecheckMs): a clock that never steps. Default: steadyClock. */
  steady?: Clock
  verdicts: VerdictsOnSelf
  /**
   * The boot event log (as the agent sends it with its attestations), read to name what changed a
   * PCR: at the start, and again only when a PCR differs. Bounded by EVENTLOG_LIMITS.maxLogBytes.
   */
  eventLog: () => Promise<Uint8Array>
  isRevoked(deviceId: string): boolean
  isQuarantined(deviceId: string): boolean
  ledger: { append(input: AppendInput): Promise<{ seq: number; hash: Uint8Array }> }
  /** Whether process `pid` still exists. Default: signal 0 (EPERM means it exists, as another user's). */
  alive?: (pid: number) => boolean
}

/** A workload as `fleet exec` names it; pid and uid are its caller's, as the kernel names them. */
export interface WorkloadStart {
  exe: string
  exeDigest: Uint8Array
  pid: number
  uid: number
  secrets: readonly string[]
  quorum: number
}

/** A workload's end as its `fleet exec` reports it (the process the gate admitted it to). */
export interface WorkloadStop {
  pid: number
  uid: number
  reason: string
  exitCode?: number
  signal?: string
}

/** The reason recorded for a workload whose `fleet exec` went without reporting its stop. */
const GONE_UNREPORTED = 'its fleet exec ended without reporting the stop (killed); found by the gate later'

export class Gate {
  private readonly c: GateComponents
  private readonly selection: PcrSelection
  private baseline: PcrValues | undefined
  private lastRead: { at: number; values: PcrValues } | undefined
  /** The workloads admitted and not yet stopped, by the pid of the `fleet exec` they were admitted to. */
  private readonly admitted = new Map<number, { uid: number; exe: string; exeDigest: Uint8Array }>()
  /** Processes whose admission is under way (one at a time a process, even when asked at once). */
  private readonly admitting = new Set<number>()
  private atRelease: LogAtRelease | undefined
  /**
   * The explanation of each changed PCR (by bank and PCR), for the value it was explained at: the
   * watch asks twice a second, and a log is read and parsed once per value it changed to.
   */
  private readonly explained = new Map<string, { now: string; text: Promise<string> }>()

  constructor(components: GateComponents) {
    this.c = components
    this.selection = components.state.sealing.selection
  }

  /**
   * Takes the PCR values the keys were released under: `released`, read right after the release,
   * or else read now (call it right after the agent's start); and how many events of each PCR the
   * event log holds then, so that the events logged later can be told apart. A log that cannot be
   * read now is no reason to refuse: the release point is then looked for in the log read later.
   */
  async start(released?: PcrValues): Promise<void> {
    this.baseline = released ?? (await this.c.tpm.readPcrs(this.selection))
    const logNow = await this.readLog()
    this.atRelease = 'log' in logNow ? eventsPerPcr(logNow.log) : undefined
    this.explained.clear()
  }

  /** Why a workload asking for `quorum` may not run now; empty when it may. */
  async reasons(quorum: number): Promise<string[]> {
    checkQuorum(quorum)
    if (this.baseline === undefined) return ['the gate has not read the PCRs it guards yet']
    const reasons: string[] = []
    const now = this.c.clock.now()
    // On a clock that never steps: kept on the wall clock, a step back of an hour would have the
    // gate judge by the PCR values read before it for that hour, blind to an extend meanwhile.
    const readAt = (this.c.steady ?? steadyClock).now()
    if (this.lastRead === undefined || readAt - this.lastRead.at >= GATE_LIMITS.pcrRecheckMs)
      this.lastRead = { at: readAt, values: await this.c.tpm.readPcrs(this.selection) }
    for (const d of differingPcrs(this.selection, this.lastRead.values, this.baseline))
      reasons.push(
        `PCR ${d.pcr} changed since the keys were released (now ${d.actual.slice(0, 16)}…, was ${d.expected.slice(0, 16)}…): ${await this.explain(d)}`
      )
    const self = this.c.state.deviceId
    if (this.c.isRevoked(self)) reasons.push('the owner revoked this device')
    if (this.c.isQuarantined(self)) reasons.push("this device's feed is quarantined (it signed two histories)")
    if (quorum > 0) {
      const trusting = this.c.verdicts
        .trustedBy(now, GATE_LIMITS.verdictFreshMs)
        .filter((peer) => !this.c.isRevoked(peer) && !this.c.isQuarantined(peer))
      if (trusting.length < quorum)
        reasons.push(
          `quorum short by ${quorum - trusting.length}: ${trusting.length} of the ${quorum} peers asked for hold a trusted verdict on this device from the last ${GATE_LIMITS.verdictFreshMs / 60_000} minutes`
        )
    }
    return reasons
  }

  /**
   * Admits a workload: refuses (GateRefusedError, every reason) unless it may run; then unseals
   * its secrets and records its start. Returns the secrets by name.
   */
  async admit(workload: WorkloadStart): Promise<Map<string, Uint8Array>> {
    if (workload.secrets.length > GATE_LIMITS.maxSecretsPerWorkload)
      throw new GateRefusedError([
        `${workload.secrets.length} secrets asked for, at most ${GATE_LIMITS.maxSecretsPerWorkload}`
      ])
    for (const name of workload.secrets) checkSecretName(name)
    const held = this.admitted.get(workload.pid)
    if (held !== undefined && held.uid !== workload.uid) {
      // The pid is another user's now: the process it was admitted to is gone (killed unreported).
      this.admitted.delete(workload.pid)
      await this.recordStop(workload.pid, held, { reason: GONE_UNREPORTED })
    }
    if (this.admitted.has(workload.pid) || this.admitting.has(workload.pid))
      throw new GateRefusedError([`process ${workload.pid} has a workload admitted already`])
    this.admitting.add(workload.pid)
    const secrets = new Map<string, Uint8Array>()
    try {
      const reasons = await this.reasons(workload.quorum)
      if (reasons.length > 0) throw new GateRefusedError(reasons)
      await this.makeRoom(workload.uid)
      for (const name of new Set(workload.secrets))
        secrets.set(name, await openSecret(this.c.tpm, this.c.state, this.c.dir, name))
      await this.c.ledger.append({
        type: 'workload.start',
        actor: this.actor(),
        attest: null,
        body: {
          exe: workload.exe.slice(0, 4096),
          exeDigest: workload.exeDigest,
          pid: workload.pid,
          secrets: [...secrets.keys()],
          quorum: workload.quorum
        }
      })
      this.admitted.set(workload.pid, { uid: workload.uid, exe: workload.exe, exeDigest: workload.exeDigest })
      return secrets
    } catch (err) {
      for (const value of secrets.values()) value.fill(0)
      throw err
    } finally {
      this.admitting.delete(workload.pid)
    }
  }

  /** Workloads admitted and not yet stopped. */
  get running(): number {
    return this.admitted.size
  }

  /** Whether process `pid` of user `uid` has a workload admitted and not yet stopped. */
  isAdmitted(pid: number, uid: number): boolean {
    return this.admitted.get(pid)?.uid === uid
  }

  /**
   * Records a workload's stop, as the process it was admitted to reports it (NotAdmittedError
   * for any other: nobody records a stop of a workload not theirs, or of none).
   */
  async stopped(stop: WorkloadStop): Promise<void> {
    const workload = this.admitted.get(stop.pid)
    if (workload === undefined || workload.uid !== stop.uid) throw new NotAdmittedError(stop.pid)
    // Out of the table once on the record: a stop that could not be written can be reported again.
    await this.recordStop(stop.pid, workload, stop)
    if (this.admitted.get(stop.pid) === workload) this.admitted.delete(stop.pid)
  }

  /**
   * Keeps the table of admitted workloads within its bounds: the workloads whose `fleet exec` is
   * gone without reporting their stop (killed) are recorded as stopped and dropped; a user still
   * at its bound, or the gate at its total, is refused (TooManyGatedWorkloadsError).
   */
  private async makeRoom(uid: number): Promise<void> {
    const count = (): number => [...this.admitted.values()].filter((w) => w.uid === uid).length
    if (count() < GATE_LIMITS.maxAdmittedPerUid && this.admitted.size < GATE_LIMITS.maxAdmitted) return
    const alive = this.c.alive ?? processExists
    for (const [pid, workload] of [...this.admitted]) {
      if (alive(pid)) continue
      this.admitted.delete(pid)
      await this.recordStop(pid, workload, { reason: GONE_UNREPORTED })
    }
    if (count() >= GATE_LIMITS.maxAdmittedPerUid)
      throw new TooManyGatedWorkloadsError(uid, GATE_LIMITS.maxAdmittedPerUid)
    if (this.admitted.size >= GATE_LIMITS.maxAdmitted)
      throw new TooManyGatedWorkloadsError(uid, GATE_LIMITS.maxAdmitted)
  }

  private async recordStop(
    pid: number,
    workload: { exe: string; exeDigest: Uint8Array },
    stop: { reason: string; exitCode?: number; signal?: string }
  ): Promise<void> {
    await this.c.ledger.append({
      type: 'workload.stop',
      actor: this.actor(),
      attest: null,
      body: {
        exe: workload.exe.slice(0, 4096),
        exeDigest: workload.exeDigest,
        pid,
        reason: stop.reason.slice(0, 512),
        ...(stop.exitCode === undefined ? {} : { exitCode: stop.exitCode }),
        ...(stop.signal === undefined ? {} : { signal: stop.signal.slice(0, 16) })
      }
    })
  }

  /** Why PCR `d.pcr` changed, explained once per value it changed to (see `explained`). */
  private async explain(d: { bank: PcrChange['bank']; pcr: number; actual: string }): Promise<string> {
    const key = `${d.bank}:${d.pcr}`
    const held = this.explained.get(key)
    if (held?.now === d.actual) return await held.text
    const change: PcrChange = {
      bank: d.bank,
      pcr: d.pcr,
      was: this.baseline?.[d.bank]?.get(d.pcr) ?? new Uint8Array(0),
      now: this.lastRead?.values[d.bank]?.get(d.pcr) ?? new Uint8Array(0)
    }
    // The agent extends its own measurement there when it releases the keys; no boot log covers it.
    const text =
      d.pcr === this.c.state.sealing.agentPcr
        ? Promise.resolve(
            "it is the agent's measurement PCR, which no event log covers: extended after the agent measured itself"
          )
        : this.explainFromLog(change)
    // One entry a PCR of the selection: a newer value replaces the explanation of the older one.
    this.explained.set(key, { now: d.actual, text })
    return await text
  }

  private async explainFromLog(change: PcrChange): Promise<string> {
    const logNow = await this.readLog()
    try {
      return explainPcrChange(change, this.atRelease, logNow)
    } catch (err) {
      // Describing an event decodes the log's own data: a slip there must not turn the refusal
      // into an error, nor stick in `explained` as one.
      return explainPcrChange(change, this.atRelease, { error: errorText(err) })
    }
  }

  /** The event log, parsed (parseEventLog keeps to EVENTLOG_LIMITS), or why it could not be. */
  private async readLog(): Promise<LogNow> {
    try {
      return { log: parseEventLog(await this.c.eventLog()) }
    } catch (err) {
      return { error: errorText(err) }
    }
  }

  private actor(): { id: string; role: 'agent' } {
    return { id: `agent/${this.c.state.deviceId}`, role: 'agent' }
  }
}

const errorText = (err: unknown): string => (err instanceof Error ? err.message : String(err))

/** A quorum is 0 (none asked) to GATE_LIMITS.maxQuorum peers. */
export function checkQuorum(quorum: number): void {
  if (!Number.isInteger(quorum) || quorum < 0 || quorum > GATE_LIMITS.maxQuorum)
    throw new QuorumError(quorum, GATE_LIMITS.maxQuorum)
}
