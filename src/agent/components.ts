/** What an agent is made of (components) and what it is started with (init). */
import { toHex, type Clock, type Random } from '../common/index.js'
import type { Tpm } from '../attest/index.js'
import type { FeedSource, Hasher, LedgerStore } from '../ledger/index.js'
import type { PeerStatus } from './attestation/index.js'
import type { P256Verifier } from './membership/index.js'
import type { UnlockedDevice, DeviceState } from './device/index.js'
import type { DeviceEnrolment } from './enrolment/index.js'
import type { Logger, SinkConfig } from './ops/index.js'
import type { OwnFeedServer, ReplicationEvent } from './replication/index.js'
import type { SinkServiceEvent, Wait, WebhookTransport } from './sinks/index.js'
import type { Fetch } from './external-witness/index.js'

export interface AgentComponents {
  /** The device's TPM, its keys released (see unlockDevice). */
  tpm: Tpm
  logger?: Logger
  /** What entries, verdicts and results are stamped with. Default: the wall clock (systemClock). */
  clock?: Clock
  /**
   * What intervals, throttles and backoff are kept on (cosigning, checking announced checkpoints,
   * relays, retries of external witnesses): time that never steps. Default: steadyClock.
   */
  steadyClock?: Clock
  /** Default: node:crypto. */
  random?: Random
  /** Where the ledger lives. Default: LevelDB in DIR/ledger (see LevelLedgerStore); MemoryLedgerStore for simulations. */
  store?: LedgerStore
  /** The ledger's batch hashing (own feed, replicas, served proofs). Default: node:crypto; `fleet run` gives the native one. */
  hasher?: Hasher
  /**
   * How the own feed is served and announced to peers, given the feed as the ledger holds it.
   * Default: as the ledger holds it, with pushes. simnet's hostile agents (never `fleet run`) put
   * a forked or forged feed here; see simnet/hostile.ts.
   */
  ownFeedServer?: (held: FeedSource) => OwnFeedServer
  /** How external witnesses are reached (default: globalThis.fetch). */
  fetch?: Fetch
  /** Verifies a batch's actor token signatures together. Default: one by one; `fleet run` gives the native one. */
  p256?: P256Verifier
  /** How the sinks wait between polls and retries. Default: the system's timers. */
  sinkWait?: Wait
  /** How webhook sinks POST. Default: node:https, verifying against the sink's CA. */
  webhookTransport?: (config: { ca?: string }) => WebhookTransport
}

export interface AgentInit {
  /** The state directory (the ledger lives in DIR/ledger). */
  dir: string
  state: DeviceState
  device: UnlockedDevice
  enrolment: DeviceEnrolment
  /** The boot event log sent with every attestation. */
  eventLog: () => Promise<Uint8Array>
  listen: string[]
  /** The fleet's private network key (src/p2p/network-key.ts): every connection proves it first. Default: none. */
  networkKey?: Uint8Array
  /** Hubs to keep a link to and reach other sites through (multiaddrs naming their peer). Default: none. */
  hubs?: readonly string[]
  /** A hub's limits of one relayed link, after which the two ends dial through it again (default RELAY_LIMITS). */
  relayLinkLimits?: { durationMs: number; dataBytes: bigint }
  /** How often to look for members not connected, to reach through a hub (default 10 s). */
  hubReachIntervalMs?: number
  mdns?: boolean
  /** Default: one mDNS service per fleet. */
  serviceTag?: string
  attestIntervalMs?: number
  /** How long a new inbound peer has to attest before it is hung up on (default 30 s). */
  attestDeadlineMs?: number
  /** Anti-entropy: pull from a few attested peers this often (default 5 s). */
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
  /** External witnesses: look for a newer checkpoint to submit this often (default 1 s; 0: never on its own). */
  externalWitnessIntervalMs?: number
  /** External witnesses: one request's deadline (default 10 s). */
  externalWitnessTimeoutMs?: number
  onPeersChange?: (peers: PeerStatus[]) => void
  /** Told what replication did, as it happens: pulls ended, batches refused, alerts read, announces dropped. */
  onReplication?: (event: ReplicationEvent) => void
  /** Where events go (checked already: see checkSinkConfigs). Default: nowhere. */
  sinks?: readonly SinkConfig[]
  /** How often an idle sink looks for new entries (default 1 s). */
  sinkPollMs?: number
  /** Told what each sink did, as it happens. */
  onSinks?: (event: SinkServiceEvent) => void
}

/** The mDNS service of a fleet: agents of other fleets on the link do not see each other. */
export function fleetServiceTag(fleetId: Uint8Array): string {
  return `_fleet-${toHex(fleetId).slice(0, 16)}._udp.local`
}
