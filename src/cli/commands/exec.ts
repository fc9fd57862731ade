/**
 * fleet exec --state DIR | --gate FILE [--secret NAME[=ENV|:ENV]]… [--quorum K] [--grace S] -- CMD ARGS…
 *
 * --state: asks the agent's control socket (the agent's own user: every secret); --gate: its gate
 * socket (any user with a grant: the secrets granted to its uid; fleet gate allow).
 *
 * Runs CMD only on a device in good standing, as the running agent's gate judges it (its keys
 * released under an approved boot, the PCRs unchanged since, not revoked, not quarantined, and
 * with --quorum K at least K peers holding a fresh trusted verdict on it), with the secrets it
 * names. While CMD runs the gate is asked again every GATE_LIMITS.watchIntervalMs: when the
 * device loses its standing CMD gets SIGTERM, then SIGKILL after the grace period. Its start and
 * its stop (with the reason) are entries of the device's feed.
 *
 * Secrets reach CMD through its environment (NAME or NAME=ENV) or a 0600 file in a fresh 0700
 * directory on a memory-backed filesystem (NAME:ENV: ENV holds the file's path), removed when CMD
 * ends; never through its command line.
 */
import type { Command } from 'commander'
import { spawn } from 'node:child_process'
import { createHash } from 'node:crypto'
import { accessSync, constants, createReadStream, statSync } from 'node:fs'
import { lstat, mkdir, mkdtemp, readdir, realpath, rm, writeFile } from 'node:fs/promises'
import os from 'node:os'
import path from 'node:path'
import { GATE_LIMITS, checkQuorum, checkSecretName, controlRequest, gateRequest } from '../../agent/index.js'
import { FleetError, UsageError, processExists } from '../../common/index.js'

/** Where the secret files go: memory-backed filesystems, the first that exists. */
const MEMORY_DIRS = ['/dev/shm']

/** One request to the agent's gate, through the socket the command was given. */
type Ask = (request: Record<string, unknown>, timeoutMs?: number) => Promise<Record<string, unknown>>

interface SecretSpec {
  name: string
  env: string
  file: boolean
}

function parseSecret(text: string): SecretSpec {
  const match = /^([^=:]+)(?:([=:])([A-Za-z_][A-Za-z0-9_]{0,127}))?$/.exec(text)
  if (match === null) throw new UsageError(`--secret ${text}: give NAME, NAME=ENV or NAME:ENV`)
  const name = match[1]!
  checkSecretName(name)
  const env = match[3] ?? name.toUpperCase().replace(/[^A-Z0-9_]/g, '_')
  return { name, env: /^[0-9]/.test(env) ? `_${env}` : env, file: match[2] === ':' }
}

/** CMD as a file: a path, or looked up on PATH as a shell would. */
async function resolveCommand(command: string): Promise<string> {
  const candidates = command.includes('/')
    ? [path.resolve(command)]
    : (process.env.PATH ?? '')
        .split(':')
        .filter((dir) => dir !== '')
        .map((dir) => path.join(dir, command))
  for (const candidate of candidates) {
    try {
      accessSync(candidate, constants.X_OK)
      if (statSync(candidate).isFile()) return await realpath(candidate)
    } catch {}
  }
  throw new UsageError(`${command}: no such executable${command.includes('/') ? '' : ' on PATH'}`)
}

async function digestFile(file: string): Promise<string> {
  const hash = createHash('sha256')
  for await (const chunk of createReadStream(file)) hash.update(chunk as Buffer)
  return hash.digest('hex')
}

/**
 * A secret as an environment variable's value: text without NUL. Anything else is refused naming
 * the secret only (the error of a value that cannot be passed would quote the value): give it as a file.
 */
