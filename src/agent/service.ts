/**
 * The agent as a service on a device, as `fleet run` runs it: the keys are released only on a
 * verified boot and self-measurement, then the enrolled agent runs with its control socket,
 * metrics and memory upkeep; before enrolment, a node that admits nobody (fleet join opens the
 * window). simnet's hostile agents run the same service with components of their own.
 */
import { lockAgent } from './run-lock.js'
import { startFailure } from './start-error.js'
import { multiaddr } from '@multiformats/multiaddr'
import {
  EsysTpm,
  nativeHasher,
  nativeP256Verifier,
  type PcrSelection,
  type PcrValues,
  type Tpm
} from '../attest/index.js'
import type { HybridSigner } from '../identity/index.js'
import { createFleetNode, readNetworkKey, type FleetNode } from '../p2p/index.js'
import { cryptoRandom, toHex, systemClock, type Clock } from '../common/index.js'
import { unlockDevice, measurementOf, deviceSigner, type DeviceState } from './device/index.js'
import { readDeviceEnrolment } from './enrolment/index.js'
import { writePeersFile, type AgentConfig } from './ops/index.js'
import type { Agent } from './agent.js'
import { createAgent } from './create-agent.js'
import type { AgentComponents } from './components.js'
import type { PeerStatus } from './attestation/index.js'
import { startControlServer, type ControlServerInit } from './control.js'
import { startGateSocket } from './gate-socket.js'
import { Approvals } from './approvals/index.js'
import { Gate, keepOwnerCopies, lockSecrets, sealSecret, settleSecretReseal } from './gate/index.js'

/**
 * The slab size of Node's pool for small Buffers while the agent runs: 64 KiB by default since
 * Node 24. A long-running agent keeps small buffers (peer ids, addresses, member records) from
 * many slabs, and each keeps its whole slab. With 8 KiB slabs (Node's earlier default), 12
 * agents with 11 peers each held 7.0 MiB of buffer memory instead of 17.5 MiB.
 */
export const AGENT_BUFFER_POOL_BYTES = 8192

/**
 * `fleet run`'s exit code when its TPM or store failed while it ran: EX_TEMPFAIL (sysexits.h),
 * "try again later". Not 1: the unit (packaging/fleet-agent.service) leaves a refusal to start
 * (1, 2) alone, as starting again would be refused again, but restarts on this one.
 */
export const AGENT_EXIT_RESTART = 75

export interface DeviceAgentInit {
  /** The state directory made by fleet init. */
  dir: string
  state: DeviceState
  config: AgentConfig
  /** Fleet peers to dial at start, besides those found over mDNS (multiaddrs, already checked). */
  peers?: string[]
  /** The boot event log sent with every attestation. */
  eventLog: () => Promise<Uint8Array>
  /**
   * Told of every change of the peers' verdicts, after DIR/peers.json is asked to be written
   * (simnet's hostile agents wait on it).
   */
  onPeersChange?: (peers: PeerStatus[]) => void
}

export interface RunningDevice {
  /** The enrolled agent; undefined before enrolment. */
  agent?: Agent
  node: FleetNode
  signer: HybridSigner
  status: { deviceId: string; peerId: string; enrolled: boolean; fleetId: string | null; addresses: string[] }
  /** Stops everything started here (not the TPM, which the caller opened). Idempotent. */
  stop: () => Promise<void>
}

/**
 * Releases this device's keys (throws KeyReleaseRefusedError on a boot or agent the owner did not
 * approve) and runs the agent. The caller owns the TPM: it opens it before and closes it after stop().
 */
