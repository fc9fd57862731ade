/** Sites joined through attested hubs: the links an agent keeps to hubs and to members behind them. */
export { HubLinks, parseHubAddress, relayOf, type HubLinksInit } from './hub-links.js'
export { HUB_LIMITS } from './limits.js'
export { relayGate, type RelayAttestation, type RelayCounts } from './relay-gate.js'
export { HUB_ACTIONS, HubList, missingHubActions, type ListedHub } from './statements.js'
export { HUB_BOOK_FILE, ownerListedHubs, readHubBook, writeHubBook, type HubMembers } from './hub-book.js'
export { ADDRESS_BOOK_FILE, AddressBook } from './address-book.js'
export { SiteLinks, hubsAtStart, nodeRelay, type HubsAtStart, type SiteLinksInit } from './site-links.js'
