/**
 * An in-process fleet on real parts: one software TPM per device and for the owner, the simulated
 * measured boot, real libp2p on loopback, and each device enrolled through the real ceremony
 * (/fleet/enrol/2). Used by benches and tests; simnet's process mode runs the fleet CLI instead.
 */
import { randomBytes, X509Certificate } from 'node:crypto'
import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import { readFileSync } from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { generateKeyPair } from '@libp2p/crypto/keys'
import type { Multiaddr } from '@multiformats/multiaddr'
import { EsysTpm, SwtpmDevice, nativeHasher, type BootPolicy } from '../src/attest/index.js'
import {
  initOwner,
  unlockOwner,
  writeOwnerState,
  writeDeviceState,
  writeDeviceEnrolment,
  initDevice,
  unlockDevice,
  agentMeasurement,
  acceptEnrolment,
  enrolPeer,
  openOwnFeed,
  ownerFeedId,
  publishOwnerFeed,
  enrolmentEntry,
  createAgent,
  startAgentGate,
  type Agent,
  type OwnerState,
  type DeviceState,
  type UnlockedDevice,
  type OpenedLedger,
  type DeviceEnrolment,
  type AgentInit,
  type AgentComponents,
  type DeviceRole
} from '../src/agent/index.js'
import type { HybridSigner } from '../src/identity/index.js'
import { createFleetNode, type FleetNode } from '../src/p2p/index.js'
import { systemClock } from '../src/common/index.js'
import { bootDevice, simulatedBootPolicy, type BootVariant } from '../src/attest/index.js'

export interface SimOwner {
  swtpm: SwtpmDevice
  tpm: EsysTpm
  state: OwnerState
  signer: HybridSigner
  feed: OpenedLedger
  node: FleetNode
  dir: string
}
export interface SimDevice {
  name: string
  swtpm: SwtpmDevice
  tpm: EsysTpm
  state: DeviceState
  unlocked: UnlockedDevice
  log: Uint8Array
  dir: string
  enrolment?: DeviceEnrolment
}

/** The PCRs a simulated device seals its keys to. */
export const SEALING = { bootPcrs: [0, 1, 2, 3, 4, 7], agentPcr: 23 }

export class SimFleet {
  readonly root: string
  readonly caDir: string
  readonly policy: BootPolicy = simulatedBootPolicy()
  owner!: SimOwner
  readonly devices: SimDevice[] = []
  private readonly closers: Array<() => Promise<void>> = []
  private trustStore: X509Certificate[] = []

  private constructor(root: string) {
    this.root = root
    this.caDir = path.join(root, 'ca')
  }

  /** An owner with its TPM, key, genesis statement and feed. */
  static async create(options: { root?: string; name?: string } = {}): Promise<SimFleet> {
    const fleet = new SimFleet(options.root ?? (await mkdtemp(path.join(os.tmpdir(), 'fleet-sim-'))))
    const dir = path.join(fleet.root, 'owner')
    const swtpm = new SwtpmDevice({ dir: path.join(dir, 'tpm'), caDir: fleet.caDir })
    await swtpm.start()
    fleet.closers.push(async () => {
      await swtpm.stop()
    })
    fleet.trustStore = swtpm.caCertificateFiles.map((file) => new X509Certificate(readFileSync(file)))
    const tpm = await EsysTpm.open({ tcti: swtpm.tcti })
    fleet.closers.push(async () => {
      await tpm.close()
    })
    await bootDevice(tpm, 'good')
    const state = await initOwner(tpm, {
      name: options.name ?? 'simnet',
      bootPcrs: SEALING.bootPcrs,
      random: randomBytes,
      now: () => new Date()
    })
    await writeOwnerState(dir, state)
    const { signer } = await unlockOwner(state, { tpm })
    const fleetId = new Uint8Array(Buffer.from(state.fleetId, 'hex'))
    const feed = await openOwnFeed({ dir, tpm, signer, fleetId, feedId: ownerFeedId(fleetId), batchMs: 50 })
    fleet.closers.push(async () => {
      await feed.close()
    })
    const node = await createFleetNode({
      privateKey: await generateKeyPair('Ed25519'),
      admission: { allows: () => true },
      listen: ['/ip4/127.0.0.1/tcp/0'],
      mdns: false
    })
    fleet.closers.push(async () => {
      await node.stop()
    })
    fleet.owner = { swtpm, tpm, state, signer, feed, node, dir }
    return fleet
  }

