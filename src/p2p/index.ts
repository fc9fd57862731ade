/**
 * Peer-to-peer transport for the fleet: a libp2p node (TCP, Noise, Yamux, mDNS, identify, ping)
 * gated by an admission predicate, bounded length-prefixed framing for fleet protocols, and their
 * messages: canonical CBOR maps {t, ...fields}, each type's fields a schema of the codec module.
 *
 * @example
 * const node = await createFleetNode({ privateKey, admission: { allows: (peerId) => members.has(peerId) } })
 * await node.handle('/fleet/attest/1', async (stream, connection) => {
 *   const framed = new FramedStream(stream)
 *   const request = await framed.read()   // throws FrameTooLargeError / FrameTimeoutError
 *   const hello = decodeMessage('/fleet/attest/1', request, 'hello', { nonce: { kind: 'bytes', size: 32, max: 32 } }, 4096)
 * })
 */
export { createFleetNode } from './node.js'
export type { FleetNode, FleetNodeInit, Admission, RelayGate } from './node.js'
export { FramedStream } from './framing.js'
export { encodeMessage, decodeMessage, checkFields, MalformedMessageError } from './messages.js'
export type { WireSchema, WireMessage } from './messages.js'
export { FrameTooLargeError, FrameTimeoutError, StreamEndedError } from './errors.js'
export { P2P_LIMITS, RELAY_LIMITS, OVER_RELAYS, NETWORK_KEY_LIMITS } from './limits.js'
export { NetworkKeyError, readNetworkKey, writeNetworkKey } from './network-key.js'
