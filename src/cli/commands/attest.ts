import type { Command } from 'commander'
import { writeFile } from 'node:fs/promises'
import path from 'node:path'
import {
  parsePcrSelectionSpec,
  parsePublic,
  publicToPem,
  serializePcrs,
  verifyQuote,
  readPcrsFile,
  readAttestationKey,
  pcrValuesToJson,
  verifyBoot,
  parseBootPolicy,
  EVENTLOG_LIMITS
} from '../../attest/index.js'
import { fromHex, makeDirectory, toHex, UsageError } from '../../common/index.js'
import { makeOutput } from '../output.js'
import { readInputFile } from '../options.js'
import { registerAttestResultCommands } from './attest-result.js'
import { openTpm } from '../tpm-session.js'

const MAX_NONCE = 64

/**
 * fleet attest quote --tcti T --nonce HEX --pcrs SPEC --out DIR [--json]
 * fleet attest verify-quote --ak FILE --message FILE --signature FILE --pcrs FILE --nonce HEX [--allow-sha1] [--json]
 * fleet attest verify --ak FILE --message FILE --signature FILE --nonce HEX --eventlog FILE --policy FILE [--json]
 * fleet attest result … / fleet attest keys … (attest-result.ts)
 */
export function registerAttestCommands(program: Command): void {
  const attest = program.command('attest').description('make and verify TPM quotes; issue attestation results')
  registerAttestResultCommands(attest)

  attest
    .command('quote')
    .description('create an attestation key and quote PCRs with it; files interoperate with tpm2_checkquote')
    .requiredOption('--tcti <tcti>', 'TPM to use')
    .requiredOption('--nonce <hex>', 'qualifying data (hex, up to 64 bytes; "" for none)')
    .requiredOption('--pcrs <spec>', 'PCRs to quote, e.g. sha256:0,1,2,3,7')
    .requiredOption('--out <dir>', 'folder for ak.pem, ak.pub, quote.msg, quote.sig, quote.pcrs')
    .option('--json', 'print the result as JSON')
    .addHelpText(
      'after',
      `
Example:
  fleet attest quote --tcti swtpm:path=/tmp/dev1/tpm.sock --nonce 1234 --pcrs sha256:0,1,2,3,7 --out /tmp/q
  tpm2_checkquote -u /tmp/q/ak.pem -m /tmp/q/quote.msg -s /tmp/q/quote.sig -f /tmp/q/quote.pcrs -g sha256 -q 1234`
    )
    .action(async (options: { tcti: string; nonce: string; pcrs: string; out: string; json?: boolean }) => {
      const nonce = parseNonce(options.nonce)
      const selection = parsePcrSelectionSpec(options.pcrs)
      const device = await openTpm(options.tcti)
      try {
        const ak = await device.createKey('attestation')
        // PCRs may change between the quote and the read: retry until both agree.
        for (let attempt = 0; ; attempt++) {
          const quote = await device.quote(ak, nonce, selection)
          const values = await device.readPcrs(selection)
          const akPublic = parsePublic(ak.public)
          try {
            verifyQuote({ ak: akPublic, attest: quote.attest, signature: quote.signature, nonce, pcrs: values })
          } catch (err) {
            if (attempt < 3) continue
            throw err
          }
          await makeDirectory(options.out, { mode: 0o755 })
          const files = {
            'ak.pem': publicToPem(akPublic),
            'ak.pub': ak.public,
            'quote.msg': quote.attest,
            'quote.sig': quote.signature,
            'quote.pcrs': serializePcrs(selection, values)
          }
          for (const [name, data] of Object.entries(files)) await writeFile(path.join(options.out, name), data)
          makeOutput(options.json === true).result(
            {
              out: path.resolve(options.out),
              files: Object.keys(files),
              nonce: toHex(nonce),
              pcrs: pcrValuesToJson(values)
            },
            `quote written to ${path.resolve(options.out)}: ${Object.keys(files).join(', ')}`
          )
          return
        }
      } finally {
        await device.close()
      }
    })

  attest
    .command('verify-quote')
    .description('verify a TPM quote: signature, magic, type, nonce and PCR digest')
    .requiredOption(
      '--ak <file>',
      'attestation key: TPM2B_PUBLIC (then it must be made inside the TPM: fixedTPM, fixedParent, sensitiveDataOrigin, restricted, sign), or PEM (attributes not checked)'
    )
    .requiredOption('--message <file>', 'TPMS_ATTEST (quote.msg)')
    .requiredOption('--signature <file>', 'TPMT_SIGNATURE (quote.sig)')
    .requiredOption(
      '--pcrs <file>',
      'PCR values: tpm2-tools serialized format, or JSON {"pcrs":{"sha256":{"0":"hex"}}}'
    )
    .requiredOption('--nonce <hex>', 'expected qualifying data (hex; "" for none)')
    .option('--allow-sha1', 'accept SHA-1 signatures and PCR banks')
    .option('--json', 'print the result as JSON')
    .addHelpText(
      'after',
      `
Example:
  fleet attest verify-quote --ak q/ak.pub --message q/quote.msg --signature q/quote.sig --pcrs q/quote.pcrs --nonce 1234
A PEM AK only proves the signature: the result then says akRestrictionChecked: false.
Exit codes: 0 valid, 1 refused (the reason on stderr), 2 unreadable input.`
    )
    .action(
      async (options: {
        ak: string
        message: string
        signature: string
        pcrs: string
        nonce: string
        allowSha1?: boolean
        json?: boolean
      }) => {
        const nonce = parseNonce(options.nonce)
        const ak = readAttestationKey(await readInputFile(options.ak, 'attestation key', 64 * 1024))
        const attestBytes = await readInputFile(options.message, 'quote message', 64 * 1024)
        const signature = await readInputFile(options.signature, 'quote signature', 64 * 1024)
        const pcrs = readPcrsFile(await readInputFile(options.pcrs, 'PCR file', 1024 * 1024))
        const verified = verifyQuote({
          ak,
          attest: attestBytes,
          signature,
          nonce,
          pcrs: pcrs.values,
          allowSha1: options.allowSha1 === true
        })
        makeOutput(options.json === true).result(
          {
            valid: true,
            akRestrictionChecked: verified.akRestrictionChecked,
            clock: verified.clockInfo,
            firmwareVersion: verified.attest.firmwareVersion,
            pcrs: pcrValuesToJson(verified.pcrs)
          },
          `quote valid${verified.akRestrictionChecked ? '' : ' (AK given as a bare public key: whether it was made inside the TPM and is restricted was NOT checked)'}`
        )
      }
    )
  attest
    .command('verify')
    .description('judge a boot: quote + event log + boot policy → trusted or refused, with every reason')
    .requiredOption(
      '--ak <file>',
      'attestation key: TPM2B_PUBLIC (tpm2_createak -u, tpm2_readpublic -o); a PEM AK is never trusted'
    )
    .requiredOption('--message <file>', 'TPMS_ATTEST (quote.msg)')
    .requiredOption('--signature <file>', 'TPMT_SIGNATURE (quote.sig)')
    .requiredOption('--nonce <hex>', 'expected qualifying data (hex)')
    .requiredOption('--eventlog <file>', 'the boot event log')
    .requiredOption('--policy <file>', 'boot policy (fleet policy create)')
    .option('--allow-sha1', 'accept SHA-1 signatures and PCR banks')
    .option('--json', 'print the verdict as JSON')
    .addHelpText(
      'after',
      `
Example:
  fleet attest verify --ak q/ak.pub --message q/quote.msg --signature q/quote.sig --nonce 1234 \\
      --eventlog q/eventlog.bin --policy policy.json
The AK must be made inside the TPM; a PEM AK is refused (its attributes cannot be checked).
Exit codes: 0 trusted, 1 refused (every reason on stderr), 2 unreadable input.`
    )
    .action(
      async (options: {
        ak: string
        message: string
        signature: string
        nonce: string
        eventlog: string
        policy: string
        allowSha1?: boolean
        json?: boolean
      }) => {
        const nonce = parseNonce(options.nonce)
        const ak = readAttestationKey(await readInputFile(options.ak, 'attestation key', 64 * 1024))
        const attestBytes = await readInputFile(options.message, 'quote message', 64 * 1024)
        const signature = await readInputFile(options.signature, 'quote signature', 64 * 1024)
        const eventLog = await readInputFile(options.eventlog, 'event log', EVENTLOG_LIMITS.maxLogBytes)
        const policy = parseBootPolicy(await readInputFile(options.policy, 'boot policy', 1024 * 1024))
        const result = verifyBoot(
          { ak, attest: attestBytes, signature, nonce, eventLog, allowSha1: options.allowSha1 === true },
          policy
        )
        const output = makeOutput(options.json === true)
        const summary = {
          trusted: result.verdict.trusted,
          policyId: result.verdict.policyId,
          reasons: result.verdict.reasons,
          secureBoot: result.facts.secureBoot,
          kernelCommandLine: result.facts.kernelCommandLine,
          quirk: result.log.quirk,
          clock: result.quote.clockInfo
        }
        if (result.verdict.trusted) {
          output.result(summary, `trusted: the boot matches policy ${result.verdict.policyId.slice(0, 16)}…`)
          return
        }
        if (output.json) output.result(summary, '')
        else for (const reason of result.verdict.reasons) process.stderr.write(`refused: ${reason.message}\n`)
        process.exitCode = 1
      }
    )
}

function parseNonce(text: string): Uint8Array {
  const nonce = fromHex(text, '--nonce')
  if (nonce.length > MAX_NONCE) throw new UsageError(`--nonce is longer than ${MAX_NONCE} bytes`)
  return nonce
}
