/** Sites joined through attested hubs: the links an agent keeps to hubs and to members behind them. */
export { HubLinks, parseHubAddress, relayOf, type HubLinksInit } from './hub-links.js'
export { HUB_LIMITS } from './limits.js'
export { relayGate, type RelayAttestation, type RelayCounts } from './relay-gate.js'
