/** What `fleet status` shows of a running agent, and the resident memory it reports. */
import { readFileSync } from 'node:fs'
import { toHex } from '../common/index.js'
import { bootPolicyId } from '../attest/index.js'
import type { Agent } from './agent.js'
import type { PeerStatus } from './attestation/index.js'
import { relayOf } from './hubs/index.js'

/** Resident memory of this process. */
export interface ResidentMemory {
  rssBytes: number
  /** Anonymous pages: the agent's own memory (JS heap, buffers, LevelDB caches). Linux only. */
  anonBytes?: number
  /** Pages mapped from files: mostly the Node binary's code, shared with every Node process. Linux only. */
  fileBytes?: number
  heapUsedBytes: number
}

/** VmRSS, RssAnon and RssFile of a Linux /proc/PID/status text, in bytes; a field it lacks is left out. */
export function procStatusMemory(text: string): { rss?: number; anon?: number; file?: number } {
  const kib = (field: string): number | undefined => {
    const match = new RegExp(`^${field}:\\s+(\\d+) kB$`, 'm').exec(text)
    return match === null ? undefined : Number(match[1]) * 1024
  }
  const fields = { rss: kib('VmRSS'), anon: kib('RssAnon'), file: kib('RssFile') }
  return Object.fromEntries(Object.entries(fields).filter(([, v]) => v !== undefined))
}

/** Resident memory, split by /proc/self/status on Linux into the process's own and what is mapped from files. */
export function residentMemory(procStatus?: string): ResidentMemory {
  const usage = process.memoryUsage()
  const memory: ResidentMemory = { rssBytes: usage.rss, heapUsedBytes: usage.heapUsed }
  let text: string
  try {
    text = procStatus ?? readFileSync('/proc/self/status', 'utf8')
  } catch {
    return memory
  }
  const { anon, file } = procStatusMemory(text)
  if (anon !== undefined) memory.anonBytes = anon
  if (file !== undefined) memory.fileBytes = file
  return memory
}

/** How a connected peer is reached: direct when any of its connections is, else through which hub. */
export interface PeerRoute {
  via: 'direct' | 'relay'
  /** The hub's PeerId, when relayed. */
  hub?: string
}

/** Each peer's latest verdict, whether it is connected now, and how. */
function peersWithReach(runtime: Agent): Array<PeerStatus & { online: boolean } & Partial<PeerRoute>> {
  const routes = new Map<string, PeerRoute>()
  for (const connection of runtime.node.getConnections()) {
    const peer = connection.remotePeer.toString()
    const hub = relayOf(connection.remoteAddr)
    if (hub === undefined) routes.set(peer, { via: 'direct' })
    else if (!routes.has(peer)) routes.set(peer, { via: 'relay', hub })
  }
  return runtime.attestation
    .list()
    .map((peer) => ({ ...peer, online: routes.has(peer.peerId), ...routes.get(peer.peerId) }))
}

/** The relay: as a hub, its reservations and what its gate answered; as a device, its hubs. */
function relayStatus(runtime: Agent): Record<string, unknown> | undefined {
  const counts = runtime.relayCounts
  // (A stand-in node, as tests compose, may have no services.)
  const server = runtime.node.services?.relay
  if (server === undefined && (runtime.hubLinks?.hubs().length ?? 0) === 0) return undefined
  return {
    ...(server === undefined ? {} : { hub: true, reservations: server.reservations.size }),
    ...(counts === undefined ? {} : { counts: { ...counts } }),
    ...(runtime.hubLinks === undefined
      ? {}
      : {
          hubs: runtime.hubLinks.hubs().map((hub) => ({ peerId: hub, attested: runtime.attestation.attested(hub) })),
          dials: { ...runtime.hubLinks.counts }
        })
  }
}

/** What `fleet status` shows. */
export async function agentStatus(runtime: Agent, deviceId: string): Promise<Record<string, unknown>> {
  return {
    deviceId,
    peerId: runtime.node.peerId.toString(),
    tpm: await runtime.tpmHealth(),
    fleetId: toHex(runtime.membership.fleetId),
    addresses: runtime.node.getMultiaddrs().map((a) => a.toString()),
    feed: {
      size: runtime.feed.ledger.size,
      sealed: runtime.feed.ledger.sealedSize,
      witnessedBy: await runtime.witnessedBy(),
      externallyWitnessedBy: await runtime.externallyWitnessedBy()
    },
    externalWitnesses: runtime.externalWitnessing.status(),
    heads: Object.fromEntries(await runtime.heads()),
    policyId: bootPolicyId(runtime.membership.policy),
    ontologyVersion: runtime.membership.ontology.version,
    members: runtime.membership.list().map((m) => {
      const evidence = runtime.membership.quarantineEvidence(m.deviceId)
      return {
        deviceId: m.deviceId,
        revoked: runtime.membership.isRevoked(m.deviceId),
        quarantined: evidence !== undefined,
        evidence
      }
    }),
    peers: peersWithReach(runtime),
    connections: runtime.node.getConnections().length,
    relay: relayStatus(runtime),
    sinks: await runtime.sinks.status(),
    memory: residentMemory()
  }
}