export async function startDeviceAgent(components: AgentComponents, init: DeviceAgentInit): Promise<RunningDevice> {
  const { tpm, logger } = components
  const { state, config, dir } = init
  const clock = components.clock ?? systemClock
  // A private network's key that cannot be read stops the start here, before anything is released.
  const networkKey = config.networkKeyFile === undefined ? undefined : await readNetworkKey(config.networkKeyFile)
  // Before the TPM releases anything: a second agent on this directory is refused, not started beside it.
  const runLock = await lockAgent(dir, process.pid)
  const closers: Array<() => Promise<void>> = [async () => await runLock.release()]
  let device: Awaited<ReturnType<typeof unlockDevice>>
  let released: Awaited<ReturnType<Tpm['readPcrs']>>
  let enrolment: Awaited<ReturnType<typeof readDeviceEnrolment>>
  try {
    device = await unlockDevice(tpm, state, await measurementOf(state))
    // The PCR values the keys were just released under: the workload gate's baseline.
    released = await tpm.readPcrs(state.sealing.selection as PcrSelection)
    enrolment = await readDeviceEnrolment(dir, state.deviceId)
    // An enrolled device still sealed to its boot at fleet init keeps a copy of its keys and
    // secrets sealed to the owner (made at fleet join; here for one enrolled without, or whose
    // secrets were busy then): the owner's first approval then installs after a kernel update
    // too. Best effort: the agent runs without it, and says so.
    if (enrolment !== undefined) {
      const ownerPoint = enrolment.ownerKey.p256
      await keepOwnerCopies(tpm, state, dir, ownerPoint).then(
        (copies) => {
          if (copies.keys || (copies.secrets?.length ?? 0) > 0)
            logger?.info({ keys: copies.keys, secrets: copies.secrets }, 'kept a copy sealed to the owner')
        },
        (err: unknown) =>
          logger?.warn(
            { err: (err as Error).message },
            "could not keep a copy of the keys sealed to the owner: the owner's first approval needs the boot of fleet init"
          )
      )
    }
    // The workload secrets are this agent's while it runs (a re-seal waits for its stop).
    const secretsLock = await lockSecrets(dir, 'shared')
    closers.push(async () => await secretsLock.release())
  } catch (err) {
    for (const close of closers.reverse()) await close().catch(() => undefined)
    throw err
  }
  let agent: Agent | undefined
  let node: FleetNode
  try {
    if (enrolment === undefined) {
      // Not enrolled: nobody is admitted; fleet join opens the enrolment window.
      node = await createFleetNode({
        privateKey: device.peerKey,
        admission: { allows: () => false },
        listen: config.listen,
        networkKey,
        mdns: false
      })
      closers.push(async () => {
        await node.stop()
      })
    } else {
      // The agent runs on the native binding anyway (EsysTpm): its batch hasher is the faster one.
      agent = await createAgent(
        { ...components, hasher: components.hasher ?? nativeHasher(), p256: components.p256 ?? nativeP256Verifier() },
        {
          dir,
          state,
          device,
          enrolment,
          eventLog: init.eventLog,
          listen: config.listen,
          networkKey,
          hubs: config.hubs,
          mdns: config.mdns,
          attestIntervalMs: config.attestIntervalSec * 1000,
          batchMs: config.batchMs,
          batchEntries: config.batchEntries,
          routineBatchMs: config.routineBatchSec * 1000,
          witnessesPerFeed: config.witnessesPerFeed,
          sinks: config.sinks,
          onPeersChange: (peers) => {
            void writePeersFile(dir, peers, new Date(clock.now())).catch(() => undefined)
            init.onPeersChange?.(peers)
          }
        }
      )
      const running = agent
      closers.push(async () => {
        await running.stop()
      })
      await agent.start()
      node = agent.node
      let approvals: Approvals | undefined
      if (config.approvals !== undefined) {
        // One approval page for the agent's lifetime, on 127.0.0.1 only (config `approvals`).
        const page = new Approvals(
          {
            actors: agent.membership.actors,
            ledger: agent.feed.ledger,
            random: components.random ?? cryptoRandom,
            logger
          },
          { port: config.approvals.port }
        )
        await page.start()
        closers.push(async () => {
          await page.stop()
        })
        logger?.info({ url: page.url }, 'approval page')
        approvals = page
      }
      // The workload gate, its baseline the PCR values read right after the keys were released.
      const gate = await startAgentGate(agent, {
        tpm,
        state,
        dir,
        clock,
        released,
        eventLog: init.eventLog,
        owner: enrolment.ownerKey.p256
      })
      const control = await startControlServer(agent, dir, state.deviceId, {
        logger,
        clock,
        approvals,
        gate
      })
      closers.push(async () => {
        await control.close()
      })
      if (config.gateSocket !== undefined) {
        const gateSocket = await startGateSocket(config.gateSocket, { gate, dir, logger })
        closers.push(async () => {
          await gateSocket.close()
        })
        logger?.info({ path: config.gateSocket }, 'gate socket')
      }
      if (config.metricsPort > 0) {
        // Loaded only when asked for: node:http brings Node's fetch implementation with it (about 3 MB of heap with prom-client).
        const { startMetricsServer } = await import('./metrics.js')
        const metrics = await startMetricsServer(agent, tpm instanceof EsysTpm ? tpm : undefined, config.metricsPort)
        closers.push(async () => {
          await metrics.close()
        })
        logger?.info({ url: `http://127.0.0.1:${metrics.port}/metrics` }, 'metrics')
      }
      if (config.console !== undefined) {
        // The console is read-only and not needed for the agent's work: a console that cannot
        // start (its port taken, by anyone on this machine) is said, and the agent runs on.
        const { startAgentConsole } = await import('./console/index.js')
        const web = await startAgentConsole(agent, {
          dir,
          deviceId: state.deviceId,
          port: config.console.port,
          logger
        }).catch((err: unknown) => {
          logger?.error(
            { port: config.console?.port, err: (err as Error).message },
            'the console cannot start: the agent runs without it'
          )
          return undefined
        })
        if (web !== undefined) {
          closers.push(async () => {
            await web.close()
          })
          logger?.info(
            { url: web.url, token: `${dir}/console.token` },
            'console (fleet console prints its address with the token)'
          )
        }
      }
      for (const address of init.peers ?? []) {
        void agent.node
          .dial(multiaddr(address))
          .catch((err: unknown) =>
            logger?.warn({ address, err: (err as Error).message }, 'could not reach a peer given with --peer')
          )
      }
    }
  } catch (err) {
    // A part that failed to start (a port in use, a socket path taken) must not leave the rest
    // running: a half-started agent would hold the TPM and the store with no one to stop it.
    for (const close of closers.reverse()) await close().catch(() => undefined)
    throw startFailure(err)
  }
  const status = {
    deviceId: state.deviceId,
    peerId: node.peerId.toString(),
    enrolled: enrolment !== undefined,
    fleetId: enrolment === undefined ? null : toHex(enrolment.fleetId),
    addresses: node.getMultiaddrs().map((a) => a.toString())
  }
  let stopped: Promise<void> | undefined
  return {
    agent,
    node,
    signer: deviceSigner(tpm, device),
    status,
    stop: async () => {
      stopped ??= (async () => {
        for (const close of closers.reverse()) await close()
      })()
      await stopped
    }
  }
}

