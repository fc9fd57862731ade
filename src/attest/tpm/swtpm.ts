import { execFile } from 'node:child_process'
import { existsSync, readFileSync } from 'node:fs'
import { readFile, rm, writeFile } from 'node:fs/promises'
import path from 'node:path'
import { promisify } from 'node:util'
import { AbortedError, makeDirectory, systemClock, type Clock } from '../../common/index.js'
import { SwtpmError } from './errors.js'

const run = promisify(execFile)

export interface SwtpmInit {
  /** Folder for this device: its TPM state, sockets, pid file and log. */
  dir: string
  /**
   * Folder of the local certificate authority that signs EK certificates. Devices sharing one
   * folder share one CA, as TPMs of one vendor do. Default: `dir/ca`.
   */
  caDir?: string
  /** Times the waits for swtpm's sockets and exit. Default: the system clock. */
  clock?: Clock
}

export interface SwtpmCallOptions {
  signal?: AbortSignal
}

/**
 * A software TPM (swtpm) on a unix socket, for simnet, tests and trying the product without
 * hardware. `swtpm_setup` provisions it once (RSA and ECC EKs persisted at 0x81010001 and
 * 0x81010016, their certificates in NV, signed by a private local CA — never the system one);
 * then `swtpm socket` runs as a daemon with a pid file, so `stop` works from another process.
 */
export class SwtpmDevice {
  readonly dir: string
  readonly caDir: string
  readonly stateDir: string
  readonly socketPath: string
  readonly controlPath: string
  readonly pidFile: string
  readonly logFile: string
  private readonly clock: Clock

  constructor(init: SwtpmInit) {
    this.clock = init.clock ?? systemClock
    this.dir = path.resolve(init.dir)
    this.caDir = path.resolve(init.caDir ?? path.join(this.dir, 'ca'))
    this.stateDir = path.join(this.dir, 'state')
    this.socketPath = path.join(this.dir, 'tpm.sock')
    this.controlPath = path.join(this.dir, 'tpm.sock.ctrl')
    this.pidFile = path.join(this.dir, 'swtpm.pid')
    this.logFile = path.join(this.dir, 'swtpm.log')
  }

  /** The TCTI string for this device. */
  get tcti(): string {
    return `swtpm:path=${this.socketPath}`
  }

  get provisioned(): boolean {
    return existsSync(path.join(this.stateDir, 'tpm2-00.permall'))
  }

  /** Provisions (once) and starts the device. Idempotent: a running device is left running. */
  async start(options: SwtpmCallOptions = {}): Promise<void> {
    if ((await this.pid()) !== undefined) return
    if (!this.provisioned) await this.setup(options)
    checkAborted(options.signal)
    await rm(this.socketPath, { force: true })
    await rm(this.controlPath, { force: true })
    await this.exec(
      'swtpm',
      [
        'socket',
        '--tpm2',
        '--tpmstate',
        `dir=${this.stateDir}`,
        '--server',
        `type=unixio,path=${this.socketPath}`,
        '--ctrl',
        `type=unixio,path=${this.controlPath}`,
        '--flags',
        'not-need-init,startup-clear',
        '--pid',
        `file=${this.pidFile}`,
        '--log',
        `file=${this.logFile},level=1`,
        '--daemon'
      ],
      options
    )
    const deadline = this.clock.now() + 5_000
    while (!(existsSync(this.socketPath) && existsSync(this.controlPath))) {
      if (this.clock.now() > deadline)
        throw new SwtpmError(this.dir, 'swtpm started but its sockets did not appear within 5 s')
      checkAborted(options.signal)
      await sleep(10)
    }
  }

  /** Stops the device and waits until its process is gone. Idempotent. */
  async stop(options: SwtpmCallOptions = {}): Promise<void> {
    const pid = await this.pid()
    if (pid !== undefined) {
      // The control channel's shutdown is immediate; swtpm is slow to act on SIGTERM (~2 s).
      await run('swtpm_ioctl', ['-s', '--unix', this.controlPath], { timeout: 5_000 }).catch(() => {
        if (isAlive(pid)) process.kill(pid, 'SIGTERM')
      })
      const deadline = this.clock.now() + 3_000
      while (isAlive(pid)) {
        if (this.clock.now() > deadline) {
          process.kill(pid, 'SIGKILL')
          break
        }
        checkAborted(options.signal)
        await sleep(10)
      }
    }
    await rm(this.pidFile, { force: true })
    await rm(this.socketPath, { force: true })
    await rm(this.controlPath, { force: true })
  }

