import type { Command } from 'commander'
import { existsSync } from 'node:fs'
import path from 'node:path'
import { PCR_COUNT } from '../../attest/index.js'
import {
  DEFAULT_OWNER_KEY_LABEL,
  OWNER_KEY_LABEL_MAX_BYTES,
  OWNER_STATE_FILE,
  WRAP_KEY_LABEL_SUFFIX,
  initOwner,
  initTokenOwner,
  isOwnerKeyLabel,
  writeOwnerState,
  type OwnerState
} from '../../agent/index.js'
import { UsageError, cryptoRandom, makeDirectory, systemClock } from '../../common/index.js'
import { makeOutput } from '../output.js'
import { modulePatterns, pinGiven, pinOptions, pinReader, type PinOptions } from '../owner-access.js'
import { openTpm } from '../tpm-session.js'

const DEFAULT_BOOT_PCRS = '0,1,2,3,4,7'

interface InitOptions extends PinOptions {
  state: string
  tcti: string
  name: string
  bootPcrs?: string
  pkcs11?: string
  token?: string
  keyLabel?: string
  yes?: boolean
  json?: boolean
}

/**
 * fleet owner init --state DIR --tcti T [--name NAME] [--boot-pcrs 0,1,2,3,4,7] [--yes] [--json]
 * fleet owner init --state DIR --tcti T --pkcs11 MODULE --token LABEL [--key-label L]
 *                  [--pin-fd N | --pin-credential NAME] [--name NAME] [--yes] [--json]
 */
