/**
 * `npm run demo`: one software-TPM device through the hardware-rooted story so far —
 * identity from the EK, keys that never leave the TPM, a quote verified here and by tpm2-tools,
 * tampering refused, a secret released only while the PCRs hold. Leaves the device in
 * .fleet-demo/ and prints the commands to inspect it.
 */
import { execFile } from 'node:child_process'
import { createHash, randomBytes } from 'node:crypto'
import { mkdir, rm, writeFile } from 'node:fs/promises'
import path from 'node:path'
import { promisify } from 'node:util'
import { fileURLToPath } from 'node:url'
import {
  EsysTpm, SwtpmDevice, deviceIdFromEndorsementKey, fingerprint, parsePublic, publicToPem, verifyQuote, verifyCertify,
  serializePcrs, policyPcr, makeCredential, objectName, verifyEkCertificate, verifyBoot, createBootPolicy, canonicalPolicyJson,
  measureAgent, extendAgentMeasurement, sealToPcrs, releaseSecret, type KeyBlob
} from '../src/attest/index.js'
import { bootDevice, type BootVariant } from '../simnet/index.js'
import type { PcrSelection } from '../src/attest/pcrs.js'
import { FleetError } from '../src/common/errors.js'

const run = promisify(execFile)
const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..')
const demoDir = path.join(root, '.fleet-demo')
const fleet = path.join(root, 'bin/fleet')

let step = 0
function say (title: string, detail = ''): void {
  step++
  process.stdout.write(`\n[${step}] ${title}\n${detail === '' ? '' : detail.replace(/^/gm, '    ') + '\n'}`)
}

