/**
 * Running the agent as a service: its configuration file, its logger, and process memory upkeep.
 */
export { CONFIG_DEFAULTS, ConfigError, loadConfig, type AgentConfig } from './config.js'
export { createLogger, silentLogger, stderrIsJournal, type Logger } from './logger.js'
export { PEERS_FILE, readPeersFile, writePeersFile, type PeersView } from './peers-file.js'
