/**
 * The fault campaign as it runs: the schedule's injections and repairs done to agent processes
 * (ProcessFleet), while entries are appended round-robin through the agents' control sockets.
 * The harness keeps one record of its own, the appends the agents acknowledged (sealed); every
 * other outcome is read back from the agents (invariants.ts).
 */
import { readFile } from 'node:fs/promises'
import { AGENT_EXIT_RESTART, controlRequest } from '../../src/agent/index.js'
import { type ProcDevice, type ProcessFleet, agentLogFile, until } from '../process-fleet.js'
import { SCHEDULE_LIMITS, chaosSteps, type ChaosSchedule, type Fault } from './schedule.js'

/** An append an agent acknowledged: it answered sealed, with this seq, for this detail. */
export interface Acknowledged {
  device: ProcDevice
  seq: number
  detail: string
}

/** The codes an append may be refused with while its agent's TPM is dead (or once the agent has gone). */
export const DEAD_TPM_CODES = ['ERR_TPM_UNAVAILABLE', 'ERR_TPM_TIMEOUT', 'ERR_TPM_CLOSED', 'ERR_NO_AGENT']
/** How long each sync of an agent with a slow disk waits (ms): past the agent's slow-sync report. */
export const SLOW_SYNC_MS = 1_500
/** The codes an append may be refused with while its agent's disk is full (or once the agent has gone). */
export const FULL_DISK_CODES = ['ERR_LEDGER_FULL', 'ERR_NO_AGENT']
/** How long the campaign waits for an agent to report its clock stepped (ms): a few of its once-a-second looks. */
const CLOCK_STEP_SEEN_MS = 5_000

export class Campaign {
  readonly acknowledged: Acknowledged[] = []
  /** Appends refused or unanswered (expected while faults last; counted, not checked). */
  refused = 0
  /** What an agent did that a fault must not make it do (checked at the end). */
  readonly misbehaviour: string[] = []
  /** Probe appends whose connection the stopping agent closed before answering. */
  probesCutShort = 0
  /** Restarts the final heal had to do (a repair the schedule's steps left undone). */
  readonly lateRepairs: string[] = []
  private appending: Promise<void> | undefined
  private stopAppending = false
  private sequence = 0

  constructor(
    private readonly fleet: ProcessFleet,
    private readonly devices: ProcDevice[],
    private readonly log: (text: string) => void,
    /** An enrolled device, not started, that joins as simnet's equivocating agent when the schedule says. */
    private readonly hostile?: ProcDevice
  ) {}

  /** Runs every step of the schedule in order, each at its time (or as soon as the one before it is done). */
  async run(schedule: ChaosSchedule): Promise<void> {
    this.startAppending()
    const started = Date.now()
    const until = async (atMs: number): Promise<void> => {
      const wait = started + atMs - Date.now()
      if (wait > 0) await new Promise((resolve) => setTimeout(resolve, wait))
    }
    let joinAt = this.hostile === undefined ? undefined : schedule.hostileJoinAtMs
    // When each fault was injected, in fact: a runner behind its schedule (a slow step before)
    // still leaves every fault in place for the schedule's shortest, or the agent could not notice it.
    const injectedAt = new Map<Fault, number>()
    try {
      for (const step of chaosSteps(schedule)) {
        if (joinAt !== undefined && joinAt <= step.atMs) {
          await until(joinAt)
          joinAt = undefined
          await this.join(started)
        }
        await until(step.atMs)
        const { fault } = step
        const since = injectedAt.get(fault)
        if (step.action === 'repair' && since !== undefined) {
          const wait = since + SCHEDULE_LIMITS.minFaultMs - Date.now()
          if (wait > 0) await new Promise((resolve) => setTimeout(resolve, wait))
        }
        this.log(
          `t+${((Date.now() - started) / 1000).toFixed(1)}s ${step.action} ${fault.kind} on ${this.devices[fault.node]!.name}`
        )
        if (step.action === 'inject') {
          injectedAt.set(fault, Date.now())
          await this.inject(fault)
        } else await this.repair(fault)
      }
      if (joinAt !== undefined) {
        await until(joinAt)
        await this.join(started)
      }
      const rest = started + schedule.faultPhaseMs - Date.now()
      if (rest > 0) await new Promise((resolve) => setTimeout(resolve, rest))
    } finally {
      await this.endAppending()
    }
  }

  /** The hostile peer starts, pointed at the honest agents running now, and shows one of them a forked history. */
  private async join(started: number): Promise<void> {
    const hostile = this.hostile!
    this.log(`t+${((Date.now() - started) / 1000).toFixed(1)}s a hostile peer joins: ${hostile.name}, equivocating`)
    await this.fleet.startAgent(
      hostile,
      this.devices.filter((d) => running(d)),
      { hostile: ['--mode', 'equivocate', '--victims', '1'] }
    )
  }