async function main (): Promise<void> {
  const device = new SwtpmDevice({ dir: path.join(demoDir, 'device1') })
  // A previous run left its device running for inspection: stop it before starting afresh.
  await device.stop()
  await rm(demoDir, { recursive: true, force: true })
  await mkdir(demoDir, { recursive: true })
  await device.start()
  say('Software TPM device started', `TCTI ${device.tcti}`)

  const tpm = await EsysTpm.open({ tcti: device.tcti })
  let nonceHex = ''
  try {
    const info = await tpm.info()
    const ek = await tpm.endorsementKey('rsa')
    const deviceId = deviceIdFromEndorsementKey(ek.public)
    say('Hardware identity from the endorsement key', [
      `TPM ${info.manufacturer} ${info.vendor}, firmware ${info.firmwareVersion}, banks ${info.banks.join(',')}`,
      `deviceId    ${deviceId}`,
      `fingerprint ${fingerprint(deviceId)}`
    ].join('\n'))

    if (ek.certificate === undefined) throw new Error('the device has no EK certificate')
    const chain = await verifyEkCertificate({ certificate: ek.certificate, trustStore: { dir: device.caDir }, ekPublic: parsePublic(ek.public), now: new Date() })
    say('EK certificate checked against the (software TPM) CA trust store', `chain: ${chain.chain.join(' <- ')}`)

    const ak = await tpm.createKey('attestation')
    const dsk = await tpm.createKey('signing')
    const certifyNonce = randomBytes(16)
    const certified = await tpm.certify(dsk, ak, certifyNonce)
    verifyCertify({ signer: parsePublic(ak.public), attest: certified.attest, signature: certified.signature, nonce: certifyNonce, certifiedPublic: parsePublic(dsk.public) })
    say('Keys created inside the TPM (private parts never leave it)',
      'AK  restricted P-256: signs only quotes and certifications\nDSK P-256 signing key, certified by the AK (TPM2_Certify verified)')

    const credential = randomBytes(32)
    const made = makeCredential({ ekPublic: parsePublic(ek.public), objectName: objectName(parsePublic(ak.public)), credential, random: randomBytes })
    const recovered = await tpm.activateCredential(ak, 'rsa', made.credentialBlob, made.secret)
    say('MakeCredential / ActivateCredential: the AK lives in the TPM of this EK',
      Buffer.from(recovered).equals(credential) ? 'secret recovered: yes' : 'secret recovered: NO')

    const selection: PcrSelection = [{ hash: 'sha256', pcrs: [0, 1, 2, 3, 4, 5, 6, 7] }]
    await tpm.extendPcr(4, { sha256: createHash('sha256').update('demo boot loader').digest() })
    const nonce = randomBytes(20)
    nonceHex = nonce.toString('hex')
    const quote = await tpm.quote(ak, nonce, selection)
    const pcrs = await tpm.readPcrs(selection)
    const verified = verifyQuote({ ak: parsePublic(ak.public), attest: quote.attest, signature: quote.signature, nonce, pcrs })
    const quoteDir = path.join(demoDir, 'quote')
    await mkdir(quoteDir, { recursive: true })
    await writeFile(path.join(quoteDir, 'ak.pem'), publicToPem(parsePublic(ak.public)))
    await writeFile(path.join(quoteDir, 'ak.pub'), ak.public)
    await writeFile(path.join(quoteDir, 'quote.msg'), quote.attest)
    await writeFile(path.join(quoteDir, 'quote.sig'), quote.signature)
    await writeFile(path.join(quoteDir, 'quote.pcrs'), serializePcrs(selection, pcrs))
    let interop = 'tpm2_checkquote not installed'
    try {
      await run('tpm2_checkquote', ['-u', path.join(quoteDir, 'ak.pem'), '-m', path.join(quoteDir, 'quote.msg'), '-s', path.join(quoteDir, 'quote.sig'),
        '-f', path.join(quoteDir, 'quote.pcrs'), '-g', 'sha256', '-q', nonce.toString('hex')])
      interop = 'tpm2_checkquote: accepted'
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') interop = `tpm2_checkquote: REFUSED (${(err as Error).message.split('\n')[0]})`
    }
    say(`Quote of PCRs 0-7 over a fresh nonce ${nonce.toString('hex')}`, [
      `verified here: signature, magic, type, nonce, PCR digest (TPM clock ${verified.clockInfo.clock} ms, resetCount ${verified.clockInfo.resetCount})`,
      interop
    ].join('\n'))

    const tampered = new Uint8Array(quote.attest)
    tampered[tampered.length - 1]! ^= 1
    let refusal = 'ACCEPTED (bug)'
    try {
      verifyQuote({ ak: parsePublic(ak.public), attest: tampered, signature: quote.signature, nonce, pcrs })
    } catch (err) {
      refusal = `${(err as Error).name}: ${(err as Error).message}`
    }
    say('One flipped bit in the quote', `refused: ${refusal}`)

    const policySelection: PcrSelection = [{ hash: 'sha256', pcrs: [0, 4, 7, 23] }]
    const secret = randomBytes(32)
    const sealed = await tpm.seal(secret, policyPcr(new Uint8Array(32), policySelection, await tpm.readPcrs(policySelection)))
    const unsealed = await tpm.unseal(sealed, { pcrs: policySelection })
    await tpm.extendPcr(23, { sha256: createHash('sha256').update('a changed agent').digest() })
    let after = 'released (bug)'
    try {
      await tpm.unseal(sealed, { pcrs: policySelection })
    } catch (err) {
      after = `refused: ${(err as Error).name}`
    }
    say('A secret sealed to PCRs 0,4,7,23', `while they hold: ${Buffer.from(unsealed).equals(secret) ? 'released' : 'WRONG'}\nafter PCR 23 changed: ${after}`)
  } finally {
    await tpm.close()
  }

  await measuredBoot(device)

  process.stdout.write(`
Done. The device keeps running so you can look at it:
  ${fleet} tpm info --tcti ${device.tcti}
  ${fleet} attest verify-quote --ak ${demoDir}/quote/ak.pub --message ${demoDir}/quote/quote.msg \\
      --signature ${demoDir}/quote/quote.sig --pcrs ${demoDir}/quote/quote.pcrs --nonce ${nonceHex}
  ${fleet} eventlog show ${device.dir}/binary_bios_measurements
  ${fleet} swtpm boot --dir ${device.dir} --variant tampered-kernel     # then quote and 'attest verify' it
  ${fleet} swtpm stop --dir ${device.dir}
`)
}

