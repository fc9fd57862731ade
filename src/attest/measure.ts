import { createHash } from 'node:crypto'
import { readdir, readFile, stat } from 'node:fs/promises'
import path from 'node:path'
import { FleetError, bytesEqual, toHex } from '../common/index.js'
import { digest } from './pcrs.js'
import type { Tpm, TpmCallOptions } from './tpm/tpm.js'

/** PC Client resettable PCR, free for applications; the agent measures itself into it. */
export const DEFAULT_AGENT_PCR = 23
const MAX_BUNDLE_FILES = 20_000
const MAX_BUNDLE_BYTES = 512 * 1024 * 1024

export interface AgentMeasurement {
  /** SHA-256 over the bundle manifest and the config: what is extended into the agent PCR. */
  readonly digest: Uint8Array
  readonly bundleDigest: Uint8Array
  readonly configDigest: Uint8Array
  readonly files: number
}

/** Thrown when the agent PCR holds a value that is neither reset nor this agent's measurement. */
export class AgentMeasurementMismatchError extends FleetError {
  readonly pcr: number
  readonly found: string
  readonly expected: string
  constructor(pcr: number, found: Uint8Array, expected: Uint8Array) {
    super(
      `PCR ${pcr} already holds ${toHex(found)}, not this agent's measurement ${toHex(expected)}: ` +
        'the agent code or config changed since this boot measured it (reboot to measure the new agent)',
      { code: 'ERR_AGENT_MEASUREMENT_MISMATCH' }
    )
    this.pcr = pcr
    this.found = toHex(found)
    this.expected = toHex(expected)
  }
}

/**
 * Hashes the agent's code bundle (every file under `roots`, by relative path, in sorted order)
 * and its configuration. Any changed, added or removed file changes the digest.
 */
export async function measureAgent(roots: string[], config: Uint8Array): Promise<AgentMeasurement> {
  const manifest = createHash('sha256')
  let files = 0
  let bytes = 0
  for (const root of roots) {
    for (const file of await listFiles(root)) {
      const data = await readFile(file)
      files++
      bytes += data.length
      if (files > MAX_BUNDLE_FILES || bytes > MAX_BUNDLE_BYTES)
        throw new FleetError('the agent bundle is larger than the measurement limits', { code: 'ERR_BUNDLE_TOO_LARGE' })
      const name = path.relative(path.dirname(root), file).split(path.sep).join('/')
      manifest.update(name).update('\0').update(createHash('sha256').update(data).digest())
    }
  }
  const bundleDigest = new Uint8Array(manifest.digest())
  const configDigest = digest('sha256', config)
  return {
    digest: digest('sha256', Buffer.from('fleet-agent-measurement-v1\0'), bundleDigest, configDigest),
    bundleDigest,
    configDigest,
    files
  }
}

/**
 * Extends the agent PCR with the measurement, once per boot. If the PCR was already extended
 * with exactly this measurement (the agent restarted without a reboot), nothing is done; any
 * other non-reset value means another agent or config was measured this boot: refuse.
 *
 * Known limit: PCR 23 is resettable from locality 0, so this binds keys to the agent only
 * against processes without TPM access (see the threat model in docs/security.md).
 */
export async function extendAgentMeasurement(
  tpm: Tpm,
  measurement: AgentMeasurement,
  pcr = DEFAULT_AGENT_PCR,
  options: TpmCallOptions = {}
): Promise<Uint8Array> {
  const current = (await tpm.readPcrs([{ hash: 'sha256', pcrs: [pcr] }], options)).sha256?.get(pcr)
  if (current === undefined)
    throw new FleetError(`PCR ${pcr} is not readable in the sha256 bank`, { code: 'ERR_AGENT_PCR' })
  const expected = expectedAgentPcr(measurement)
  if (bytesEqual(current, expected)) return expected
  if (!bytesEqual(current, new Uint8Array(32))) throw new AgentMeasurementMismatchError(pcr, current, expected)
  await tpm.extendPcr(pcr, { sha256: measurement.digest }, options)
  return expected
}

/** The agent PCR value after one extension from reset: SHA-256(zeros ‖ measurement). */
export function expectedAgentPcr(measurement: AgentMeasurement): Uint8Array {
  return digest('sha256', new Uint8Array(32), measurement.digest)
}

async function listFiles(root: string): Promise<string[]> {
  const info = await stat(root)
  if (info.isFile()) return [root]
  const out: string[] = []
  const entries = await readdir(root, { withFileTypes: true })
  entries.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0))
  for (const entry of entries) {
    const full = path.join(root, entry.name)
    if (entry.isDirectory()) out.push(...(await listFiles(full)))
    else if (entry.isFile() && !entry.name.endsWith('.map')) out.push(full)
  }
  return out
}