function environmentText(name: string, value: Uint8Array): string {
  let text: string
  try {
    text = new TextDecoder('utf-8', { fatal: true }).decode(value)
  } catch {
    text = '\0'
  }
  if (text.includes('\0'))
    throw new FleetError(
      `secret ${name} is not text without NUL bytes: it cannot go in an environment variable (give it as a file, ${name}:ENV)`,
      { code: 'ERR_SECRET_NOT_TEXT' }
    )
  return text
}

/** A secret-files folder in the user's own folder: PID-XXXXXX, PID this process's (what the sweep goes by). */
const FILES_DIR = /^(\d{1,10})-[A-Za-z0-9]{6}$/

/**
 * This user's folder for secret files on `base`: fleet-exec-UID, 0700, its own; made when
 * missing. Undefined when the name is taken by something else (another user's folder, a link):
 * then a folder of its own is made in `base` directly, and nothing is swept.
 */
async function userFolder(base: string): Promise<string | undefined> {
  const self = process.geteuid?.()
  const folder = path.join(base, `fleet-exec-${self}`)
  try {
    await mkdir(folder, { mode: 0o700 })
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EEXIST') return undefined
  }
  const stats = await lstat(folder)
  return stats.isDirectory() && stats.uid === self && (stats.mode & 0o077) === 0 ? folder : undefined
}

/**
 * Removes the secret-files folders a killed fleet exec of this user left (SIGKILL, OOM: it had no
 * chance to) in the user's own folder, where no other user can add names: those whose process is
 * gone. Looks at GATE_LIMITS.maxSweptEntries names at most.
 */
async function sweepLeftFiles(folder: string): Promise<void> {
  let names: string[]
  try {
    names = (await readdir(folder)).filter((name) => FILES_DIR.test(name)).slice(0, GATE_LIMITS.maxSweptEntries)
  } catch {
    return
  }
  for (const name of names)
    if (!processExists(Number(FILES_DIR.exec(name)![1])))
      await rm(path.join(folder, name), { recursive: true, force: true }).catch(() => undefined)
}

async function memoryDir(): Promise<string> {
  for (const base of MEMORY_DIRS) {
    try {
      if (!statSync(base).isDirectory()) continue
    } catch {
      continue
    }
    const own = await userFolder(base)
    if (own !== undefined) {
      await sweepLeftFiles(own)
      return await mkdtemp(path.join(own, `${process.pid}-`))
    }
    return await mkdtemp(path.join(base, `fleet-exec-${process.pid}-`))
  }
  throw new FleetError(`no memory-backed filesystem for secret files (looked for ${MEMORY_DIRS.join(', ')})`, {
    code: 'ERR_NO_MEMORY_FS'
  })
}

interface ExecOptions {
  state?: string
  gate?: string
  secret?: string[]
  quorum?: string
  grace?: string
}

