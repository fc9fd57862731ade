/**
 * simnet's stranger at a hub (scenario stranger-relay): a plain libp2p node with libp2p's own
 * circuit relay client and a fresh key, never enrolled. It connects to the hub, asks it for a
 * reservation (listening on /p2p-circuit), waits WAIT_MS for one, then asks the hub for a link to
 * a member. Prints one JSON line: {"peerId", "reserved", "linked", "error"?}. Test-only: `fleet`
 * has no such mode.
 *
 * Usage: node relay-stranger.js HUB_MULTIADDR MEMBER_PEERID WAIT_MS
 */
import { createLibp2p } from 'libp2p'
import { tcp } from '@libp2p/tcp'
import { noise } from '@chainsafe/libp2p-noise'
import { yamux } from '@chainsafe/libp2p-yamux'
import { identify } from '@libp2p/identify'
import { circuitRelayTransport } from '@libp2p/circuit-relay-v2'
import { generateKeyPair } from '@libp2p/crypto/keys'
import { multiaddr } from '@multiformats/multiaddr'

async function main(): Promise<void> {
  const [hubText, member, waitText] = process.argv.slice(2)
  if (hubText === undefined || member === undefined || waitText === undefined) {
    process.stderr.write('usage: relay-stranger HUB_MULTIADDR MEMBER_PEERID WAIT_MS\n')
    process.exitCode = 2
    return
  }
  const hub = multiaddr(hubText)
  const node = await createLibp2p({
    privateKey: await generateKeyPair('Ed25519'),
    addresses: { listen: ['/ip4/0.0.0.0/tcp/0', '/p2p-circuit'] },
    transports: [tcp(), circuitRelayTransport()],
    connectionEncrypters: [noise()],
    streamMuxers: [yamux()],
    services: { identify: identify() }
  })
  const circuit = (): boolean => node.getMultiaddrs().some((a) => a.toString().includes('/p2p-circuit'))
  const result: { peerId: string; reserved: boolean; linked: boolean; error?: string } = {
    peerId: node.peerId.toString(),
    reserved: false,
    linked: false
  }
  try {
    await node.dial(hub, { signal: AbortSignal.timeout(10_000) })
    // A reservation shows as a circuit address of this node; none within the wait: refused.
    result.reserved = await new Promise<boolean>((resolve) => {
      if (circuit()) resolve(true)
      const timer = setTimeout(() => resolve(circuit()), Number(waitText))
      node.addEventListener('self:peer:update', () => {
        if (!circuit()) return
        clearTimeout(timer)
        resolve(true)
      })
    })
    result.linked = await node
      .dial(hub.encapsulate(`/p2p-circuit/p2p/${member}`), { signal: AbortSignal.timeout(10_000) })
      .then(
        () => true,
        () => false
      )
  } catch (err) {
    result.error = (err as Error).message
  } finally {
    await node.stop()
  }
  process.stdout.write(`${JSON.stringify(result)}\n`)
}

void main()