  /** A device on its own software TPM after a simulated boot, with its identity made by initDevice. */
  async addDevice(variant: BootVariant = 'good'): Promise<SimDevice> {
    const name = `dev${this.devices.length + 1}`
    const dir = path.join(this.root, name)
    const swtpm = new SwtpmDevice({ dir: path.join(dir, 'tpm'), caDir: this.caDir })
    await swtpm.start()
    this.closers.push(async () => {
      await swtpm.stop()
    })
    const tpm = await EsysTpm.open({ tcti: swtpm.tcti })
    this.closers.push(async () => {
      await tpm.close()
    })
    const log = await bootDevice(tpm, variant)
    const measurement = await agentMeasurement(SEALING)
    const state = await initDevice(tpm, {
      tcti: swtpm.tcti,
      ...SEALING,
      measurement,
      random: randomBytes,
      now: () => new Date()
    })
    const unlocked = await unlockDevice(tpm, state, measurement)
    await writeDeviceState(dir, state)
    await writeFile(path.join(dir, 'binary_bios_measurements'), log)
    const device: SimDevice = { name, swtpm, tpm, state, unlocked, log, dir }
    this.devices.push(device)
    return device
  }

  /** Runs the ceremony between the owner and the device over libp2p (both sides confirm). */
  async enrol(
    device: SimDevice,
    options: { onSas?: (side: 'owner' | 'device', sas: string) => void; role?: DeviceRole } = {}
  ): Promise<DeviceEnrolment> {
    const node = await createFleetNode({
      privateKey: device.unlocked.peerKey,
      admission: { allows: () => true },
      listen: ['/ip4/127.0.0.1/tcp/0'],
      mdns: false
    })
    try {
      const window = new AbortController()
      const accepted = acceptEnrolment(
        node,
        {
          tpm: device.tpm,
          state: device.state,
          eventLog: device.log,
          hostname: device.name,
          role: options.role ?? 'server',
          random: randomBytes,
          confirm: async (sas) => {
            options.onSas?.('device', sas)
            return true
          }
        },
        { signal: window.signal, onFailure: (err) => window.abort(err) }
      )
      accepted.catch(() => undefined)
      await enrolPeer(this.owner.node, node.getMultiaddrs()[0]!, {
        owner: { state: this.owner.state, signer: this.owner.signer },
        policy: this.policy,
        trustStore: [],
        softwareTpmCas: this.trustStore,
        allowSoftwareTpm: true,
        expectDeviceId: device.state.deviceId,
        confirm: async (sas) => {
          options.onSas?.('owner', sas)
          return true
        },
        record: async (_signed, record) => {
          await this.owner.feed.ledger.append(enrolmentEntry(record, this.owner.state.name))
        },
        random: randomBytes,
        now: () => new Date()
      })
      device.enrolment = await accepted
      await writeDeviceEnrolment(device.dir, device.enrolment)
      return device.enrolment
    } finally {
      await node.stop()
    }
  }

  /** Adds `count` devices with a good boot and enrols each. */
  async addEnrolled(count: number): Promise<SimDevice[]> {
    const devices: SimDevice[] = []
    for (let i = 0; i < count; i++) {
      const device = await this.addDevice('good')
      await this.enrol(device)
      devices.push(device)
    }
    return devices
  }