export function registerExecCommand(program: Command): void {
  program
    .command('exec')
    .description('run a command only on a device in good standing, with its sealed secrets; stop it when that is lost')
    .option('--state <dir>', "device state directory (its agent must be running): the agent's own user")
    .option('--gate <file>', "the agent's gate socket: a user granted it (fleet gate allow)")
    .option(
      '--secret <spec...>',
      'a sealed secret for the command: NAME (env NAME), NAME=ENV, or NAME:ENV (a file; ENV holds its path)'
    )
    .option('--quorum <k>', 'at least K peers must hold a fresh trusted verdict on this device', '0')
    .option(
      '--grace <seconds>',
      'SIGTERM to SIGKILL when the device loses its standing',
      String(GATE_LIMITS.defaultGraceMs / 1000)
    )
    .argument('<command...>', 'the command and its arguments, after --')
    .addHelpText(
      'after',
      `
Example (as the workload's own user, granted its secrets with fleet gate allow):
  fleet exec --gate /run/fleet-agent/gate.sock --secret db-password=PGPASSWORD --secret model-key:MODEL_KEY_FILE \\
      --quorum 2 -- /usr/bin/model-server --port 8080
--state DIR asks the agent's control socket instead (the agent's own user only: every secret).
Before the command starts the agent checks: keys released under a boot the owner approved, PCRs
unchanged since, not revoked, not quarantined, and the quorum; then it unseals the secrets. While it
runs the same is checked every ${GATE_LIMITS.watchIntervalMs} ms (PCRs re-read every ${GATE_LIMITS.pcrRecheckMs} ms): when it fails the command gets
SIGTERM, and SIGKILL after --grace. Start and stop are recorded in the device's feed.
Exit codes: the command's own (128+N when it died of signal N); 1 refused (every reason named) or
stopped because the device lost its standing; 2 bad usage.`
    )
    .action(async (command: string[], options: ExecOptions) => {
      if ((options.state === undefined) === (options.gate === undefined))
        throw new UsageError('give one of --state DIR (the control socket) and --gate FILE (the gate socket)')
      const ask: Ask = (request, timeoutMs) =>
        options.gate !== undefined
          ? gateRequest(options.gate, request, timeoutMs)
          : controlRequest(options.state!, request, timeoutMs)
      const specs = (options.secret ?? []).map(parseSecret)
      if (specs.length > GATE_LIMITS.maxSecretsPerWorkload)
        throw new UsageError(`at most ${GATE_LIMITS.maxSecretsPerWorkload} --secret`)
      if (!/^\d{1,2}$/.test(options.quorum ?? '0')) throw new UsageError('--quorum must be a whole number of peers')
      const quorum = Number(options.quorum ?? '0')
      checkQuorum(quorum)
      const grace = Number(options.grace)
      if (!Number.isFinite(grace) || grace * 1000 < 1 || grace * 1000 > GATE_LIMITS.maxGraceMs)
        throw new UsageError(`--grace must be 0.001 to ${GATE_LIMITS.maxGraceMs / 1000} seconds`)
      const exe = await resolveCommand(command[0]!)
      const exeDigest = await digestFile(exe)
      const workload = { exe, exeDigest }
      const admitted = await ask({
        cmd: 'gate.admit',
        ...workload,
        secrets: specs.map((s) => s.name),
        quorum
      })
      const values = admitted.secrets as Record<string, string>
      const env: Record<string, string> = { ...process.env } as Record<string, string>
      let filesDir: string | undefined
      const written = new Set<string>()
      try {
        try {
          for (const spec of specs) {
            const value = Buffer.from(values[spec.name] ?? '', 'base64')
            try {
              if (spec.file) {
                filesDir ??= await memoryDir()
                const file = path.join(filesDir, spec.name)
                // A secret named twice as a file is written once (the folder is new: nothing else is there).
                if (!written.has(file)) await writeFile(file, value, { mode: 0o600, flag: 'wx' })
                written.add(file)
                env[spec.env] = file
              } else env[spec.env] = environmentText(spec.name, value)
            } finally {
              value.fill(0)
            }
          }
        } catch (err) {
          // Admitted (its start is recorded) but never started: the record says so.
          await ask({
            cmd: 'gate.stop',
            ...workload,
            reason: `could not start: ${(err as Error).message}`.slice(0, 512)
          }).catch(() => undefined)
          throw err
        }
        const status = await runGated(command, exe, env, {
          ask,
          quorum,
          graceMs: grace * 1000,
          workload
        })
        process.exitCode = status
      } finally {
        if (filesDir !== undefined) await rm(filesDir, { recursive: true, force: true })
      }
    })
}

/**
 * Runs the admitted command and watches the device's standing until it ends; records its stop.
 * Resolves with the exit code this process ends with.
 */
