/** Finding the fleet's agents from a command: addresses typed with --peer, or those found over mDNS. */
import { multiaddr, type Multiaddr } from '@multiformats/multiaddr'
import { UsageError } from '../common/index.js'
import type { createFleetNode } from '../p2p/index.js'

/** A --peer address: a multiaddr that names its peer (/p2p/…), else a UsageError. */
export function parsePeer(text: string): Multiaddr {
  try {
    const addr = multiaddr(text)
    if (addr.getComponents().find((c) => c.name === 'p2p') === undefined) throw new Error('it names no peer (/p2p/…)')
    return addr
  } catch (err) {
    throw new UsageError(`--peer ${text}: not a multiaddr with a PeerId (${(err as Error).message})`)
  }
}

/**
 * Peers found over mDNS (and any already in the peer store), as dialable addresses. Resolves at
 * the first one with `first`, else when `signal` ends the search.
 */
export async function discover(
  node: Awaited<ReturnType<typeof createFleetNode>>,
  signal: AbortSignal,
  options: { first: boolean }
): Promise<Multiaddr[]> {
  return await new Promise<Multiaddr[]>((resolve) => {
    const found = new Map<string, Multiaddr>()
    const done = (): void => resolve([...found.values()])
    signal.addEventListener('abort', done, { once: true })
    const add = (id: string, addrs: Multiaddr[]): void => {
      const addr = addrs.find((a) => a.toString().includes('/tcp/'))
      if (addr === undefined || found.has(id)) return
      found.set(id, addr.encapsulate(`/p2p/${id}`))
      if (options.first) {
        signal.removeEventListener('abort', done)
        done()
      }
    }
    node.addEventListener('peer:discovery', (evt) => {
      add(evt.detail.id.toString(), evt.detail.multiaddrs)
    })
    void node.peerStore.all().then((peers) => {
      for (const peer of peers)
        add(
          peer.id.toString(),
          peer.addresses.map((a) => a.multiaddr)
        )
    })
  })
}