/**
 * The workload gate of a running agent, as its control socket serves it (gate.*, secret.seal):
 * `released` is the PCR values read right after the keys were released; without it the gate
 * reads them now (call it right after the agent started). `eventLog` is the boot event log the
 * agent attests with: a changed PCR's reason names the events it gained since. A re-seal of the
 * secrets that was interrupted is settled first: the gate opens them, and seals new ones, under
 * `state` only.
 */
export async function startAgentGate(
  agent: Agent,
  parts: {
    tpm: Tpm
    state: DeviceState
    dir: string
    clock: Clock
    released?: PcrValues
    eventLog: () => Promise<Uint8Array>
    /** The fleet owner's P-256 point: secrets sealed by a device still sealed to its boot at fleet init get a copy sealed to it. */
    owner?: Uint8Array
  }
): Promise<NonNullable<ControlServerInit['gate']>> {
  const { tpm, state, dir, clock, released, eventLog, owner } = parts
  await settleSecretReseal(dir, state)
  const gate = new Gate({
    tpm,
    state,
    dir,
    clock,
    verdicts: agent.verdictsOnSelf,
    eventLog,
    isRevoked: (id) => agent.membership.isRevoked(id),
    isQuarantined: (id) => agent.membership.isQuarantined(id),
    ledger: agent.feed.ledger
  })
  await gate.start(released)
  return {
    gate,
    seal: async (name, value, replace) =>
      await sealSecret(tpm, state, dir, name, value, {
        replace,
        now: new Date(clock.now()),
        owner
      })
  }
}
