/**
 * fleet secret seal --state DIR NAME --from FILE [--replace] [--json]
 * fleet secret list --state DIR [--json]
 * fleet secret remove --state DIR NAME [--json]
 *
 * A workload's secrets, sealed in the device's TPM alike with its own keys (src/agent/gate):
 * `fleet exec` hands them to a command only on a device in good standing. With the agent running
 * the seal goes through it (it holds the TPM); without, the keys are released here first, so a
 * secret is never sealed on a device whose boot the owner did not approve.
 */
import type { Command } from 'commander'
import { existsSync } from 'node:fs'
import path from 'node:path'
import {
  CONTROL_SOCKET,
  GATE_LIMITS,
  measurementOf,
  checkSecretName,
  controlRequest,
  listSecrets,
  readDeviceEnrolment,
  readDeviceState,
  removeSecret,
  sealSecret,
  lockSecrets,
  settleSecretReseal,
  unlockDevice,
  type DeviceState,
  type SecretListing
} from '../../agent/index.js'
import { toBase64 } from '../../common/index.js'
import { makeOutput } from '../output.js'
import { readInputFile } from '../options.js'
import { openTpm } from '../tpm-session.js'

function describe(secret: SecretListing): string {
  const policy =
    secret.sealedTo === 'owner'
      ? 'boot states the owner approves'
      : 'the boot state at fleet init (until the owner approves one)'
  return `${secret.name}  ${secret.bytes} bytes  released under ${policy}, PCRs ${secret.pcrs.join(',')}  sealed ${secret.sealedAt}`
}

/**
 * Runs `fn` with the device state, holding the secrets' lock shared (refused while `fleet release
 * install` re-seals them) and with a re-seal it left interrupted settled under that state: the
 * secrets read or written are the ones that state opens, and no re-seal starts meanwhile.
 */
async function withSettledSecrets<T>(dir: string, fn: (state: DeviceState) => Promise<T>): Promise<T> {
  const lock = await lockSecrets(dir, 'shared')
  try {
    const state = await readDeviceState(dir)
    await settleSecretReseal(dir, state)
    return await fn(state)
  } finally {
    await lock.release()
  }
}

async function sealOffline(dir: string, name: string, value: Uint8Array, replace: boolean): Promise<SecretListing> {
  return await withSettledSecrets(dir, async (state) => await sealWithKeys(dir, state, name, value, replace))
}

async function sealWithKeys(
  dir: string,
  state: DeviceState,
  name: string,
  value: Uint8Array,
  replace: boolean
): Promise<SecretListing> {
  const tpm = await openTpm(state.tcti)
  try {
    // The device's keys must be released here now: only then is this a boot state they are sealed to.
    await unlockDevice(tpm, state, await measurementOf(state))
    // Enrolled and still sealed to the boot at fleet init: a copy sealed to the owner too (see keepOwnerCopies).
    const enrolment = await readDeviceEnrolment(dir, state.deviceId)
    return await sealSecret(tpm, state, dir, name, value, { replace, now: new Date(), owner: enrolment?.ownerKey.p256 })
  } finally {
    await tpm.close()
  }
}

export function registerSecretCommands(program: Command): void {
  const secret = program
    .command('secret')
    .description("workload secrets sealed in this device's TPM, released to `fleet exec` on a device in good standing")

  secret
    .command('seal')
    .description("seal a secret in this device's TPM, under the policy its own keys are sealed to")
    .requiredOption('--state <dir>', 'device state directory')
    .argument('<name>', "the secret's name (letters, digits, . _ -)")
    .requiredOption('--from <file>', "the secret's value: a file, or - for standard input")
    .option('--replace', 'replace a secret of that name')
    .option('--json', 'print the result as JSON')
    .addHelpText(
      'after',
      `
Example:
  fleet secret seal --state /var/lib/fleet db-password --from /run/credentials/db-password
The value (1 byte to ${GATE_LIMITS.maxSecretBytes / 1024} KiB) is read once, encrypted under a data key sealed in the TPM,
and written to DIR/secrets/NAME.json: without this TPM in an approved boot state the file is noise.
Delete the plaintext you sealed from afterwards. Exit codes: 0 sealed, 1 refused, 2 bad usage.`
    )
    .action(async (name: string, options: { state: string; from: string; replace?: boolean; json?: boolean }) => {
      checkSecretName(name)
      const value = await readInputFile(
        options.from === '-' ? '/dev/stdin' : options.from,
        'secret',
        GATE_LIMITS.maxSecretBytes
      )
      try {
        const sealed = existsSync(path.join(options.state, CONTROL_SOCKET))
          ? ((
              await controlRequest(options.state, {
                cmd: 'secret.seal',
                name,
                value: toBase64(value),
                replace: options.replace === true
              })
            ).secret as SecretListing)
          : await sealOffline(options.state, name, value, options.replace === true)
        makeOutput(options.json === true).result(sealed, `sealed ${describe(sealed)}`)
      } finally {
        value.fill(0)
      }
    })

  secret
    .command('list')
    .description('the secrets sealed on this device: names and policies, never values')
    .requiredOption('--state <dir>', 'device state directory')
    .option('--json', 'print the result as JSON')
    .addHelpText('after', '\nExample:\n  fleet secret list --state /var/lib/fleet')
    .action(async (options: { state: string; json?: boolean }) => {
      const secrets = await withSettledSecrets(options.state, async (state) => await listSecrets(options.state, state))
      makeOutput(options.json === true).result(
        secrets,
        secrets.length === 0 ? 'no secrets sealed' : secrets.map(describe).join('\n')
      )
    })

  secret
    .command('remove')
    .description('remove a secret (its file; the TPM keeps nothing of it)')
    .requiredOption('--state <dir>', 'device state directory')
    .argument('<name>', "the secret's name")
    .option('--json', 'print the result as JSON')
    .addHelpText('after', '\nExample:\n  fleet secret remove --state /var/lib/fleet db-password')
    .action(async (name: string, options: { state: string; json?: boolean }) => {
      await withSettledSecrets(options.state, async () => await removeSecret(options.state, name))
      makeOutput(options.json === true).result({ removed: name }, `removed ${name}`)
    })
}
