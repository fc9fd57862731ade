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
import type { Browser, BrowserContext, CDPSession, Page } from 'playwright-core'
import {
  findChromium,
  launchChromium,
  noChromium,
  type LaunchedChromium,
  type LaunchOptions
} from '../../simnet/chromium.js'
export { CHROMIUM_CANDIDATES, findChromium, groupAlive, launchChromium, noChromium } from '../../simnet/chromium.js'
export type { LaunchedChromium, LaunchOptions } from '../../simnet/chromium.js'

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
