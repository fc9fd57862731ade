import type { Command } from 'commander'
import { SwtpmDevice } from '../../attest/index.js'
import { makeOutput } from '../output.js'

/**
 * fleet swtpm start --dir D [--ca-dir C] [--json]
 * fleet swtpm stop --dir D
 * A software TPM device for trying the product without hardware.
 */
export function registerSwtpmCommands (program: Command): void {
  const swtpm = program.command('swtpm').description('run a software TPM (swtpm) device for trying the product without hardware')

  swtpm.command('start')
    .description('provision (once) and start a software TPM in DIR; prints the TCTI to use')
    .requiredOption('--dir <dir>', 'folder for the device state, sockets and log')
    .option('--ca-dir <dir>', 'folder of the local CA that signs EK certificates (default DIR/ca)')
    .option('--json', 'print the result as JSON')
    .addHelpText('after', '\nExample:\n  fleet swtpm start --dir /tmp/dev1 && fleet tpm info --tcti swtpm:path=/tmp/dev1/tpm.sock')
    .action(async (options: { dir: string, caDir?: string, json?: boolean }) => {
      const device = new SwtpmDevice(options.caDir === undefined ? { dir: options.dir } : { dir: options.dir, caDir: options.caDir })
      await device.start()
      const pid = await device.pid()
      makeOutput(options.json === true).result(
        { dir: device.dir, tcti: device.tcti, pid, caCertificates: device.caCertificateFiles },
        `software TPM running (pid ${pid ?? '?'})\nTCTI: ${device.tcti}\nEK certificate CA: ${device.caCertificateFiles.join(' ')}`)
    })

  swtpm.command('stop')
    .description('stop the software TPM in DIR (its state is kept)')
    .requiredOption('--dir <dir>', 'folder of the device')
    .action(async (options: { dir: string }) => {
      await new SwtpmDevice({ dir: options.dir }).stop()
    })
}
