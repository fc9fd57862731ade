/**
 * fleet workload allow --state OWNERDIR --service ID --uid USER (--exe PATH | --exe-digest HEX)
 *     [--script PATH | --script-digest HEX] --description TEXT [statement options]
 * fleet workload revoke --state OWNERDIR --service ID (--exe PATH | --exe-digest HEX) --reason TEXT [statement options]
 * fleet workload list --state DIR [--json]
 *
 * The programs a local service may act through: the owner names each by the uid it runs as and
 * the SHA-256 of its executable (and, for an interpreter, of its script). The agents accept a
 * `service` entry only from a caller whose measurement matches.
 */
import type { Command } from 'commander'
import { createHash } from 'node:crypto'
import { readFile, realpath } from 'node:fs/promises'
import { feedIdentityOf, storedActors } from '../../agent/index.js'
import { FleetError, UsageError, fromHex, toHex } from '../../common/index.js'
import type { Entry } from '../../ledger/index.js'
import { makeOutput } from '../output.js'
import { readInputFile } from '../options.js'
import { notReached, publishOwnerStatement, statementOptions, type StatementOptions } from '../owner-statement.js'
import { openStore } from '../ledger-store.js'

/** The largest program or script measured here (the agent measures callers up to the same size). */
const MAX_PROGRAM_BYTES = 512 * 1024 * 1024
const SERVICE_ID = /^[A-Za-z0-9][A-Za-z0-9._@+/-]{0,127}$/

interface ProgramOptions {
  service: string
  exe?: string
  exeDigest?: string
}

function digestOption(text: string, flag: string): Uint8Array {
  if (!/^[0-9a-f]{64}$/.test(text)) throw new UsageError(`${flag} must be a SHA-256 digest (64 hex digits)`)
  return fromHex(text)
}

/** SHA-256 of a file, as the agent measures a caller's executable. */
async function fileDigest(file: string, flag: string): Promise<Uint8Array> {
  const bytes = await readInputFile(file, flag.slice(2), MAX_PROGRAM_BYTES)
  return new Uint8Array(createHash('sha256').update(bytes).digest())
}

async function programDigest(options: ProgramOptions): Promise<Uint8Array> {
  if (!SERVICE_ID.test(options.service)) throw new UsageError('--service must be an actor id (letters, digits, ._@+/-)')
  if ((options.exe === undefined) === (options.exeDigest === undefined))
    throw new UsageError('give exactly one of --exe and --exe-digest')
  return options.exe !== undefined
    ? await fileDigest(options.exe, '--exe')
    : digestOption(options.exeDigest!, '--exe-digest')
}

/** A uid, given as a number or as a user name of this machine's /etc/passwd. */
async function parseUid(text: string): Promise<number> {
  if (/^(0|[1-9]\d{0,9})$/.test(text) && Number(text) <= 4_294_967_295) return Number(text)
  let passwd: string
  try {
    passwd = await readFile('/etc/passwd', 'utf8')
  } catch {
    throw new UsageError(`--uid ${text}: not a number, and /etc/passwd cannot be read to look it up`)
  }
  for (const line of passwd.split('\n')) {
    const [name, , uid] = line.split(':')
    if (name === text && uid !== undefined && /^\d+$/.test(uid)) return Number(uid)
  }
  throw new UsageError(`--uid ${text}: no such user here; give the number`)
}

const sameBytes = (a: unknown, b: Uint8Array): boolean => a instanceof Uint8Array && toHex(a) === toHex(b)

