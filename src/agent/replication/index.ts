/**
 * Replication of the signed ledger: the sync messages, the pure planner that decides what to
 * announce, pull and serve, the replicator that runs it over libp2p streams, and the gossip of
 * announces.
 */
export {
  LEDGER_SYNC_PROTOCOL,
  SYNC_PROTOCOL_LIMITS,
  SyncProtocolError,
  pull,
  readOpening,
  sendAnnounce,
  servePull
} from './messages.js'
export { publishOwnerFeed } from './owner-publish.js'
export { Replicator } from './replicator.js'
export { PeerAlerts } from './peer-alerts.js'
export { actOnPeerAlert } from './peer-batch.js'
export { ALERT_LIMITS } from './limits.js'
export type { ReplicationEvent } from './events.js'
export { ledgerFeedServer, type OwnFeedServer } from './own-feed-server.js'
