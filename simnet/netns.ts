/**
 * simnet's netns mode: every agent in its own network namespace, each with one veth link to a
 * bridge that lives in a namespace of its own (the host's network is left untouched), so agents
 * find each other by real mDNS multicast. Needs root (CAP_NET_ADMIN) and `ip` (iproute2).
 *
 *   <id>-hub   bridge br0 (multicast snooping off, so mDNS floods to every port)
 *   <id>-h<i>  veth <id>a<i> with 10.77.0.<i+2>/24, lo up, a route for 224.0.0.0/4 (without it
 *              multicast-dns fails silently); host 250 (10.77.0.252) is the owner's machine
 */
import { execFile } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { promisify } from 'node:util'

const exec = promisify(execFile)

export class NetnsUnavailableError extends Error {
  constructor(reason: string) {
    super(`network namespaces are not available here: ${reason}`)
    this.name = 'NetnsUnavailableError'
  }
}

export async function ip(...args: string[]): Promise<void> {
  await exec('ip', args, { timeout: 10_000 })
}

/** The command line that runs `command args…` inside namespace `ns`. */
export function inNamespace(ns: string, command: string, args: string[]): [string, string[]] {
  return ['ip', ['netns', 'exec', ns, command, ...args]]
}

/** Namespaces made for one run: commands run inside them, and close() deletes every one, last made first. */
export abstract class Namespaces {
  private readonly made: string[] = []
  private closed = false

  /** Makes namespace `ns`, deleted by close(). */
  protected async addNamespace(ns: string): Promise<void> {
    await ip('netns', 'add', ns)
    this.made.push(ns)
  }

  /** The command line that runs `command args…` inside namespace `ns`. */
  wrap(ns: string, command: string, args: string[]): [string, string[]] {
    return inNamespace(ns, command, args)
  }

  /** Deletes every namespace made (their veths go with them), each even when another fails. Safe to call twice. */
  async close(): Promise<void> {
    if (this.closed) return
    this.closed = true
    for (const ns of [...this.made].reverse()) await ip('netns', 'del', ns).catch(() => undefined)
  }
}

export class NetnsLan extends Namespaces {
  readonly id: string
  readonly hub: string

  private constructor(id: string) {
    super()
    this.id = id
    this.hub = `${id}-hub`
  }

  /** Why this process may not make namespaces (not root, no iproute2, no CAP_NET_ADMIN), or undefined when it may. */
  static async available(): Promise<string | undefined> {
    if (process.getuid?.() !== 0) return 'not root'
    try {
      await exec('ip', ['-V'], { timeout: 5_000 })
    } catch {
      return 'iproute2 (ip) is not installed'
    }
    const probe = `fsprobe${randomBytes(3).toString('hex')}`
    try {
      await ip('netns', 'add', probe)
    } catch (err) {
      return `ip netns add failed: ${(err as { stderr?: string }).stderr?.trim() ?? (err as Error).message}`
    }
    await ip('netns', 'del', probe).catch(() => undefined)
    return undefined
  }

  static async create(): Promise<NetnsLan> {
    const missing = await NetnsLan.available()
    if (missing !== undefined) throw new NetnsUnavailableError(missing)
    const lan = new NetnsLan(`fs${randomBytes(3).toString('hex')}`)
    try {
      await lan.addNamespace(lan.hub)
      await ip('-n', lan.hub, 'link', 'set', 'lo', 'up')
      await ip('-n', lan.hub, 'link', 'add', 'br0', 'type', 'bridge', 'mcast_snooping', '0')
      await ip('-n', lan.hub, 'link', 'set', 'br0', 'up')
    } catch (err) {
      await lan.close()
      throw new NetnsUnavailableError((err as { stderr?: string }).stderr?.trim() ?? (err as Error).message)
    }
    return lan
  }

  /** The owner's machine: the host where the owner's ceremony and statements run. */
  static readonly OWNER_HOST = 250

  /** A namespace for host `index` (0-based) on the bridge; returns its name and address. */
  async addHost(index: number): Promise<{ ns: string; address: string }> {
    if (!Number.isInteger(index) || index < 0 || index > NetnsLan.OWNER_HOST)
      throw new Error(`hosts are numbered 0..${NetnsLan.OWNER_HOST}`)
    const ns = `${this.id}-h${index}`
    const inside = `${this.id}a${index}`
    const outside = `${this.id}b${index}`
    const address = `10.77.0.${index + 2}`
    await this.addNamespace(ns)
    await ip('link', 'add', inside, 'netns', ns, 'type', 'veth', 'peer', 'name', outside, 'netns', this.hub)
    await ip('-n', ns, 'link', 'set', 'lo', 'up')
    await ip('-n', ns, 'addr', 'add', `${address}/24`, 'dev', inside)
    await ip('-n', ns, 'link', 'set', inside, 'up')
    await ip('-n', ns, 'route', 'add', '224.0.0.0/4', 'dev', inside)
    await ip('-n', this.hub, 'link', 'set', outside, 'master', 'br0')
    await ip('-n', this.hub, 'link', 'set', outside, 'up')
    return { ns, address }
  }
}
