/**
 * Throwaway swtpm instances driven with tpm2-tools, for cross-checking the pure TPM 2.0 code
 * against real TPM behaviour. One provisioned state (swtpm_setup with a private swtpm_localca:
 * RSA EK at 0x81010001 with its certificate in NV 0x01c00002, CA files beside it) is made once per
 * run; each suite starts its own swtpm on a copy of it and stops it afterwards.
 */
import { execFileSync, spawnSync } from 'node:child_process'
import { cpSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import os from 'node:os'
import path from 'node:path'

const TOOLS = [
  'swtpm',
  'swtpm_setup',
  'swtpm_localca',
  'tpm2_createek',
  'tpm2_createak',
  'tpm2_quote',
  'tpm2_checkquote',
  'tpm2_flushcontext'
]

let available: boolean | undefined
/** Why the swtpm suites are skipped, or undefined when they can run. */
export function missingTools(): string | undefined {
  if (available === undefined) {
    available = TOOLS.every((tool) => spawnSync('sh', ['-c', `command -v ${tool}`], { stdio: 'ignore' }).status === 0)
  }
  return available ? undefined : `needs ${TOOLS.join(', ')} (swtpm and tpm2-tools)`
}

/**
 * Starts a SwtpmTools for a suite's before hook. Without the tools the suite is skipped locally,
 * but fails under CI (CI=true), where bootstrap installs them: a cross-check never silently vanishes.
 */
export function startOrSkip(ctx: Mocha.Context): SwtpmTools {
  const missing = missingTools()
  if (missing !== undefined) {
    if (process.env.CI === 'true') throw new Error(`swtpm cross-checks cannot run: ${missing}`)
    console.warn(`      skipped: ${missing}`)
    ctx.skip()
  }
  return SwtpmTools.start()
}

const running = new Set<SwtpmTools>()
const folders = new Set<string>()
let template: string | undefined

process.on('exit', () => {
  for (const tpm of running) tpm.kill()
  for (const dir of folders) rmSync(dir, { recursive: true, force: true })
})

/** A folder removed when the process exits. */
export function scratchDir(prefix = 'tpm2-test-'): string {
  const dir = mkdtempSync(path.join(os.tmpdir(), prefix))
  folders.add(dir)
  return dir
}

/** Provisions the template state once (about a second: swtpm_setup creates the EKs and the CA). */
function provisionedTemplate(): string {
  if (template !== undefined) return template
  const dir = scratchDir('tpm2-template-')
  const ca = path.join(dir, 'ca')
  const state = path.join(dir, 'state')
  mkdirSync(ca)
  mkdirSync(state)
  writeFileSync(
    path.join(dir, 'localca.conf'),
    `statedir = ${ca}\nsigningkey = ${ca}/signkey.pem\nissuercert = ${ca}/issuercert.pem\ncertserial = ${ca}/certserial\n`
  )
  writeFileSync(path.join(dir, 'localca.options'), '')
  writeFileSync(
    path.join(dir, 'setup.conf'),
    `create_certs_tool = /usr/bin/swtpm_localca\ncreate_certs_tool_config = ${dir}/localca.conf\ncreate_certs_tool_options = ${dir}/localca.options\n`
  )
  execFileSync(
    'swtpm_setup',
    [
      '--tpm2',
      '--tpmstate',
      state,
      '--config',
      path.join(dir, 'setup.conf'),
      '--create-ek-cert',
      '--pcr-banks',
      'sha256',
      '--overwrite'
    ],
    { stdio: 'pipe' }
  )
  template = dir
  return dir
}

/** One running swtpm with tpm2-tools pointed at it. */
export class SwtpmTools {
  readonly dir: string
  readonly caDir: string
  private readonly env: NodeJS.ProcessEnv
  private pid = 0

  private constructor(dir: string) {
    this.dir = dir
    this.caDir = path.join(dir, 'ca')
    this.env = { ...process.env, TPM2TOOLS_TCTI: `swtpm:path=${path.join(dir, 'tpm.sock')}` }
  }

  static start(): SwtpmTools {
    const source = provisionedTemplate()
    const dir = scratchDir('tpm2-swtpm-')
    cpSync(source, dir, { recursive: true })
    const tpm = new SwtpmTools(dir)
    execFileSync(
      'swtpm',
      [
        'socket',
        '--tpm2',
        '--tpmstate',
        `dir=${path.join(dir, 'state')}`,
        '--server',
        `type=unixio,path=${path.join(dir, 'tpm.sock')}`,
        '--ctrl',
        `type=unixio,path=${path.join(dir, 'tpm.sock.ctrl')}`,
        '--flags',
        'not-need-init,startup-clear',
        '--daemon',
        '--pid',
        `file=${path.join(dir, 'pid')}`
      ],
      { stdio: 'pipe' }
    )
    tpm.pid = Number.parseInt(readFileSync(path.join(dir, 'pid'), 'utf8').trim(), 10)
    running.add(tpm)
    return tpm
  }

  /** A path inside this TPM's folder. */
  file(name: string): string {
    return path.join(this.dir, name)
  }

  /**
   * Runs a tpm2-tools command, then flushes what it left loaded: without a resource manager the
   * tools leave transient objects and sessions behind, and the TPM runs out of slots.
   */
  run(tool: string, args: string[], options: { input?: Uint8Array; flush?: boolean } = {}): Buffer {
    const result = spawnSync(tool, args, {
      env: this.env,
      cwd: this.dir,
      input: options.input,
      maxBuffer: 16 * 1024 * 1024
    })
    if (options.flush !== false) this.flush()
    if (result.status !== 0) {
      throw new Error(
        `${tool} ${args.join(' ')} failed (${result.status ?? result.signal}): ${result.stderr.toString()}`
      )
    }
    return result.stdout
  }

  /** Runs a command expected to fail; returns its exit status and stderr. */
  runFailing(tool: string, args: string[]): { status: number | null; stderr: string } {
    const result = spawnSync(tool, args, { env: this.env, cwd: this.dir })
    this.flush()
    return { status: result.status, stderr: result.stderr.toString() }
  }

  flush(): void {
    for (const kind of ['-t', '-l', '-s']) spawnSync('tpm2_flushcontext', [kind], { env: this.env, stdio: 'ignore' })
  }

  read(name: string): Uint8Array {
    return new Uint8Array(readFileSync(this.file(name)))
  }

  write(name: string, bytes: Uint8Array | string): string {
    writeFileSync(this.file(name), bytes)
    return this.file(name)
  }

  /**
   * Stops swtpm and waits until it is gone (up to 2 s): it deletes its socket and pid files as it
   * exits, which would race with removing the folder.
   */
  kill(): void {
    const pid = this.pid
    this.pid = 0
    if (pid <= 1) return
    try {
      process.kill(pid, 'SIGTERM')
    } catch {
      return
    }
    const pause = new Int32Array(new SharedArrayBuffer(4))
    for (let waited = 0; waited < 2000; waited += 10) {
      try {
        process.kill(pid, 0)
      } catch {
        return
      }
      Atomics.wait(pause, 0, 0, 10)
    }
  }

  stop(): void {
    this.kill()
    running.delete(this)
    rmSync(this.dir, { recursive: true, force: true, maxRetries: 3 })
    folders.delete(this.dir)
  }
}