  private async inject(fault: Fault): Promise<void> {
    const device = this.devices[fault.node]!
    switch (fault.kind) {
      case 'agent-kill':
        await this.fleet.stopAgent(device, 'SIGKILL')
        return
      case 'tpm-kill':
        // The next append needs the TPM (its checkpoint).
        await this.breakAndProbe(device, 'its TPM dead', DEAD_TPM_CODES, async () => await this.fleet.killTpm(device))
        return
      case 'partition':
        await this.partition(device)
        return
      case 'slow-disk':
        // Every sync waits: the next append is acknowledged all the same, only later.
        await this.fleet.slowDisk(device, SLOW_SYNC_MS)
        await this.slowProbe(device)
        return
      case 'clock-step':
        // An hour ahead or behind (which, from the schedule): the agent runs on, its peers too.
        await this.stepped(device, async () => await this.fleet.stepClock(device, clockStep(fault)))
        return
      case 'disk-full':
        // The next append cannot be stored; the store takes no more writes until reopened.
        await this.breakAndProbe(
          device,
          'its disk full',
          FULL_DISK_CODES,
          async () => await this.fleet.fillDisk(device)
        )
        return
    }
  }

  /**
   * Cuts the device off from every other agent (the hostile peer too): each side blocks the other through its control
   * socket (the agent's gater then refuses the peer, both ways), which works alike on loopback and
   * in network namespaces. An agent of the rest that restarts meanwhile forgets its block, but the
   * cut-off one still refuses it. The cut must show: no connection left within 10 s.
   */
  private async partition(device: ProcDevice): Promise<void> {
    await this.eachSide(device, 'block')
    const started = Date.now()
    while ((await this.fleet.status(device)).connections > 0) {
      if (Date.now() - started > 10_000) {
        this.misbehaviour.push(`${device.name} still connected 10 s into its partition`)
        return
      }
      await new Promise((resolve) => setTimeout(resolve, 100))
    }
  }

  /** `cmd` at the device for every other agent, and at every other agent running for the device (one restarted has no block). */
  private async eachSide(device: ProcDevice, cmd: 'block' | 'unblock'): Promise<void> {
    for (const other of this.others(device)) {
      // The hostile peer before it joined: nothing to block yet.
      if (other.peerId === undefined) continue
      await this.fleet.control(device, { cmd, peerId: other.peerId }).catch(() => undefined)
      if (running(other)) await this.fleet.control(other, { cmd, peerId: device.peerId }).catch(() => undefined)
    }
  }

  /** Lifts a partition: the blocks on both sides, then each side dials the other. */
  private async heal(device: ProcDevice): Promise<void> {
    await this.eachSide(device, 'unblock')
    for (const other of this.others(device))
      if (running(other) && other.address !== undefined)
        await this.fleet.control(device, { cmd: 'dial', address: other.address }).catch(() => undefined)
  }

  /**
   * Breaks what the agent stands on, then asks it for an append: it must be refused with one of
   * `codes`, and the agent must exit with AGENT_EXIT_RESTART (75: its service manager starts it
   * again, here once repaired).
   */
  private async breakAndProbe(
    device: ProcDevice,
    what: string,
    codes: readonly string[],
    breakIt: () => Promise<void>
  ): Promise<void> {
    const exited = exitOf(device)
    await breakIt()
    try {
      await this.append(device)
      this.misbehaviour.push(`${device.name} acknowledged an append with ${what}`)
    } catch (err) {
      const code = (err as { code?: unknown }).code
      // An agent already stopping (another call found the fault first) may close the connection
      // before it answers: counted, and its exit code is what is checked then.
      if (code === 'ERR_CONTROL' && /ECONNRESET/.test((err as Error).message)) this.probesCutShort++
      else if (typeof code !== 'string' || !codes.includes(code))
        this.misbehaviour.push(
          `${device.name}: an append with ${what} failed with ${String(code)}: ${(err as Error).message}`
        )
    }
    const code = await Promise.race([exited, new Promise((resolve) => setTimeout(() => resolve('running'), 20_000))])
    if (code !== AGENT_EXIT_RESTART)
      this.misbehaviour.push(`${device.name} with ${what}: exit ${String(code)} (want ${AGENT_EXIT_RESTART})`)
  }

  private async repair(fault: Fault): Promise<void> {
    const device = this.devices[fault.node]!
    switch (fault.kind) {
      case 'agent-kill':
        await this.restart(device)
        return
      case 'tpm-kill':
        await this.fleet.restartTpm(device)
        await this.restart(device)
        return
      case 'disk-full':
        await this.fleet.freeDisk(device)
        await this.restart(device)
        return
      case 'partition':
        await this.heal(device)
        return
      case 'slow-disk':
        await this.fleet.fastDisk(device)
        return
      case 'clock-step':
        await this.stepped(device, async () => await this.fleet.setClock(device))
        return
    }
  }