  /**
   * Power-cycles the device: PCRs return to their reset values and resetCount advances, as on a
   * real reboot. Callers must reopen their TPM contexts afterwards.
   */
  async reboot(options: SwtpmCallOptions = {}): Promise<void> {
    // An orderly TPM2_Shutdown first, as an operating system does: without it the TPM counts the
    // restart as a possible attack (dictionary-attack counter) and marks its clock unsafe.
    if ((await this.pid()) !== undefined) {
      await run('tpm2_shutdown', ['-c'], { timeout: 10_000, env: { ...process.env, TPM2TOOLS_TCTI: this.tcti } }).catch(
        () => undefined
      )
    }
    await this.stop(options)
    await this.start(options)
  }

  /** The pid of the running swtpm of this device, or undefined. Stale pid files are ignored. */
  async pid(): Promise<number | undefined> {
    let text: string
    try {
      text = await readFile(this.pidFile, 'utf8')
    } catch {
      return undefined
    }
    const pid = Number.parseInt(text.trim(), 10)
    if (!Number.isSafeInteger(pid) || pid <= 1 || !isAlive(pid)) return undefined
    // A recycled pid must belong to a swtpm, or we would signal a stranger.
    try {
      const cmdline = await readFile(`/proc/${pid}/cmdline`, 'latin1')
      if (!cmdline.includes('swtpm') || !cmdline.includes(this.socketPath)) return undefined
    } catch {
      return undefined
    }
    return pid
  }

  private async setup(options: SwtpmCallOptions): Promise<void> {
    await makeDirectory(this.stateDir, { mode: 0o755 })
    await makeDirectory(this.caDir, { mode: 0o755 })
    const localca = path.join(this.caDir, 'swtpm-localca.conf')
    const localcaOptions = path.join(this.caDir, 'swtpm-localca.options')
    const setupConf = path.join(this.caDir, 'swtpm_setup.conf')
    if (!existsSync(localca)) {
      await writeFile(
        localca,
        [
          `statedir = ${this.caDir}`,
          `signingkey = ${path.join(this.caDir, 'signkey.pem')}`,
          `issuercert = ${path.join(this.caDir, 'issuercert.pem')}`,
          `certserial = ${path.join(this.caDir, 'certserial')}`,
          ''
        ].join('\n')
      )
      await writeFile(localcaOptions, '')
      await writeFile(
        setupConf,
        [
          'create_certs_tool = /usr/bin/swtpm_localca',
          `create_certs_tool_config = ${localca}`,
          `create_certs_tool_options = ${localcaOptions}`,
          'active_pcr_banks = sha256',
          ''
        ].join('\n')
      )
    }
    await this.exec(
      'swtpm_setup',
      [
        '--tpm2',
        '--tpmstate',
        this.stateDir,
        '--config',
        setupConf,
        '--create-ek-cert',
        '--pcr-banks',
        'sha256',
        '--overwrite'
      ],
      options
    )
  }

  private async exec(file: string, args: string[], options: SwtpmCallOptions): Promise<void> {
    checkAborted(options.signal)
    try {
      await run(file, args, {
        timeout: 30_000,
        signal: options.signal,
        env: { ...process.env, XDG_CONFIG_HOME: this.caDir }
      })
    } catch (err) {
      const e = err as NodeJS.ErrnoException & { stderr?: string; stdout?: string }
      if (e.code === 'ENOENT')
        throw new SwtpmError(this.dir, `${file} is not installed (apt-get install swtpm swtpm-tools)`)
      if (e.name === 'AbortError') throw new AbortedError()
      const detail = `${e.stderr ?? ''}${e.stdout ?? ''}`
        .trim()
        .split('\n')
        .filter((l) => /error|fail|cannot|could not/i.test(l))
        .slice(0, 3)
        .join('; ')
      throw new SwtpmError(this.dir, `${file} failed: ${detail === '' ? e.message : detail}`)
    }
  }

  /** The CA certificates that anchor this device's EK certificate (root and intermediate). */
  get caCertificateFiles(): string[] {
    return [path.join(this.caDir, 'swtpm-localca-rootca-cert.pem'), path.join(this.caDir, 'issuercert.pem')]
  }
}

/** A zombie has exited (only its parent has not reaped it yet, slow for daemons under some inits). */
function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0)
  } catch {
    return false
  }
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'latin1')
    return stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3) !== 'Z'
  } catch {
    return false
  }
}

function checkAborted(signal: AbortSignal | undefined): void {
  if (signal?.aborted === true) throw new AbortedError()
}

async function sleep(ms: number): Promise<void> {
  await new Promise((resolve) => setTimeout(resolve, ms))
}
