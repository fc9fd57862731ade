/**
 * Headless Chromium (Debian's `chromium` package) driven by playwright-core, with the DevTools
 * protocol's virtual FIDO2 authenticators (the WebAuthn domain), for tests of real ceremonies.
 *
 * One browser per suite (`chromiumSuite()` in a describe): launched in before(), closed in
 * after() — which mocha runs when a test fails too. Closing asks the browser to quit, then kills
 * what is left of its process group (Chromium's zygote, GPU, network and renderer processes all
 * live in the group playwright makes for it) and waits until none is left. playwright also kills
 * the group if the test process exits without closing. Each test opens its own context (a fresh
 * profile in memory) with its own virtual authenticator.
 *
 * `--no-sandbox` is passed only when the tests run as root: Chromium refuses to start its
 * sandbox as root ("Running as root without --no-sandbox is not supported", crbug.com/638180),
 * and CI here runs as root. As any other user the sandbox stays on.
 */
import { accessSync, constants } from 'node:fs'
import { chromium, type Browser, type BrowserContext, type CDPSession, type Page } from 'playwright-core'
import { until } from './wait.js'

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
      await until(() => !groupAlive(pid), `Chromium's processes (group ${pid}) to exit`, 5_000, 20)
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

/**
 * Declares a suite's browser: launched once before its tests, closed after them (whatever they
 * did). Without Chromium the whole suite is skipped, saying why in one line.
 */
export function chromiumSuite(options: LaunchOptions = {}): () => LaunchedChromium {
  let launched: LaunchedChromium | undefined
  before(async function () {
    const executable = findChromium()
    if (executable === undefined) {
      process.stderr.write(noChromium(`"${this.test?.parent?.fullTitle() ?? 'browser tests'}"`))
      this.skip()
    }
    launched = await launchChromium(executable, options)
  })
  after(async () => {
    await launched?.close()
  })
  return () => {
    if (launched === undefined) throw new Error("the suite's browser is not running")
    return launched
  }
}

/** Options of a virtual authenticator (the WebAuthn domain's VirtualAuthenticatorOptions, those used here). */
export interface VirtualAuthenticatorOptions {
  protocol: 'ctap2' | 'u2f'
  ctap2Version?: 'ctap2_0' | 'ctap2_1'
  transport: 'usb' | 'nfc' | 'ble' | 'internal'
  hasResidentKey?: boolean
  hasUserVerification?: boolean
  /** Whether user verification succeeds. */
  isUserVerified?: boolean
  /** Whether tests of user presence succeed at once (otherwise they never resolve). */
  automaticPresenceSimulation?: boolean
}

export type AuthenticatorOptions = Partial<VirtualAuthenticatorOptions>

/** A USB security key with a PIN that is always entered right and always touched. */
export const SECURITY_KEY: VirtualAuthenticatorOptions = {
  protocol: 'ctap2',
  ctap2Version: 'ctap2_1',
  transport: 'usb',
  hasResidentKey: false,
  hasUserVerification: true,
  isUserVerified: true,
  automaticPresenceSimulation: true
}

/** A fresh browser context and page whose WebAuthn calls reach one virtual authenticator. */
export interface AuthenticatorPage {
  readonly context: BrowserContext
  readonly page: Page
  readonly cdp: CDPSession
  authenticatorId: string
  /** Replaces the authenticator with another (the old one and its credentials are gone). */
  replaceAuthenticator: (options?: AuthenticatorOptions) => Promise<string>
  close: () => Promise<void>
}

export async function openAuthenticatorPage(
  browser: Browser,
  options: AuthenticatorOptions = {}
): Promise<AuthenticatorPage> {
  const context = await browser.newContext()
  try {
    const page = await context.newPage()
    const cdp = await context.newCDPSession(page)
    await cdp.send('WebAuthn.enable', { enableUI: false })
    const add = async (more: AuthenticatorOptions): Promise<string> =>
      (await cdp.send('WebAuthn.addVirtualAuthenticator', { options: { ...SECURITY_KEY, ...more } })).authenticatorId
    const opened: AuthenticatorPage = {
      context,
      page,
      cdp,
      authenticatorId: await add(options),
      replaceAuthenticator: async (more = {}) => {
        await cdp.send('WebAuthn.removeVirtualAuthenticator', { authenticatorId: opened.authenticatorId })
        opened.authenticatorId = await add(more)
        return opened.authenticatorId
      },
      close: async () => {
        await context.close().catch(() => undefined)
      }
    }
    return opened
  } catch (error) {
    await context.close().catch(() => undefined)
    throw error
  }
}

/** How a page's ceremony ended, as its status line says. */
export type PageOutcome = 'done' | 'refused' | 'failed'

export interface PageAnswer {
  outcome: PageOutcome
  text: string
}

/** Opens `url`, presses the button of item `id` and waits for the page to say how it ended. */
export async function answerOnPage(page: Page, url: string, id: string): Promise<PageAnswer> {
  await page.goto(url)
  await page.click(`button[data-id="${id}"]`)
  const status = page.locator(`button[data-id="${id}"] + p.status`)
  await page.waitForFunction(
    (element) => ['done', 'refused', 'failed'].includes(element?.dataset.outcome ?? ''),
    await status.elementHandle(),
    { timeout: 20_000 }
  )
  const outcome = (await status.getAttribute('data-outcome')) as PageOutcome
  return { outcome, text: (await status.textContent()) ?? '' }
}
