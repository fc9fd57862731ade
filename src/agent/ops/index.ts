/**
 * Running the agent as a service: its configuration file (with where its events go: sinks), its
 * logger, and process memory upkeep.
 */
export { CONFIG_DEFAULTS, ConfigError, loadConfig, type AgentConfig } from './config.js'
export { createLogger, silentLogger, stderrIsJournal, type Logger } from './logger.js'
export {
  MAX_SINKS,
  MAX_WEBHOOK_BATCH_EVENTS,
  SINK_EVENT_TYPES,
  SINKS_CONFIG_FIELD,
  SYSLOG_FACILITIES,
  SinkConfigError,
  checkSinkConfigs,
  parseHostPort,
  type SinkConfig,
  type SinkEventType,
  type SyslogFacility,
  type SyslogSinkConfig,
  type WebhookSinkConfig
} from './sink-config.js'
export { PEERS_FILE, readPeersFile, writePeersFile, type PeersView } from './peers-file.js'
