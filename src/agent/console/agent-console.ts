/**
 * A running agent's console: its token (made on first start), the server, and the port written
 * to DIR/console.port while it listens, for `fleet console` to print the address.
 */
import { rename, rm, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import type { Clock } from '../../common/index.js'
import type { Agent } from '../agent.js'
import type { Logger } from '../ops/index.js'
import { ConsoleData } from './data.js'
import { startConsoleServer, type ConsoleServer } from './server.js'
import { consoleToken } from './token.js'
import { RP_ID } from './key-sign-in.js'
import { CONSOLE_PORT_FILE } from './address.js'

export async function startAgentConsole(
  agent: Agent,
  options: {
    /** Where the token and port files go: the state directory. */
    dir: string
    deviceId: string
    port: number
    /** The agent's state directory, when `dir` is another. */
    stateDir?: string
    clock?: Clock
    logger?: Logger
  }
): Promise<ConsoleServer> {
  const token = await consoleToken(options.dir)
  const server = await startConsoleServer({
    port: options.port,
    token,
    data: new ConsoleData(agent, options.deviceId, options.stateDir ?? options.dir),
    // The owner's enrolled actors with a security key for localhost, not revoked, as the agent knows them now.
    operators: () =>
      agent.membership.actors
        .list()
        .filter(
          (a) => a.kind === 'webauthn' && a.rpId === RP_ID && a.credentialId !== undefined && a.revoked === undefined
        )
        .map((a) => ({ actorId: a.actorId, role: a.role, credentialId: a.credentialId!, publicKey: a.publicKey })),
    clock: options.clock,
    logger: options.logger
  })
  const portFile = join(options.dir, CONSOLE_PORT_FILE)
  const temp = `${portFile}.${process.pid}.tmp`
  await writeFile(temp, `${server.port}\n`, { mode: 0o600 })
  await rename(temp, portFile)
  return {
    ...server,
    close: async () => {
      await rm(portFile, { force: true })
      await server.close()
    }
  }
}