export function registerWorkloadCommands(program: Command): void {
  const workload = program
    .command('workload')
    .description('the programs local services may act through (uid and executable digest), as the owner allows them')

  statementOptions(
    workload
      .command('allow')
      .description(
        "allow a program to act as a service: an owner-signed workload.allow in the owner's feed, handed to the agents found"
      )
      .requiredOption('--state <dir>', 'owner state directory')
      .requiredOption('--service <id>', 'the actor id its entries name (e.g. triage-service)')
      .requiredOption('--uid <user>', 'the uid (or user name) the service runs as')
      .option('--exe <path>', 'the executable, measured here (SHA-256)')
      .option('--exe-digest <hex>', "the executable's SHA-256, when it is not on this machine")
      .option('--any-path', 'with --exe: allow the program from wherever it runs (default: only from that path)')
      .option('--script <path>', 'for an interpreter: the script it runs, measured here')
      .option('--script-digest <hex>', "the script's SHA-256")
      .requiredOption('--description <text>', 'what it is, in words (recorded in the ledger)')
  )
    .addHelpText(
      'after',
      `
Example:
  fleet workload allow --state /var/lib/fleet-owner --service triage-service --uid triage \\
      --exe /opt/triage/bin/triage --description 'triage model server 3.2'
The agents then accept entries in the service role by triage-service only from a process running as
that uid from a file with exactly that digest: a copied binary run by another user, or a modified one,
is refused with its digest named.`
    )
    .action(
      async (
        options: StatementOptions &
          ProgramOptions & {
            uid: string
            anyPath?: boolean
            script?: string
            scriptDigest?: string
            description: string
          }
      ) => {
        const exeDigest = await programDigest(options)
        const uid = await parseUid(options.uid)
        if (options.script !== undefined && options.scriptDigest !== undefined)
          throw new UsageError('give --script or --script-digest, not both')
        const scriptDigest =
          options.script !== undefined
            ? await fileDigest(options.script, '--script')
            : options.scriptDigest !== undefined
              ? digestOption(options.scriptDigest, '--script-digest')
              : undefined
        if (options.description.length === 0 || options.description.length > 256)
          throw new UsageError('--description must be 1..256 characters')
        const body: Record<string, unknown> = {
          service: options.service,
          uid,
          exeDigest,
          description: options.description
        }
        // Measured here, the program's path is part of what is allowed: a copy elsewhere is refused.
        if (options.exe !== undefined && options.anyPath !== true) body.exe = await realpath(options.exe)
        if (scriptDigest !== undefined) body.scriptDigest = scriptDigest
        const reached = await publishOwnerStatement(options, (entries, actor) =>
          allowedNow(entries, options.service, exeDigest, uid, scriptDigest)
            ? undefined
            : { type: 'workload.allow', actor, attest: null, body }
        )
        makeOutput(options.json === true).result(
          { service: options.service, uid, exeDigest: toHex(exeDigest), reached },
          `${options.service} may act through the program with sha256 ${toHex(exeDigest)} run as uid ${uid}; ` +
            `handed to ${reached.length} agent(s)${reached.length === 0 ? notReached : ''}`
        )
      }
    )

  statementOptions(
    workload
      .command('revoke')
      .description("stop a program acting as a service: an owner-signed workload.revoke in the owner's feed")
      .requiredOption('--state <dir>', 'owner state directory')
      .requiredOption('--service <id>', 'the service')
      .option('--exe <path>', 'the executable, measured here')
      .option('--exe-digest <hex>', "the executable's SHA-256")
      .requiredOption('--reason <text>', 'why (recorded in the ledger)')
  )
    .addHelpText(
      'after',
      `
Example:
  fleet workload revoke --state ~/.fleet-owner --service triage-service --exe /opt/triage/bin/triage --reason 'replaced by 3.3'`
    )
    .action(async (options: StatementOptions & ProgramOptions & { reason: string }) => {
      const exeDigest = await programDigest(options)
      if (options.reason.length === 0 || options.reason.length > 256)
        throw new UsageError('--reason must be 1..256 characters')
      let allowed = true
      const reached = await publishOwnerStatement(options, (entries, actor) => {
        allowed = allowedNow(entries, options.service, exeDigest)
        return allowed
          ? {
              type: 'workload.revoke',
              actor,
              attest: null,
              body: { service: options.service, exeDigest, reason: options.reason }
            }
          : undefined
      })
      if (!allowed)
        throw new FleetError(`${options.service} is not allowed the program with sha256 ${toHex(exeDigest)}`, {
          code: 'ERR_WORKLOAD_NOT_ALLOWED'
        })
      makeOutput(options.json === true).result(
        { service: options.service, exeDigest: toHex(exeDigest), revoked: true, reached },
        `${options.service} may no longer act through sha256 ${toHex(exeDigest)}; handed to ${reached.length} agent(s)` +
          (reached.length === 0 ? notReached : '')
      )
    })

  workload
    .command('list')
    .description("the programs services may act through, as the owner's feed held here says")
    .requiredOption('--state <dir>', 'device or owner state directory')
    .option('--json', 'print the list as JSON')
    .addHelpText(
      'after',
      `
Example:
  fleet workload list --state /var/lib/fleet-agent`
    )
    .action(async (options: { state: string; json?: boolean }) => {
      const identity = await feedIdentityOf(options.state)
      const store = await openStore(options.state)
      try {
        const allowances = (await storedActors(store, identity)).workloads.list().map((a) => ({
          service: a.service,
          uid: a.uid,
          exeDigest: toHex(a.exeDigest),
          scriptDigest: a.scriptDigest === undefined ? undefined : toHex(a.scriptDigest),
          exe: a.exe,
          description: a.description,
          allowedAt: new Date(a.allowedAt).toISOString(),
          revoked:
            a.revoked === undefined ? undefined : { reason: a.revoked.reason, at: new Date(a.revoked.at).toISOString() }
        }))
        const lines = allowances.map(
          (a) =>
            `${a.service}  uid ${a.uid}  sha256 ${a.exeDigest}${a.scriptDigest === undefined ? '' : `  script ${a.scriptDigest}`}` +
            `  ${a.revoked === undefined ? 'allowed' : `revoked ${a.revoked.at} (${a.revoked.reason})`}  ${a.description}`
        )
        makeOutput(options.json === true).result(
          { workloads: allowances },
          lines.length === 0 ? 'no programs allowed' : lines.join('\n')
        )
      } finally {
        await store.close()
      }
    })
}

/** Whether the owner's feed allows `service` this program now (for uid and script, when given). */
function allowedNow(
  entries: readonly Entry[],
  service: string,
  exeDigest: Uint8Array,
  uid?: number,
  scriptDigest?: Uint8Array
): boolean {
  let allowed = false
  for (const entry of entries) {
    if (entry.body.service !== service || !sameBytes(entry.body.exeDigest, exeDigest)) continue
    if (entry.type === 'workload.revoke') allowed = false
    else if (
      entry.type === 'workload.allow' &&
      (uid === undefined || entry.body.uid === uid) &&
      (scriptDigest === undefined
        ? uid === undefined || entry.body.scriptDigest === undefined
        : sameBytes(entry.body.scriptDigest, scriptDigest))
    )
      allowed = true
  }
  return allowed
}
