/**
 * DIR/peers.json: the running agent's view of its peers, for `fleet peers`. Written atomically on
 * every change; read with a size cap.
 */
import { readFile, rename, writeFile } from 'node:fs/promises'
import path from 'node:path'
import { MalformedInputError } from '../../common/index.js'

export const PEERS_FILE = 'peers.json'
/** The most a peers file read back may hold. */
export const MAX_PEERS_FILE_BYTES = 4 * 1024 * 1024

export interface PeersView<P> {
  updatedAt: string
  peers: P[]
}

export async function writePeersFile<P>(dir: string, peers: P[], now: Date): Promise<void> {
  const file = path.join(dir, PEERS_FILE)
  await writeFile(`${file}.tmp-${process.pid}`, `${JSON.stringify({ updatedAt: now.toISOString(), peers }, null, 2)}\n`)
  await rename(`${file}.tmp-${process.pid}`, file)
}

/** The last view written; an empty one when the agent has not written any. */
export async function readPeersFile<P>(dir: string): Promise<PeersView<P>> {
  const file = path.join(dir, PEERS_FILE)
  try {
    const text = await readFile(file, 'utf8')
    if (text.length > MAX_PEERS_FILE_BYTES) throw new Error('too large')
    const view = JSON.parse(text) as PeersView<P>
    if (!Array.isArray(view.peers)) throw new Error('no peers list')
    return view
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return { updatedAt: '', peers: [] }
    throw new MalformedInputError(`${file}: ${(err as Error).message}`)
  }
}
