/** What an agent runtime is started with, and simnet's seams into it. */
import { toHex } from '../common/bytes.js'
import type { Hasher, SyncBatch } from '../ledger/index.js'
import type { Tpm } from '../attest/index.js'
import type { PeerStatus } from './attestation/service.js'
import type { UnlockedDevice } from './device/identity.js'
import type { DeviceState } from './device/state.js'
import type { DeviceEnrolment } from './enrolment/record.js'
import type { Logger } from './ops/logger.js'

export interface AgentRuntimeInit {
  dir: string
  tpm: Tpm
  state: DeviceState
  device: UnlockedDevice
  enrolment: DeviceEnrolment
  eventLog: () => Promise<Uint8Array>
  listen: string[]
  mdns?: boolean
  /** Default: one mDNS service per fleet. */
  serviceTag?: string
  logger?: Logger
  attestIntervalMs?: number
  /** How long a new inbound peer has to attest before it is hung up on (default 30 s). */
  attestDeadlineMs?: number
  /** Anti-entropy: pull from every attested peer this often (default 5 s). */
  syncIntervalMs?: number
  /** Own feed: a checkpoint at least this often (default 250 ms) or every this many entries (default 10,000). */
  batchMs?: number
  batchEntries?: number
  /** Own feed: routine entries (trusted verdicts) are sealed within this long (default 30 s). */
  routineBatchMs?: number
  /** Witnessing: cosign each peer feed's newest verified checkpoint at most this often (default 1 s; 0: never). */
  cosignIntervalMs?: number
  /** Witnessing: how many fleet devices cosign each feed (its witness set; default 4). */
  witnessesPerFeed?: number
  onPeersChange?: (peers: PeerStatus[]) => void
  /** The ledger's batch hashing (own feed, replicas, served proofs); default node:crypto. */
  hasher?: Hasher
  /** simnet's hostile agents only (the CLI never sets this): replace what this agent serves and announces of its own feed. */
  hooks?: RuntimeHooks
}

/** Seams for simnet's test-only hostile agents. */
export interface RuntimeHooks {
  /** The batch of the own feed served to `peerId` from `from`; null serves the real one. */
  ownBatch?: (peerId: string, from: number) => Promise<SyncBatch | undefined | null>
  /** What is announced of the own feed to `peerId`; undefined announces the real one. */
  ownAnnounce?: (peerId: string) => { size: number, checkpoint: string } | undefined
}

/** The mDNS service of a fleet: agents of other fleets on the link do not see each other. */
export function fleetServiceTag (fleetId: Uint8Array): string {
  return `_fleet-${toHex(fleetId).slice(0, 16)}._udp.local`
}
