/**
 * The TPMs a CLI command opened, closed when the command is interrupted (Ctrl-C, SIGTERM): a TPM
 * without a resource manager (swtpm, /dev/tpm0) keeps the objects a killed program loaded until
 * it restarts, so an interrupted `fleet join` or `fleet enrol` left the next `fleet run` without
 * object slots (TPM_RC_OBJECT_MEMORY). Closing flushes what the command loaded (EsysTpm.close,
 * within 2 s), then the command exits 130 (SIGINT) or 143 (SIGTERM). `fleet run` stops on its
 * own signals and does not use this.
 *
 * The set is process state on purpose: it belongs to the command line's one process, not to a module.
 */
import { EsysTpm } from '../attest/index.js'

const opened = new Set<EsysTpm>()
let watching = false

function interrupted(signal: NodeJS.Signals): void {
  const code = signal === 'SIGINT' ? 130 : 143
  void Promise.allSettled([...opened].map(async (tpm) => await tpm.close())).finally(() => process.exit(code))
}

/** EsysTpm.open, and closed on SIGINT/SIGTERM. */
export async function openTpm(tcti: string): Promise<EsysTpm> {
  if (!watching) {
    watching = true
    process.once('SIGINT', interrupted)
    process.once('SIGTERM', interrupted)
  }
  const tpm = await EsysTpm.open({ tcti })
  opened.add(tpm)
  return tpm
}
