/**
 * DIR/hubs.json: the hubs the owner listed, as this agent last resolved them (each address with
 * its hub's PeerId from the enrolment record). The owner's feed is the source; this file only lets
 * the next start know, before the feed is read, that the fleet has hubs: the relay reservations
 * are set up when the node is made. Written atomically when the list changes; read with caps, and
 * a damaged file counts as empty (the feed says it again).
 */
import { readFile, rename, stat, writeFile } from 'node:fs/promises'
import path from 'node:path'
import { multiaddr, type Multiaddr } from '@multiformats/multiaddr'
import { RELAY_LIMITS } from '../../p2p/index.js'
import { parseHubAddress } from './hub-links.js'
import { HUB_LIMITS } from './limits.js'
import type { HubList } from './statements.js'

/** What ownerListedHubs reads of the membership (src/agent/membership imports this room, not the reverse). */
export interface HubMembers {
  readonly hubs: Pick<HubList, 'list'>
  member(deviceId: string): { peerId: string } | undefined
  isRevoked(deviceId: string): boolean
  isQuarantined(deviceId: string): boolean
}

export const HUB_BOOK_FILE = 'hubs.json'

/** The hubs booked at the last change; [] when there are none, or the file is damaged. */
export async function readHubBook(dir: string): Promise<Multiaddr[]> {
  try {
    const file = path.join(dir, HUB_BOOK_FILE)
    if ((await stat(file)).size > HUB_LIMITS.maxBookBytes) return []
    const text = await readFile(file, 'utf8')
    const book = JSON.parse(text) as { hubs?: unknown }
    if (!Array.isArray(book.hubs) || book.hubs.length > RELAY_LIMITS.maxHubs) return []
    return book.hubs.map((addr) => parseHubAddress(String(addr)))
  } catch {
    return []
  }
}

/** Writes go one after another (one temporary file name per process): the last list wins. */
let writing: Promise<void> = Promise.resolve()

export async function writeHubBook(dir: string, hubs: readonly Multiaddr[]): Promise<void> {
  const file = path.join(dir, HUB_BOOK_FILE)
  const text = `${JSON.stringify({ hubs: hubs.map((addr) => addr.toString()) }, null, 2)}\n`
  const write = writing.then(async () => {
    await writeFile(`${file}.tmp-${process.pid}`, text, { mode: 0o600 })
    await rename(`${file}.tmp-${process.pid}`, file)
  })
  writing = write.catch(() => undefined)
  await write
}

/**
 * The hubs the owner listed that are members in good standing here, each as its address with the
 * PeerId of its enrolment record (an address that does not parse is left out).
 */
export function ownerListedHubs(membership: HubMembers, self: string): Multiaddr[] {
  const hubs: Multiaddr[] = []
  for (const hub of membership.hubs.list()) {
    const member = membership.member(hub.deviceId)
    if (member === undefined || member.peerId === self) continue
    if (membership.isRevoked(hub.deviceId) || membership.isQuarantined(hub.deviceId)) continue
    try {
      const address = multiaddr(hub.address)
      // No PeerId of its own (/p2p/, or /ipfs/ as parsers read it) and no circuit: the record's PeerId is the one.
      if (address.getComponents().some((c) => c.name === 'p2p' || c.name === 'p2p-circuit')) continue
      hubs.push(address.encapsulate(`/p2p/${member.peerId}`))
    } catch {
      // Not a multiaddr: the owner's statement is kept, and not used.
    }
  }
  return hubs
}