async function runGated(
  command: string[],
  exe: string,
  env: Record<string, string>,
  watch: { ask: Ask; quorum: number; graceMs: number; workload: { exe: string; exeDigest: string } }
): Promise<number> {
  // Its own process group: a stop reaches what CMD started too (a wrapper script's children).
  const child = spawn(exe, command.slice(1), { env, stdio: 'inherit', argv0: command[0], detached: true })
  const signalGroup = (signal: NodeJS.Signals): void => {
    try {
      if (child.pid !== undefined) process.kill(-child.pid, signal)
    } catch {
      child.kill(signal)
    }
  }
  let lost: string | undefined
  let killTimer: NodeJS.Timeout | undefined
  let killed = false
  const stop = (reason: string): void => {
    if (lost !== undefined) return
    lost = reason
    process.stderr.write(`fleet exec: stopping ${command[0]}: ${reason}\n`)
    signalGroup('SIGTERM')
    killTimer = setTimeout(() => {
      killed = true
      signalGroup('SIGKILL')
    }, watch.graceMs)
  }
  // Signals to this process go on to the command (a systemd stop, Ctrl-C).
  const forward = (signal: NodeJS.Signals): void => {
    signalGroup(signal)
  }
  for (const signal of ['SIGTERM', 'SIGINT', 'SIGHUP'] as const) process.on(signal, forward)
  let watching = true
  const watcher = (async () => {
    // Since when the checks fail for a reason that may pass (the socket busy, a connection reset).
    let failingSince: number | undefined
    while (watching) {
      await new Promise((resolve) => setTimeout(resolve, GATE_LIMITS.watchIntervalMs))
      if (!watching) return
      try {
        const { reasons } = (await watch.ask(
          { cmd: 'gate.check', quorum: watch.quorum },
          GATE_LIMITS.watchAnswerMs
        )) as {
          reasons: string[]
        }
        failingSince = undefined
        if (reasons.length > 0) stop(reasons.join('; '))
      } catch (err) {
        // An agent that no longer answers cannot vouch for the device: fail closed. Gone or silent
        // for the whole wait, at once; other failures once they lasted as long.
        const code = (err as { code?: unknown }).code
        failingSince ??= Date.now()
        if (
          code === 'ERR_NO_AGENT' ||
          code === 'ERR_CONTROL_TIMEOUT' ||
          Date.now() - failingSince >= GATE_LIMITS.watchAnswerMs
        )
          stop(`the agent does not answer (${(err as Error).message})`)
      }
    }
  })()
  let failed: string | undefined
  const [code, signal] = await new Promise<[number | null, NodeJS.Signals | null]>((resolve) => {
    child.once('exit', (c, s) => resolve([c, s]))
    // A program that cannot be started (removed or made unreadable since it was measured).
    child.once('error', (err) => {
      failed = err.message
      resolve([null, null])
    })
  })
  watching = false
  if (lost !== undefined) {
    // Stopped for lost standing: whatever CMD started and left behind in its group has the rest
    // of the grace, then SIGKILL.
    const groupAlive = (): boolean => {
      try {
        process.kill(-child.pid!, 0)
        return true
      } catch {
        return false
      }
    }
    while (child.pid !== undefined && groupAlive() && !killed) await new Promise((resolve) => setTimeout(resolve, 50))
    if (child.pid !== undefined && groupAlive()) signalGroup('SIGKILL')
  }
  clearTimeout(killTimer)
  for (const s of ['SIGTERM', 'SIGINT', 'SIGHUP'] as const) process.off(s, forward)
  await watcher
  const reason =
    failed !== undefined ? `could not start: ${failed}` : lost === undefined ? 'exited' : `standing lost: ${lost}`
  await watch
    .ask({
      cmd: 'gate.stop',
      ...watch.workload,
      reason,
      ...(code === null ? {} : { exitCode: code }),
      ...(signal === null ? {} : { signal })
    })
    .catch((err: unknown) => {
      process.stderr.write(`fleet exec: the stop could not be recorded: ${(err as Error).message}\n`)
    })
  if (failed !== undefined) {
    process.stderr.write(`fleet exec: ${command[0]} could not start: ${failed}\n`)
    return 1
  }
  if (lost !== undefined) return 1
  return code ?? 128 + (os.constants.signals[signal!] ?? 0)
}