  /**
   * Starts an enrolled device's agent in this process. `enrolment` lets a test present another
   * device's record (a clone attempt); `ownFeedServer` stands in for how the agent serves its own
   * feed (simnet's hostile servers); `hasher` replaces the native one `fleet run` uses.
   */
  async start(
    device: SimDevice,
    options: Partial<
      Pick<
        AgentInit,
        | 'syncIntervalMs'
        | 'attestIntervalMs'
        | 'batchMs'
        | 'mdns'
        | 'onPeersChange'
        | 'onReplication'
        | 'cosignIntervalMs'
        | 'witnessesPerFeed'
        | 'sinks'
        | 'sinkPollMs'
        | 'onSinks'
        | 'hubs'
        | 'hubReachIntervalMs'
        | 'relayLinkLimits'
        | 'listen'
        | 'attestDeadlineMs'
      >
    > &
      Pick<AgentComponents, 'logger' | 'ownFeedServer' | 'hasher' | 'clock'> & { enrolment?: DeviceEnrolment } = {}
  ): Promise<Agent> {
    const enrolment = options.enrolment ?? device.enrolment
    if (enrolment === undefined) throw new Error(`${device.name} is not enrolled`)
    // As `fleet run` composes it: the native batch hasher, unless given another.
    const components = {
      tpm: device.tpm,
      clock: options.clock,
      logger: options.logger,
      ownFeedServer: options.ownFeedServer,
      hasher: options.hasher ?? nativeHasher()
    }
    const runtime = await createAgent(components, {
      dir: device.dir,
      state: device.state,
      device: device.unlocked,
      enrolment,
      eventLog: async () => device.log,
      onPeersChange: options.onPeersChange,
      onReplication: options.onReplication,
      cosignIntervalMs: options.cosignIntervalMs,
      witnessesPerFeed: options.witnessesPerFeed,
      sinks: options.sinks,
      sinkPollMs: options.sinkPollMs,
      onSinks: options.onSinks,
      listen: options.listen ?? ['/ip4/127.0.0.1/tcp/0'],
      mdns: options.mdns ?? false,
      batchMs: options.batchMs ?? 50,
      syncIntervalMs: options.syncIntervalMs ?? 1_000,
      attestIntervalMs: options.attestIntervalMs,
      attestDeadlineMs: options.attestDeadlineMs,
      hubs: options.hubs,
      hubReachIntervalMs: options.hubReachIntervalMs,
      relayLinkLimits: options.relayLinkLimits
    })
    this.closers.push(async () => {
      await runtime.stop()
    })
    await runtime.start()
    return runtime
  }

  /**
   * The owner revokes `deviceId` (device.revoke, sealed) and hands its feed to the agents at
   * `reach`; resolves with those that pulled it.
   */
  async revoke(deviceId: string, reach: Multiaddr[], reason = 'stolen'): Promise<string[]> {
    const owner = this.owner
    await owner.feed.ledger.append({
      type: 'device.revoke',
      actor: { id: 'owner/simnet', role: 'owner' },
      attest: null,
      body: { deviceId, reason }
    })
    await owner.feed.ledger.checkpoint()
    const fleetId = new Uint8Array(Buffer.from(owner.state.fleetId, 'hex'))
    return await publishOwnerFeed(
      owner.node,
      owner.feed.store,
      ownerFeedId(fleetId),
      owner.feed.ledger.sealedSize,
      reach
    )
  }

  async close(options: { keep?: boolean } = {}): Promise<void> {
    for (const close of this.closers.reverse()) await close().catch(() => undefined)
    this.closers.length = 0
    if (options.keep !== true) await rm(this.root, { recursive: true, force: true })
  }
}

/** The workload gate of `agent` on `device`, as fleet run starts it (its baseline read now, its boot log the device's). */
export async function deviceGate(device: SimDevice, agent: Agent): ReturnType<typeof startAgentGate> {
  return await startAgentGate(agent, {
    tpm: device.tpm,
    state: device.state,
    dir: device.dir,
    clock: systemClock,
    eventLog: async () => device.log
  })
}
