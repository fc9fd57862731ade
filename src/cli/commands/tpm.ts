import type { Command } from 'commander'
import { deviceIdFromEndorsementKey, fingerprint } from '../../attest/index.js'
import { toHex } from '../../common/index.js'
import { makeOutput } from '../output.js'
import { createHash } from 'node:crypto'
import { openTpm } from '../tpm-session.js'

/**
 * fleet tpm info --tcti T [--json]
 */
export function registerTpmCommands(program: Command): void {
  const tpm = program.command('tpm').description('inspect a TPM')

  tpm
    .command('info')
    .description('manufacturer, firmware, PCR banks and the EK-derived deviceId of a TPM')
    .requiredOption('--tcti <tcti>', 'TPM to use: device:/dev/tpmrm0, swtpm:path=SOCKET or swtpm:host=H,port=P')
    .option('--json', 'print the result as JSON')
    .addHelpText('after', '\nExample:\n  fleet tpm info --tcti device:/dev/tpmrm0 --json')
    .action(async (options: { tcti: string; json?: boolean }) => {
      const device = await openTpm(options.tcti)
      try {
        const info = await device.info()
        const ek = await device.endorsementKey('rsa')
        const deviceId = deviceIdFromEndorsementKey(ek.public)
        const result = {
          tcti: device.tcti,
          ...info,
          endorsementKey: {
            kind: ek.kind,
            publicSha256: toHex(createHash('sha256').update(ek.public.subarray(2)).digest()),
            certificate: ek.certificate !== undefined
          },
          deviceId,
          fingerprint: fingerprint(deviceId)
        }
        makeOutput(options.json === true).result(
          result,
          [
            `TPM:          ${info.manufacturer} ${info.vendor} firmware ${info.firmwareVersion} (spec ${info.specRevision})`,
            `PCR banks:    ${info.banks.join(', ')}`,
            `EK:           ${ek.kind}, certificate ${ek.certificate !== undefined ? 'in NV' : 'absent'}`,
            `deviceId:     ${deviceId}`,
            `fingerprint:  ${fingerprint(deviceId)}`
          ].join('\n')
        )
      } finally {
        await device.close()
      }
    })
}
