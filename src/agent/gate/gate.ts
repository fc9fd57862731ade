/**
 * The gate: whether a workload may start on this device, and go on running. A running agent has
 * released its keys (a boot state the owner approved, the agent measured); the gate adds what may
 * change afterwards, checked at each ask:
 *   - the PCRs still hold the values they held when the keys were released (a PCR extended since
 *     means something was measured into the boot state after the fact);
 *   - the owner has not revoked this device, and its feed is not quarantined for equivocation;
 *   - with a quorum K: at least K peers, neither revoked nor quarantined, hold a trusted verdict on
 *     this device no older than GATE_LIMITS.verdictFreshMs (their attest.verdict entries, signed
 *     in their own TPMs and replicated here).
 * An admitted workload gets the secrets it asked for, unsealed in the TPM, and its start is an
 * entry of the device's feed (workload.start: the program's path and digest, the secrets by name,
 * the quorum); its stop too (workload.stop, with the reason).
 */
import type { PcrSelection, PcrValues, Tpm } from '../../attest/index.js'
import { differingPcrs } from '../../attest/index.js'
import type { Clock } from '../../common/index.js'
import type { AppendInput } from '../../ledger/index.js'
import type { DeviceState } from '../device/index.js'
import { GateRefusedError, QuorumError } from './errors.js'
import { GATE_LIMITS } from './limits.js'
import { checkSecretName, openSecret } from './secrets.js'
import type { VerdictsOnSelf } from './verdicts.js'

/** What the gate asks of the running agent. */
export interface GateComponents {
  tpm: Tpm
  state: DeviceState
  /** The state directory (its secrets/). */
  dir: string
  clock: Clock
  verdicts: VerdictsOnSelf
  isRevoked(deviceId: string): boolean
  isQuarantined(deviceId: string): boolean
  ledger: { append(input: AppendInput): Promise<{ seq: number; hash: Uint8Array }> }
}

/** A workload as `fleet exec` names it. */
export interface WorkloadStart {
  exe: string
  exeDigest: Uint8Array
  pid: number
  secrets: readonly string[]
  quorum: number
}

export interface WorkloadStop {
  exe: string
  exeDigest: Uint8Array
  pid: number
  reason: string
  exitCode?: number
  signal?: string
}

export class Gate {
  private readonly c: GateComponents
  private readonly selection: PcrSelection
  private baseline: PcrValues | undefined
  private lastRead: { at: number; values: PcrValues } | undefined

  constructor(components: GateComponents) {
    this.c = components
    this.selection = components.state.sealing.selection
  }

  /**
   * Takes the PCR values the keys were released under: `released`, read right after the release,
   * or else read now (call it right after the agent's start).
   */
  async start(released?: PcrValues): Promise<void> {
    this.baseline = released ?? (await this.c.tpm.readPcrs(this.selection))
  }

  /** Why a workload asking for `quorum` may not run now; empty when it may. */
  async reasons(quorum: number): Promise<string[]> {
    checkQuorum(quorum)
    if (this.baseline === undefined) return ['the gate has not read the PCRs it guards yet']
    const reasons: string[] = []
    const now = this.c.clock.now()
    if (this.lastRead === undefined || now - this.lastRead.at >= GATE_LIMITS.pcrRecheckMs)
      this.lastRead = { at: now, values: await this.c.tpm.readPcrs(this.selection) }
    for (const d of differingPcrs(this.selection, this.lastRead.values, this.baseline))
      reasons.push(
        `PCR ${d.pcr} changed since the keys were released (now ${d.actual.slice(0, 16)}…, was ${d.expected.slice(0, 16)}…)`
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
    const reasons = await this.reasons(workload.quorum)
    if (reasons.length > 0) throw new GateRefusedError(reasons)
    const secrets = new Map<string, Uint8Array>()
    try {
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
      return secrets
    } catch (err) {
      for (const value of secrets.values()) value.fill(0)
      throw err
    }
  }

  /** Records a workload's stop. */
  async stopped(stop: WorkloadStop): Promise<void> {
    await this.c.ledger.append({
      type: 'workload.stop',
      actor: this.actor(),
      attest: null,
      body: {
        exe: stop.exe.slice(0, 4096),
        exeDigest: stop.exeDigest,
        pid: stop.pid,
        reason: stop.reason.slice(0, 512),
        ...(stop.exitCode === undefined ? {} : { exitCode: stop.exitCode }),
        ...(stop.signal === undefined ? {} : { signal: stop.signal.slice(0, 16) })
      }
    })
  }

  private actor(): { id: string; role: 'agent' } {
    return { id: `agent/${this.c.state.deviceId}`, role: 'agent' }
  }
}

/** A quorum is 0 (none asked) to GATE_LIMITS.maxQuorum peers. */
export function checkQuorum(quorum: number): void {
  if (!Number.isInteger(quorum) || quorum < 0 || quorum > GATE_LIMITS.maxQuorum)
    throw new QuorumError(quorum, GATE_LIMITS.maxQuorum)
}
