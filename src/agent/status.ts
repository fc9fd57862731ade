/** What `fleet status` shows of a running agent, and the resident memory it reports. */
import { readFileSync } from 'node:fs'
import { toHex } from '../common/index.js'
import { bootPolicyId } from '../attest/index.js'
import type { Agent } from './agent.js'
import type { PeerStatus } from './attestation/index.js'

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

/** Each peer's latest verdict, and whether it is connected now. */
function peersWithReach(runtime: Agent): Array<PeerStatus & { online: boolean }> {
  const online = new Set(runtime.node.getConnections().map((connection) => connection.remotePeer.toString()))
  return runtime.attestation.list().map((peer) => ({ ...peer, online: online.has(peer.peerId) }))
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
    sinks: await runtime.sinks.status(),
    memory: residentMemory()
  }
}
