/**
 * The memory bench's peer: a plain libp2p node with the agent's transport stack (TCP, Noise,
 * Yamux, identify, ping) and none of the fleet's protocols, run as its own process with the
 * agent's Node flags. It imports nothing of the agent, so that its memory is libp2p's and Node's.
 * Argument: the slab size of Node's small-Buffer pool, as `fleet run` sets it. It prints its
 * address as one JSON line and runs until stdin closes.
 */
import { createLibp2p } from 'libp2p'
import { tcp } from '@libp2p/tcp'
import { noise } from '@chainsafe/libp2p-noise'
import { yamux } from '@chainsafe/libp2p-yamux'
import { identify } from '@libp2p/identify'
import { ping } from '@libp2p/ping'

/** A plain node that listens on 127.0.0.1 and admits every connection from loopback. */
export async function plainNode(): Promise<Awaited<ReturnType<typeof createLibp2p>>> {
  return await createLibp2p({
    addresses: { listen: ['/ip4/127.0.0.1/tcp/0'] },
    transports: [tcp()],
    connectionEncrypters: [noise()],
    streamMuxers: [yamux()],
    connectionManager: { allow: ['/ip4/127.0.0.1/ipcidr/8'] },
    connectionMonitor: { enabled: false },
    services: { identify: identify(), ping: ping() }
  })
}

if (process.argv[1] === import.meta.filename) {
  Buffer.poolSize = Number(process.argv[2])
  const node = await plainNode()
  process.stdout.write(
    `${JSON.stringify({ peerId: node.peerId.toString(), address: node.getMultiaddrs()[0]!.toString() })}\n`
  )
  process.stdin.resume()
  process.stdin.on('end', () => {
    void Promise.resolve(node.stop()).then(() => process.exit(0))
  })
}
