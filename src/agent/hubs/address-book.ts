/**
 * DIR/address-book.json: where each peer this agent attested was last reached directly (its
 * listen addresses as it announced them, relayed ones left out), so that after a restart the agent
 * dials its peers again without waiting for mDNS or a hub. Only members in good standing are
 * dialled, and each is attested again on its new connection: a stale or planted address reaches
 * nobody the agent would trust. Written at most every few seconds when it changed; read with caps,
 * a damaged file counting as empty.
 */
import { readFile, rename, stat, writeFile } from 'node:fs/promises'
import path from 'node:path'
import { multiaddr, type Multiaddr } from '@multiformats/multiaddr'
import { HUB_LIMITS } from './limits.js'

export const ADDRESS_BOOK_FILE = 'address-book.json'

/** Peers' last-known direct addresses, by PeerId, oldest entry first (bounded by HUB_LIMITS). */
export class AddressBook {
  private readonly peers = new Map<string, string[]>()
  private readonly file: string
  private timer: NodeJS.Timeout | undefined
  private saving: Promise<void> = Promise.resolve()

  constructor(dir: string) {
    this.file = path.join(dir, ADDRESS_BOOK_FILE)
  }

  /** Reads the book written before; a missing, oversized or damaged one is empty. */
  async load(): Promise<void> {
    try {
      if ((await stat(this.file)).size > HUB_LIMITS.maxAddressBookBytes) return
      const text = await readFile(this.file, 'utf8')
      const book = JSON.parse(text) as { peers?: Record<string, unknown> }
      for (const [peer, addrs] of Object.entries(book.peers ?? {}).slice(0, HUB_LIMITS.maxBookedPeers)) {
        if (!/^[1-9A-HJ-NP-Za-km-z]{40,64}$/.test(peer) || !Array.isArray(addrs)) continue
        const kept = addrs.filter((a): a is string => typeof a === 'string' && direct(a) !== undefined)
        if (kept.length > 0) this.peers.set(peer, kept.slice(0, HUB_LIMITS.maxAddressesPerPeer))
      }
    } catch {
      // Empty: peers are found again by mDNS and through hubs.
    }
  }

  /** Notes where `peer` listens (relayed addresses left out); saved a little later when it changed. */
  note(peer: string, addresses: readonly Multiaddr[]): void {
    const kept = addresses
      .map((a) => a.toString())
      .filter((a) => direct(a) !== undefined)
      .slice(0, HUB_LIMITS.maxAddressesPerPeer)
    if (kept.length === 0 || this.peers.get(peer)?.join(' ') === kept.join(' ')) return
    this.peers.delete(peer)
    this.peers.set(peer, kept)
    for (const oldest of this.peers.keys()) {
      if (this.peers.size <= HUB_LIMITS.maxBookedPeers) break
      this.peers.delete(oldest)
    }
    this.timer ??= setTimeout(() => {
      this.timer = undefined
      void this.save()
    }, HUB_LIMITS.addressBookSaveMs)
    this.timer.unref()
  }

  /** The booked addresses of `peer`, each with its PeerId, to dial. */
  addresses(peer: string): Multiaddr[] {
    return (this.peers.get(peer) ?? []).map((a) => multiaddr(a).encapsulate(`/p2p/${peer}`))
  }

  /** Writes what is pending now (at stop). */
  async flush(): Promise<void> {
    if (this.timer !== undefined) {
      clearTimeout(this.timer)
      this.timer = undefined
      await this.save()
    }
    await this.saving
  }

  private async save(): Promise<void> {
    const text = `${JSON.stringify({ peers: Object.fromEntries(this.peers) }, null, 2)}\n`
    this.saving = this.saving
      .then(async () => {
        await writeFile(`${this.file}.tmp-${process.pid}`, text, { mode: 0o600 })
        await rename(`${this.file}.tmp-${process.pid}`, this.file)
      })
      .catch(() => undefined)
    await this.saving
  }
}

/** The address when it is a direct TCP one without a PeerId (as peers announce their listen addresses), else undefined. */
function direct(text: string): Multiaddr | undefined {
  try {
    const addr = multiaddr(text)
    const names = addr.getComponents().map((c) => c.name)
    if (names.includes('p2p') || names.includes('p2p-circuit') || !names.includes('tcp')) return undefined
    // An unspecified address (0.0.0.0, ::) is where a peer listens, not where it is reached.
    const host = addr.getComponents()[0]?.value
    if (host === '0.0.0.0' || host === '::') return undefined
    return addr
  } catch {
    return undefined
  }
}
