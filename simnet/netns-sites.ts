/**
 * simnet's sites topology (`--mode netns --topology sites`): two or more sites, each a bridge of
 * its own behind a NAT router, and a WAN bridge where the routers' outside ends and the hubs are.
 * Multicast (mDNS) stays on each site's bridge; a site's hosts reach the WAN through their
 * router's masquerade (nftables), and nothing on the WAN can open a connection into a site.
 *
 *   <id>-wan        bridge br0: the WAN, 198.51.100.0/24 (TEST-NET-2)
 *   <id>-s<s>       bridge br0: site s's LAN, 10.80.<s>.0/24
 *   <id>-r<s>       site s's router: 10.80.<s>.1 on the LAN, 198.51.100.<10+s> on the WAN,
 *                   forwarding, masquerade out of the WAN side, inbound only for replies
 *   <id>-s<s>h<i>   a host at site s: 10.80.<s>.<i+2>, default route via the router
 *   <id>-w<i>       a host on the WAN (a hub): 198.51.100.<100+i>
 *
 * Needs root, iproute2 and nftables (nft). Every namespace made is deleted by close().
 */
import { execFile } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { promisify } from 'node:util'
import { Namespaces, NetnsLan, NetnsUnavailableError, inNamespace, ip } from './netns.js'

const exec = promisify(execFile)

async function inNs(ns: string, command: string, args: string[], input?: string): Promise<void> {
  const [ipCommand, argv] = inNamespace(ns, command, args)
  await new Promise<void>((resolve, reject) => {
    const child = execFile(ipCommand, argv, { timeout: 10_000 }, (err) => (err === null ? resolve() : reject(err)))
    if (input !== undefined) child.stdin?.end(input)
  })
}

/** Where a host goes: at a site (0-based), or on the WAN. */
export type Place = { site: number } | 'wan'

/** The nftables ruleset of a site's router: masquerade out of the WAN side, nothing in but replies. */
function routerRules(wan: string): string {
  return `table ip nat {
  chain postrouting {
    type nat hook postrouting priority srcnat; policy accept;
    oifname "${wan}" masquerade
  }
}
table inet filter {
  chain forward {
    type filter hook forward priority filter; policy drop;
    ct state established,related accept
    iifname != "${wan}" accept
  }
}
`
}

export class NetnsSites extends Namespaces {
  readonly id: string
  readonly sites: number
  /** How many namespaces were made: part of each veth's outside name, which must be unique. */
  private count = 0

  private constructor(id: string, sites: number) {
    super()
    this.id = id
    this.sites = sites
  }

  /** Why this process may not build sites (no namespaces, no nft), or undefined when it may. */
  static async available(): Promise<string | undefined> {
    const missing = await NetnsLan.available()
    if (missing !== undefined) return missing
    try {
      await exec('nft', ['--version'], { timeout: 5_000 })
    } catch {
      return 'nftables (nft) is not installed'
    }
    return undefined
  }

  static async create(sites = 2): Promise<NetnsSites> {
    const missing = await NetnsSites.available()
    if (missing !== undefined) throw new NetnsUnavailableError(missing)
    if (!Number.isInteger(sites) || sites < 2 || sites > 8) throw new Error('2..8 sites')
    const net = new NetnsSites(`fs${randomBytes(3).toString('hex')}`, sites)
    try {
      await net.bridge(`${net.id}-wan`)
      for (let s = 0; s < sites; s++) await net.site(s)
    } catch (err) {
      await net.close()
      throw new NetnsUnavailableError((err as { stderr?: string }).stderr?.trim() ?? (err as Error).message)
    }
    return net
  }

  private async bridge(ns: string): Promise<void> {
    await this.addNamespace(ns)
    this.count++
    await ip('-n', ns, 'link', 'set', 'lo', 'up')
    await ip('-n', ns, 'link', 'add', 'br0', 'type', 'bridge', 'mcast_snooping', '0')
    await ip('-n', ns, 'link', 'set', 'br0', 'up')
  }

  /** A veth from namespace `ns` (named `inside` there) to the bridge in `bridgeNs`, up, with `cidr`. */
  private async plug(ns: string, inside: string, bridgeNs: string, cidr: string): Promise<void> {
    const outside = `${this.id}${this.count}${inside}`
    await ip('link', 'add', inside, 'netns', ns, 'type', 'veth', 'peer', 'name', outside, 'netns', bridgeNs)
    await ip('-n', ns, 'addr', 'add', cidr, 'dev', inside)
    await ip('-n', ns, 'link', 'set', inside, 'up')
    await ip('-n', bridgeNs, 'link', 'set', outside, 'master', 'br0')
    await ip('-n', bridgeNs, 'link', 'set', outside, 'up')
  }

  private async site(s: number): Promise<void> {
    await this.bridge(`${this.id}-s${s}`)
    const router = `${this.id}-r${s}`
    await this.addNamespace(router)
    this.count++
    await ip('-n', router, 'link', 'set', 'lo', 'up')
    await this.plug(router, 'lan0', `${this.id}-s${s}`, `10.80.${s}.1/24`)
    await this.plug(router, 'wan0', `${this.id}-wan`, `198.51.100.${10 + s}/24`)
    await inNs(router, 'sysctl', ['-q', '-w', 'net.ipv4.ip_forward=1'])
    await inNs(router, 'nft', ['-f', '-'], routerRules('wan0'))
  }

  /** The router's address on the WAN for site `s`: what the site's hosts look like from outside. */
  publicAddress(s: number): string {
    return `198.51.100.${10 + s}`
  }

  /** Cuts site `s` off the WAN (its router's WAN link down): the site keeps its LAN, nothing crosses. */
  async cutSite(s: number): Promise<void> {
    await ip('-n', `${this.id}-r${s}`, 'link', 'set', 'wan0', 'down')
  }

  /** Joins site `s` to the WAN again. */
  async healSite(s: number): Promise<void> {
    await ip('-n', `${this.id}-r${s}`, 'link', 'set', 'wan0', 'up')
  }

  /** A namespace for host `index` at `place`; returns its name and address. */
  async addHost(index: number, place: Place): Promise<{ ns: string; address: string }> {
    if (!Number.isInteger(index) || index < 0 || index > 250) throw new Error('hosts are numbered 0..250')
    const ns = place === 'wan' ? `${this.id}-w${index}` : `${this.id}-s${place.site}h${index}`
    const address = place === 'wan' ? `198.51.100.${100 + index}` : `10.80.${place.site}.${index + 2}`
    if (place !== 'wan' && (place.site < 0 || place.site >= this.sites)) throw new Error(`no site ${place.site}`)
    await this.addNamespace(ns)
    this.count++
    await ip('-n', ns, 'link', 'set', 'lo', 'up')
    await this.plug(ns, 'eth0', place === 'wan' ? `${this.id}-wan` : `${this.id}-s${place.site}`, `${address}/24`)
    await ip('-n', ns, 'route', 'add', '224.0.0.0/4', 'dev', 'eth0')
    if (place !== 'wan') await ip('-n', ns, 'route', 'add', 'default', 'via', `10.80.${place.site}.1`)
    return { ns, address }
  }
}
