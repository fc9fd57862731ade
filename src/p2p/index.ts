/**
 * Peer-to-peer transport for the fleet: a libp2p node (TCP, Noise, Yamux, mDNS, identify, ping)
 * gated by an admission predicate, and bounded length-prefixed framing for fleet protocols.
 *
 * @example
 * const node = await createFleetNode({ privateKey, admission: { allows: (peerId) => members.has(peerId) } })
 * await node.handle('/fleet/attest/1', async (stream, connection) => {
 *   const framed = new FramedStream(stream)
 *   const request = await framed.read()   // throws FrameTooLargeError / FrameTimeoutError
 * })
 */
export { createFleetNode } from './node.js'
export type { FleetNode, FleetNodeInit, Admission } from './node.js'
export { FramedStream } from './framing.js'
export { FrameTooLargeError, FrameTimeoutError, StreamEndedError } from './errors.js'
export { P2P_LIMITS } from './limits.js'
