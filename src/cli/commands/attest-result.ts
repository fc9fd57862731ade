import type { Command } from 'commander'
import {
  ControlError,
  checkEarRequest,
  controlRequest,
  enrolledSigningKeys,
  feedIdentityOf,
  fleetJwks
} from '../../agent/index.js'
import { storedOwnerEntries } from '../ledger-store.js'
import { makeOutput } from '../output.js'

/**
 * fleet attest result --state DIR --device ID [--audience A] [--nonce N] [--json]
 * fleet attest keys --state DIR
 */
export function registerAttestResultCommands(attest: Command): void {
  attest
    .command('result')
    .description("a signed attestation result (EAR JWT) about a device, from the running agent's own verdict on it")
    .requiredOption('--state <dir>', 'state directory of the running agent that issues the result')
    .requiredOption('--device <id>', 'the device the result is about (a peer this agent attested)')
    .option('--audience <text>', 'aud: the relying party the result is for')
    .option('--nonce <base64url>', "eat_nonce: the relying party's nonce, 8 to 64 bytes as base64url")
    .option('--json', 'print the token with its status and expiry as JSON')
    .addHelpText(
      'after',
      `
Example:
  fleet attest result --state /var/lib/fleet --device k3v… --audience https://rp.example --nonce q83vEjRWeJA
  fleet attest keys --state /var/lib/fleet > jwks.json   # what a relying party verifies it with
The token is signed ES256 by this device's TPM-held key (kid: its device id). Its status is
affirming, warning (a software TPM is never presented as hardware) or contraindicated (the
verdict is not trusted, or the device is revoked or quarantined). Without a nonce, the agent
reuses a signed result until its verdict stops being fresh.
Exit codes: 0 issued, 1 refused (no verdict on the device, or none fresh; no agent), 2 bad usage.`
    )
    .action(async (options: { state: string; device: string; audience?: string; nonce?: string; json?: boolean }) => {
      const request = { device: options.device, nonce: options.nonce, audience: options.audience }
      checkEarRequest(request)
      const answer = await controlRequest(options.state, { cmd: 'attest.result', ...request }, 30_000)
      const { token, status, expiresAt, cached } = answer
      makeOutput(options.json === true).result({ token, status, expiresAt, cached }, String(token))
    })

  attest
    .command('keys')
    .description("the fleet's published keys as a JWKS: each enrolled, unrevoked device's TPM-held signing key")
    .requiredOption('--state <dir>', "a state directory holding the owner's feed (the owner's, or a device's)")
    .addHelpText(
      'after',
      `
Example:
  fleet attest keys --state ~/.fleet-owner > jwks.json
Asks the running agent of DIR when there is one; reads the owner's feed in DIR otherwise.
Each key's kid is its device id, the kid of the results that device signs.
Exit codes: 0 printed, 1 no owner's feed to read, 2 bad usage.`
    )
    .action(async (options: { state: string }) => {
      let jwks: unknown
      try {
        jwks = (await controlRequest(options.state, { cmd: 'attest.keys' }, 10_000)).jwks
      } catch (err) {
        if (!(err instanceof ControlError) || err.code !== 'ERR_NO_AGENT') throw err
        const entries = await storedOwnerEntries(options.state, await feedIdentityOf(options.state))
        jwks = fleetJwks(enrolledSigningKeys(entries))
      }
      process.stdout.write(`${JSON.stringify(jwks)}\n`)
    })
}