  /**
   * Moves the device's clock, then waits (a bounded while) for its agent to say so: a step made
   * in the run's last moments would otherwise be checked before the agent's once-a-second look.
   * An agent that says nothing in time is left to the visibility check to name.
   */
  private async stepped(device: ProcDevice, step: () => Promise<void>): Promise<void> {
    const before = await clockStepsReported(device)
    await step()
    await until(
      async () => !running(device) || (await clockStepsReported(device)) > before,
      CLOCK_STEP_SEEN_MS,
      `${device.name} to report its clock step`
    ).catch(() => undefined)
  }

  /**
   * An append on a device whose disk just became slow: acknowledged (sealed), and not sooner than
   * its syncs allow (else the append did not wait for its sync). An agent that went meanwhile
   * (another fault) is not held against it.
   */
  private async slowProbe(device: ProcDevice): Promise<void> {
    const before = this.acknowledged.length
    const started = Date.now()
    try {
      await this.append(device)
    } catch (err) {
      if (running(device))
        this.misbehaviour.push(`${device.name}: an append on a slow disk failed: ${(err as Error).message}`)
      return
    }
    const took = Date.now() - started
    if (this.acknowledged.length === before)
      this.misbehaviour.push(`${device.name}: an append on a slow disk was answered, but not sealed`)
    else if (took < SLOW_SYNC_MS)
      this.misbehaviour.push(
        `${device.name}: an append on a disk whose syncs take ${SLOW_SYNC_MS} ms was acknowledged after ${took} ms (before its sync)`
      )
  }

  /** The final heal: any TPM or agent found down is started again (and counted: the steps should have). */
  async healAll(): Promise<void> {
    for (const device of this.devices) {
      if (!(await this.fleet.tpmRunning(device))) {
        this.lateRepairs.push(`${device.name}'s swtpm`)
        await this.fleet.restartTpm(device)
      }
      if (!running(device)) {
        this.lateRepairs.push(`${device.name}'s agent`)
        await this.restart(device)
      }
    }
  }

  private async restart(device: ProcDevice): Promise<void> {
    // What the agent that exited left loaded in its TPM, the resource manager of a real machine flushes.
    await this.fleet.flushTpm(device)
    // The hostile peer too, once it joined: an agent started again dials it as it would any peer.
    const peers = this.others(device)
    await this.fleet.startAgent(
      device,
      peers.filter((d) => running(d))
    )
  }

  /** Every agent but the device, the hostile peer included once it joined. */
  private others(device: ProcDevice): ProcDevice[] {
    const all = this.hostile === undefined ? this.devices : [...this.devices, this.hostile]
    return all.filter((d) => d !== device)
  }

  private startAppending(): void {
    this.stopAppending = false
    this.appending = (async () => {
      for (let turn = 0; !this.stopAppending; turn++) {
        const device = this.devices[turn % this.devices.length]!
        if (running(device))
          await this.append(device).catch(() => {
            this.refused++
          })
        await new Promise((resolve) => setTimeout(resolve, 50))
      }
    })()
  }

  private async endAppending(): Promise<void> {
    this.stopAppending = true
    await this.appending
  }

  private async append(device: ProcDevice): Promise<void> {
    const detail = `chaos/${device.name}/${this.sequence++}`
    const answer = await controlRequest(
      device.state,
      {
        cmd: 'append',
        type: 'alert.tamper',
        actor: { id: 'simnet', role: 'agent' },
        body: { subject: device.deviceId, pcr: 7, detail }
      },
      15_000
    )
    if (answer.sealed === true && typeof answer.seq === 'number')
      this.acknowledged.push({ device, seq: answer.seq, detail })
  }
}

/** How far a clock-step fault moves the agent's wall clock (s): an hour, ahead or behind as the schedule's times fall. */
export function clockStep(fault: Fault): number {
  return fault.atMs % 2 === 0 ? 3600 : -3600
}

/** The exit code of the device's agent, once it exits (at once if it has). */
function exitOf(device: ProcDevice): Promise<number | null> {
  const agent = device.agent
  if (agent === undefined || agent.exitCode !== null || agent.signalCode !== null)
    return Promise.resolve(agent?.exitCode ?? null)
  return new Promise((resolve) => agent.once('exit', (code) => resolve(code)))
}

/** How many clock steps the device's agent has reported in its output so far. */
export async function clockStepsReported(device: ProcDevice): Promise<number> {
  const text = await readFile(agentLogFile(device), 'utf8').catch(() => '')
  return text.split('\n').filter((line) => line.includes(CLOCK_STEPPED)).length
}

/** What an agent prints when its wall clock stepped (src/cli/commands/agent.ts). */
export const CLOCK_STEPPED = 'the wall clock stepped'

function running(device: ProcDevice): boolean {
  const agent = device.agent
  return agent !== undefined && agent.exitCode === null && agent.signalCode === null
}