/** Simulated Secure Boot → quote + event log → policy verdict; keys sealed to boot and agent. */
async function measuredBoot (device: SwtpmDevice): Promise<void> {
  const selection: PcrSelection = [{ hash: 'sha256', pcrs: [0, 1, 2, 3, 4, 5, 6, 7, 8, 9] }]
  const sealedPcrs: PcrSelection = [{ hash: 'sha256', pcrs: [0, 1, 2, 3, 4, 7, 23] }]
  const bundle = [path.join(root, 'dist/src')]
  let tpm: EsysTpm | undefined
  let ak: KeyBlob | undefined
  const boot = async (variant: BootVariant): Promise<{ log: Uint8Array, tpm: EsysTpm, ak: KeyBlob }> => {
    await tpm?.close()
    await device.reboot()
    tpm = await EsysTpm.open({ tcti: device.tcti })
    ak ??= await tpm.createKey('attestation')
    const log = await bootDevice(tpm, variant)
    await writeFile(path.join(device.dir, 'binary_bios_measurements'), log)
    await extendAgentMeasurement(tpm, await measureAgent(bundle, Buffer.from('demo config')))
    return { log, tpm, ak }
  }
  const judge = async (t: EsysTpm, key: KeyBlob, log: Uint8Array, policy: Parameters<typeof verifyBoot>[1]): Promise<ReturnType<typeof verifyBoot>> => {
    const nonce = randomBytes(32)
    const quote = await t.quote(key, nonce, selection)
    return verifyBoot({ ak: parsePublic(key.public), attest: quote.attest, signature: quote.signature, nonce, eventLog: log }, policy)
  }
  try {
    const good = await boot('good')
    const reference = await judge(good.tpm, good.ak, good.log, { version: 1, bank: 'sha256', pcrs: [0], secureBoot: 'any', events: {} })
    const policy = createBootPolicy(reference.log.events, reference.facts.secureBoot)
    await writeFile(path.join(demoDir, 'policy.json'), canonicalPolicyJson(policy))
    const verdict = await judge(good.tpm, good.ak, good.log, policy)
    const secret = randomBytes(32)
    const sealed = await sealToPcrs(good.tpm, secret, sealedPcrs, await good.tpm.readPcrs(sealedPcrs))
    const released = Buffer.from(await releaseSecret(good.tpm, sealed)).equals(secret)
    say('Simulated UEFI Secure Boot, quoted with its event log, judged by a policy made from it', [
      `verdict: ${verdict.verdict.trusted ? 'trusted' : 'REFUSED'} (Secure Boot ${reference.facts.secureBoot === true ? 'on' : 'off'}, kernel command line "${reference.facts.kernelCommandLine ?? ''}")`,
      `agent measured into PCR 23; a key sealed to PCRs 0-4,7,23: ${released ? 'released' : 'NOT released'}`
    ].join('\n'))

    const tampered = await boot('tampered-kernel')
    const refused = await judge(tampered.tpm, tampered.ak, tampered.log, policy)
    let release = 'released (bug)'
    try {
      await releaseSecret(tampered.tpm, sealed)
    } catch (err) {
      release = (err as Error).message
    }
    say('The same machine booting a tampered kernel', [
      `verdict: ${refused.verdict.trusted ? 'TRUSTED (bug)' : 'refused'}`,
      ...refused.verdict.reasons.map((reason) => `  ${reason.message}`),
      release
    ].join('\n'))
  } finally {
    await tpm?.close()
  }
}

main().catch((err: unknown) => {
  process.stderr.write(`demo: ${err instanceof FleetError ? err.message : String(err)}\n`)
  process.exitCode = 1
})
