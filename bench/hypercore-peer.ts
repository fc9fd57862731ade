import { mkdtemp, rm } from 'node:fs/promises'
import os from 'node:os'
import path from 'node:path'
import Hypercore from 'hypercore'
import { nowMs } from './types.js'

/**
 * The peer for replication benches: one hypercore with `entries` 256-byte blocks, replicated to
 * `replicas` fresh cores in this process (each over its own replication stream, all at once).
 * Returns the milliseconds until every replica holds every block.
 */
export async function hypercoreReplication(entries: number, replicas: number): Promise<number> {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'fleet-bench-hypercore-'))
  const cores: Hypercore[] = []
  try {
    const source = new Hypercore(path.join(dir, 'source'))
    cores.push(source)
    await source.ready()
    const payload = Buffer.alloc(256, 0x61)
    for (let i = 0; i < entries; i += 1000)
      await source.append(Array.from({ length: Math.min(1000, entries - i) }, () => payload))
    const start = nowMs()
    await Promise.all(
      Array.from({ length: replicas }, async (_, i) => {
        const replica = new Hypercore(path.join(dir, `replica-${i}`), source.key)
        cores.push(replica)
        await replica.ready()
        const a = source.replicate(true)
        const b = replica.replicate(false)
        a.pipe(b).pipe(a)
        await replica.update({ wait: true })
        await replica.download({ start: 0, end: source.length }).done()
        if (replica.contiguousLength !== entries)
          throw new Error(`a hypercore replica holds ${replica.contiguousLength} of ${entries}`)
      })
    )
    return nowMs() - start
  } finally {
    for (const core of cores) await core.close().catch(() => undefined)
    await rm(dir, { recursive: true, force: true })
  }
}
