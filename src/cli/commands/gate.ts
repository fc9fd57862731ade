/**
 * fleet gate allow --state DIR --user USER [--secret NAME]… [--json]
 * fleet gate deny --state DIR --user USER [--secret NAME]… [--json]
 * fleet gate list --state DIR [--json]
 *
 * Who may ask the agent's gate socket (a workload that runs as its own user: `fleet exec --gate
 * FILE`), and for which secrets: a grant per local user, in DIR/gate-grants.json. The agent reads
 * it at each request; a change holds from the next. Written by the state directory's owner only
 * (the agent must be able to read it, and nobody else to write it).
 */
import type { Command } from 'commander'
import { execFileSync } from 'node:child_process'
import { existsSync } from 'node:fs'
import { stat } from 'node:fs/promises'
import {
  SecretUnknownError,
  allowGrant,
  checkSecretName,
  denyGrant,
  readGrants,
  secretFile
} from '../../agent/index.js'
import { FleetError, UsageError } from '../../common/index.js'
import { makeOutput } from '../output.js'

/** A user given by name or number, as a uid (the name looked up through the system's user database). */
function uidOf(user: string): number {
  if (/^\d{1,10}$/.test(user)) {
    const uid = Number(user)
    if (uid > 4_294_967_294) throw new UsageError(`--user ${user}: not a uid`)
    return uid
  }
  if (!/^[a-z_][a-z0-9_.-]{0,31}\$?$/i.test(user)) throw new UsageError(`--user ${user.slice(0, 40)}: not a user name`)
  const entry = getent(user)
  if (entry === undefined) throw new UsageError(`--user ${user}: no such user`)
  return entry.uid
}

/** The system's user database entry of a name or uid (NSS, as `getent passwd` sees it). */
function getent(key: string): { name: string; uid: number } | undefined {
  try {
    const line = execFileSync('getent', ['passwd', key], { encoding: 'utf8', timeout: 5_000 }).split('\n')[0]!
    const [name, , uid] = line.split(':')
    return name === undefined || !/^\d+$/.test(uid ?? '') ? undefined : { name, uid: Number(uid) }
  } catch {
    return undefined
  }
}

/** Refuses to write the grants as another user than the state directory's owner (the agent could not read them). */
async function checkOwner(dir: string): Promise<void> {
  const owner = (await stat(dir)).uid
  const self = process.geteuid?.() ?? owner
  if (owner !== self)
    throw new FleetError(
      `${dir} belongs to uid ${owner}: change its grants as that user (runuser -u ${getent(String(owner))?.name ?? owner} -- fleet gate …)`,
      { code: 'ERR_NOT_STATE_OWNER' }
    )
}

interface GrantOptions {
  state: string
  user: string
  secret?: string[]
  json?: boolean
}

function describeGrant(uid: number, secrets: readonly string[] | undefined): string {
  const name = getent(String(uid))?.name
  const who = `uid ${uid}${name === undefined ? '' : ` (${name})`}`
  if (secrets === undefined) return `${who}: no grant (the gate socket refuses it)`
  return `${who}: the gate socket${secrets.length === 0 ? ', no secret' : `, secrets ${secrets.join(', ')}`}`
}

export function registerGateCommands(program: Command): void {
  const gate = program
    .command('gate')
    .description('which local users may ask the gate socket (fleet exec --gate), and for which secrets')

  gate
    .command('allow')
    .description('grant a user the gate socket, and secrets (added to what it holds)')
    .requiredOption('--state <dir>', 'device state directory')
    .requiredOption('--user <user>', 'the user the workload runs as: a name or a uid')
    .option('--secret <name...>', 'a sealed secret the user may have released to its workloads')
    .option('--json', 'print the result as JSON')
    .addHelpText(
      'after',
      `
Example:
  runuser -u fleet -- fleet gate allow --state /var/lib/fleet-agent --user model --secret model-key db-password
The user may then run: fleet exec --gate /run/fleet-agent/gate.sock --secret model-key:MODEL_KEY_FILE -- …
(the agent serves the gate socket when its config names it: "gateSocket"). Run as the state
directory's owner. Exit codes: 0 granted, 1 refused (no such secret, not the owner), 2 bad usage.`
    )
    .action(async (options: GrantOptions) => {
      const uid = uidOf(options.user)
      const names = options.secret ?? []
      for (const name of names) {
        checkSecretName(name)
        if (!existsSync(secretFile(options.state, name))) throw new SecretUnknownError(name)
      }
      await checkOwner(options.state)
      const held = await allowGrant(options.state, uid, names)
      makeOutput(options.json === true).result({ uid, secrets: held }, describeGrant(uid, held))
    })

  gate
    .command('deny')
    .description("withdraw secrets from a user's grant, or (none named) the whole grant")
    .requiredOption('--state <dir>', 'device state directory')
    .requiredOption('--user <user>', 'a name or a uid')
    .option('--secret <name...>', 'the secrets to withdraw (all of the grant when none is named)')
    .option('--json', 'print the result as JSON')
    .addHelpText(
      'after',
      `
Example:
  runuser -u fleet -- fleet gate deny --state /var/lib/fleet-agent --user model --secret db-password
A workload running already keeps what was released to it; the next start is refused what is withdrawn.`
    )
    .action(async (options: GrantOptions) => {
      const uid = uidOf(options.user)
      await checkOwner(options.state)
      const held = await denyGrant(options.state, uid, options.secret ?? [])
      makeOutput(options.json === true).result({ uid, secrets: held ?? null }, describeGrant(uid, held))
    })

  gate
    .command('list')
    .description('the grants: users and their secrets')
    .requiredOption('--state <dir>', 'device state directory')
    .option('--json', 'print the result as JSON')
    .addHelpText('after', '\nExample:\n  fleet gate list --state /var/lib/fleet-agent')
    .action(async (options: { state: string; json?: boolean }) => {
      const grants = [...(await readGrants(options.state))].map(([uid, secrets]) => ({
        uid,
        secrets: [...secrets].sort()
      }))
      makeOutput(options.json === true).result(
        grants,
        grants.length === 0
          ? 'no grants: the gate socket refuses everyone'
          : grants.map((g) => describeGrant(g.uid, g.secrets)).join('\n')
      )
    })
}
