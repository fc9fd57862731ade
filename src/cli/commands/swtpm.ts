import type { Command } from 'commander'
import path from 'node:path'
import { writeFile } from 'node:fs/promises'
import { SwtpmDevice } from '../../attest/index.js'
import { UsageError } from '../../common/index.js'
import { bootDevice, BOOT_VARIANTS, type BootVariant } from '../../attest/index.js'
import { makeOutput } from '../output.js'
import { openTpm } from '../tpm-session.js'

/**
 * fleet swtpm start --dir D [--ca-dir C] [--json]
 * fleet swtpm stop --dir D
 * fleet swtpm boot --dir D [--variant good|tampered-kernel|secure-boot-off|extra-event|new-kernel] [--out FILE]
 * A software TPM device for trying the product without hardware.
 */
export function registerSwtpmCommands(program: Command): void {
  const swtpm = program
    .command('swtpm')
    .description('run a software TPM (swtpm) device for trying the product without hardware')

  swtpm
    .command('start')
    .description('provision (once) and start a software TPM in DIR; prints the TCTI to use')
    .requiredOption('--dir <dir>', 'folder for the device state, sockets and log')
    .option('--ca-dir <dir>', 'folder of the local CA that signs EK certificates (default DIR/ca)')
    .option('--json', 'print the result as JSON')
    .addHelpText(
      'after',
      '\nExample:\n  fleet swtpm start --dir /tmp/dev1 && fleet tpm info --tcti swtpm:path=/tmp/dev1/tpm.sock'
    )
    .action(async (options: { dir: string; caDir?: string; json?: boolean }) => {
      const device = new SwtpmDevice(
        options.caDir === undefined ? { dir: options.dir } : { dir: options.dir, caDir: options.caDir }
      )
      await device.start()
      const pid = await device.pid()
      makeOutput(options.json === true).result(
        { dir: device.dir, tcti: device.tcti, pid, caCertificates: device.caCertificateFiles },
        `software TPM running (pid ${pid ?? '?'})\nTCTI: ${device.tcti}\nEK certificate CA: ${device.caCertificateFiles.join(' ')}`
      )
    })

  swtpm
    .command('stop')
    .description('stop the software TPM in DIR (its state is kept)')
    .requiredOption('--dir <dir>', 'folder of the device')
    .addHelpText(
      'after',
      `
Example:
  fleet swtpm stop --dir /tmp/dev1                 # its state stays in /tmp/dev1`
    )
    .action(async (options: { dir: string }) => {
      await new SwtpmDevice({ dir: options.dir }).stop()
    })

  swtpm
    .command('boot')
    .description(
      'power-cycle the software TPM and run a simulated UEFI Secure Boot: extends PCRs 0-9 and writes the event log'
    )
    .requiredOption('--dir <dir>', 'folder of the device')
    .option('--variant <variant>', `one of ${BOOT_VARIANTS.join(', ')}`, 'good')
    .option('--out <file>', 'where to write the event log (default DIR/binary_bios_measurements)')
    .option('--json', 'print the result as JSON')
    .addHelpText('after', '\nExample:\n  fleet swtpm boot --dir /tmp/dev1 --variant tampered-kernel')
    .action(async (options: { dir: string; variant: string; out?: string; json?: boolean }) => {
      if (!(BOOT_VARIANTS as readonly string[]).includes(options.variant))
        throw new UsageError(`--variant must be one of ${BOOT_VARIANTS.join(', ')}`)
      const device = new SwtpmDevice({ dir: options.dir })
      await device.reboot()
      const tpm = await openTpm(device.tcti)
      try {
        const log = await bootDevice(tpm, options.variant as BootVariant)
        const out = options.out ?? path.join(device.dir, 'binary_bios_measurements')
        await writeFile(out, log)
        makeOutput(options.json === true).result(
          { tcti: device.tcti, variant: options.variant, eventLog: out },
          `booted (${options.variant}); event log: ${out}`
        )
      } finally {
        await tpm.close()
      }
    })
}
