/**
 * Headless Chromium (Debian's `chromium` package) launched through playwright-core, for the
 * browser tests and the console bench. Closing asks the browser to quit, then kills what is left
 * of its process group (Chromium's zygote, GPU, network and renderer processes all live in the
 * group playwright makes for it) and waits until none is left.
 *
 * `--no-sandbox` is passed only when running as root: Chromium refuses to start its sandbox as
 * root ("Running as root without --no-sandbox is not supported", crbug.com/638180). As any other
 * user the sandbox stays on.
 */
import { accessSync, constants } from 'node:fs'
import { chromium, type Browser } from 'playwright-core'

/** Where Debian and other distributions put the browser binary (the first is the real ELF, no wrapper script). */
export const CHROMIUM_CANDIDATES = ['/usr/lib/chromium/chromium', '/usr/bin/chromium', '/usr/bin/chromium-browser']

function candidates(): readonly string[] {
  return process.env.FLEET_CHROMIUM === undefined ? CHROMIUM_CANDIDATES : [process.env.FLEET_CHROMIUM]
}

/** Why browser tests skip: the one line they print. */
export function noChromium(what: string): string {
  return `skipping ${what}: no Chromium (looked for ${candidates().join(', ')}; apt-get install chromium)\n`
}

/** The Chromium executable: $FLEET_CHROMIUM, else the first candidate present; undefined when there is none. */
export function findChromium(): string | undefined {
  for (const candidate of candidates()) {
    try {
      accessSync(candidate, constants.X_OK)
      return candidate
    } catch {}
  }
  return undefined
}

export interface LaunchedChromium {
  readonly browser: Browser
  readonly executable: string
  /** The browser process id, which is also its process group id. */
  readonly pid: number
  /** How long the launch took, milliseconds. */
  readonly launchMs: number
  /** Quits the browser and kills every process left in its group; idempotent. */
  close: () => Promise<void>
}

export interface LaunchOptions {
  /** Chromium's --host-resolver-rules, e.g. 'MAP evil.example 127.0.0.1' to act out DNS rebinding. */
  hostResolverRules?: string
}

const CLOSE_GRACE_MS = 10_000

export async function launchChromium(executable: string, options: LaunchOptions = {}): Promise<LaunchedChromium> {
  const started = Date.now()
  const args = options.hostResolverRules === undefined ? [] : [`--host-resolver-rules=${options.hostResolverRules}`]
  const browser = await chromium.launch({
    executablePath: executable,
    headless: true,
    chromiumSandbox: process.getuid?.() !== 0,
    args
  })
  let pid: number
  try {
    const session = await browser.newBrowserCDPSession()
    const { processInfo } = await session.send('SystemInfo.getProcessInfo')
    pid = processInfo.find((info) => info.type === 'browser')?.id ?? 0
    await session.detach()
    if (pid <= 1) throw new Error('Chromium did not name its browser process')
  } catch (error) {
    await browser.close().catch(() => undefined)
    throw error
  }
  const launchMs = Date.now() - started
  let closing: Promise<void> | undefined
  const close = async (): Promise<void> => {
    closing ??= (async () => {
      let timer: NodeJS.Timeout | undefined
      await Promise.race([
        browser.close().catch(() => undefined),
        new Promise((resolve) => {
          timer = setTimeout(resolve, CLOSE_GRACE_MS)
        })
      ])
      clearTimeout(timer)
      killGroup(pid)
      const deadline = Date.now() + 5_000
      while (groupAlive(pid)) {
        if (Date.now() > deadline) throw new Error(`Chromium's processes (group ${pid}) did not exit`)
        await new Promise((resolve) => setTimeout(resolve, 20))
      }
    })()
    await closing
  }
  return { browser, executable, pid, launchMs, close }
}

/** Whether any process of the group `pgid` is left. */
export function groupAlive(pgid: number): boolean {
  try {
    process.kill(-pgid, 0)
    return true
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM'
  }
}

function killGroup(pgid: number): void {
  try {
    process.kill(-pgid, 'SIGKILL')
  } catch {}
}