export function registerOwnerCommands(program: Command): void {
  const owner = program
    .command('owner')
    .description('the fleet owner: the person whose signed statements admit and revoke devices')

  const init = owner
    .command('init')
    .description(
      "create the owner's keys (in this machine's TPM, or on a PKCS#11 token with --pkcs11) and sign the fleet's " +
        'genesis statement; prints the fleetId'
    )
    .requiredOption('--state <dir>', 'owner state directory (public data and wrapped or sealed blobs only)')
    .requiredOption(
      '--tcti <tcti>',
      "TPM of this machine: a TPM owner's keys; for every owner, the clock and rollback counter of the owner's feed"
    )
    .option('--name <name>', 'a name for the fleet', 'fleet')
    .option(
      '--boot-pcrs <list>',
      `TPM-held owner: boot PCRs the owner's ML-DSA-65 key is sealed to (default ${DEFAULT_BOOT_PCRS})`
    )
    .option('--pkcs11 <module>', "keep the owner's keys on a PKCS#11 token: the absolute path of its module")
    .option('--token <label>', 'with --pkcs11: the label of the token')
    .option(
      '--key-label <label>',
      `with --pkcs11: label of the P-256 key made on the token; the AES wrap key is labelled with ` +
        `"${WRAP_KEY_LABEL_SUFFIX}" added (default ${DEFAULT_OWNER_KEY_LABEL})`
    )
  pinOptions(init)
    .option('--yes', 'replace an existing owner identity in this directory')
    .option('--json', 'print the result as JSON')
    .addHelpText(
      'after',
      `
Examples:
  fleet owner init --state ~/.fleet-owner --tcti device:/dev/tpmrm0 --name clinic-west
  fleet owner init --state ~/.fleet-owner --tcti device:/dev/tpmrm0 --name clinic-west \\
      --pkcs11 /usr/lib/x86_64-linux-gnu/opensc-pkcs11.so --token owner-card
With --pkcs11 the P-256 key is generated on the token and checked to be non-extractable; the
ML-DSA-65 seed is made here and kept only sealed by an AES key generated on the token. The PIN is
asked on the terminal, or read from --pin-fd or --pin-credential; there is no option for the PIN
itself. The module must lie under /usr/lib* or /usr/local/lib* (FLEET_PKCS11_PROVIDERS, a
comma-separated list of patterns, replaces these). Every owner command then asks for the token and
its PIN. The TPM of --tcti is needed either way: there is no owner without one.
Exit codes: 0 founded, 1 refused (a wrong PIN, no such token, a key that is not hardware-bound, no TPM),
2 bad usage (no PIN source and no terminal).`
    )
    .action(async (options: InitOptions) => {
      if (!/^[\x20-\x7e]{1,128}$/.test(options.name))
        throw new UsageError('--name must be 1..128 printable ASCII characters')
      const token = options.pkcs11 === undefined ? undefined : tokenOptions(options)
      if (token === undefined && (options.token !== undefined || options.keyLabel !== undefined || pinGiven(options)))
        throw new UsageError('--token, --key-label, --pin-fd and --pin-credential go with --pkcs11')
      const bootPcrs = (options.bootPcrs ?? DEFAULT_BOOT_PCRS).split(',').map((item) => {
        if (!/^\d{1,2}$/.test(item) || Number(item) >= PCR_COUNT)
          throw new UsageError(`--boot-pcrs: "${item}" is not a PCR number`)
        return Number(item)
      })
      if (existsSync(path.join(options.state, OWNER_STATE_FILE)) && options.yes !== true)
        throw new UsageError(`${options.state} already holds an owner identity; pass --yes to replace it`)
      // The state directory is checked before the TPM makes any key: a bad path costs nothing.
      await makeDirectory(options.state, { mode: 0o700 })
      const now = (): Date => new Date(systemClock.now())
      const tpm = await openTpm(options.tcti)
      let state: OwnerState
      try {
        if (token === undefined) {
          state = await initOwner(tpm, { name: options.name, bootPcrs, random: cryptoRandom.bytes, now })
        } else {
          // The owner's feed will need this TPM's clock and counters: a TPM that cannot answer fails here.
          await tpm.readClock()
          state = await initTokenOwner(
            { ...token, name: options.name, tcti: tpm.tcti, now },
            {
              pin: pinReader(options, (found) => `PIN of token "${found.label}" (serial ${found.serial}): `),
              modulePatterns: modulePatterns()
            }
          )
        }
      } finally {
        await tpm.close()
      }
      await writeOwnerState(options.state, state)
      const out = makeOutput(options.json === true)
      const founded = { state: path.resolve(options.state), fleetId: state.fleetId, name: state.name }
      const text = `fleet "${state.name}" founded\nfleetId: ${state.fleetId}`
      if (state.version === 1) {
        out.result(founded, text)
        return
      }
      const keys = state.pkcs11
      out.result(
        { ...founded, keys: 'pkcs11', token: keys.token, p256Label: keys.p256.label, wrapKeyLabel: keys.wrapKey.label },
        `${text}\nowner keys on token "${keys.token.label}" (serial ${keys.token.serial}): ` +
          `P-256 key "${keys.p256.label}", ML-DSA-65 seed sealed by "${keys.wrapKey.label}"`
      )
    })
}

/** --pkcs11, --token and --key-label, checked; --boot-pcrs has no meaning for a token. */
function tokenOptions(options: InitOptions): { module: string; token: string; keyLabel: string } {
  if (options.bootPcrs !== undefined)
    throw new UsageError("--boot-pcrs is for a TPM-held owner: a token owner's seed is sealed by the token")
  if (!path.isAbsolute(options.pkcs11!)) throw new UsageError('--pkcs11 must be an absolute path')
  if (options.token === undefined) throw new UsageError('--pkcs11 needs --token LABEL')
  if (options.token.length === 0 || Buffer.byteLength(options.token) > 32)
    throw new UsageError('--token must be a token label of 1 to 32 bytes')
  const keyLabel = options.keyLabel ?? DEFAULT_OWNER_KEY_LABEL
  if (!isOwnerKeyLabel(keyLabel))
    throw new UsageError(`--key-label must be 1 to ${OWNER_KEY_LABEL_MAX_BYTES} bytes of text`)
  return { module: options.pkcs11!, token: options.token, keyLabel }
}
