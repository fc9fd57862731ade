/** fleet peers and fleet status: what the running agent says of itself and its peers, through its control socket. */
import type { Command } from 'commander'
import {
  controlRequest,
  ControlError,
  readPeersFile,
  type PeerStatus,
  type SinkStatus,
  type ResidentMemory
} from '../../agent/index.js'
import { readConsoleAddress } from '../../agent/console/address.js'
import { makeOutput } from '../output.js'

/** fleet peers --state DIR [--json] */
export function registerPeersCommand(program: Command): void {
  program
    .command('peers')
    .description("the running agent's peers: its latest verdict on each, and whether it is connected now")
    .requiredOption('--state <dir>', 'device state directory')
    .option('--all', 'also peers that never named a device (strangers), when not connected')
    .option('--json', 'print as JSON')
    .addHelpText(
      'after',
      `
Example:
  fleet peers --state /var/lib/fleet-agent
Asks the running agent. Without one it prints the last view the agent wrote (DIR/peers.json), says
how old it is, and exits 1. Exit codes: 0 the agent answered, 1 no agent is running, 2 bad usage.`
    )
    .action(async (options: { state: string; all?: boolean; json?: boolean }) => {
      const out = makeOutput(options.json === true)
      let peers: Array<PeerStatus & { online?: boolean }>
      try {
        const answer = await controlRequest(options.state, { cmd: 'status' }, 10_000)
        peers = (answer.status as { peers: Array<PeerStatus & { online: boolean }> }).peers
      } catch (err) {
        if (!(err instanceof ControlError) || err.code !== 'ERR_NO_AGENT') throw err
        const view = await readPeersFile<PeerStatus>(options.state)
        process.stderr.write(
          `fleet: no agent is running for ${options.state}${view.updatedAt === '' ? '' : `; its last view, from ${view.updatedAt}, follows (nobody is online)`}\n`
        )
        if (view.updatedAt !== '')
          out.result(
            { running: false, updatedAt: view.updatedAt, peers: view.peers },
            peersTable(view.peers, options.all === true)
          )
        process.exitCode = 1
        return
      }
      out.result({ running: true, peers }, peersTable(peers, options.all === true))
    })
}

/** The peers as a table with a header; strangers that are gone are left out unless `all`. */
export function peersTable(
  peers: Array<PeerStatus & { online?: boolean; via?: 'direct' | 'relay'; hub?: string }>,
  all: boolean
): string {
  const shown = peers.filter((p) => all || p.deviceId !== undefined || p.online === true)
  if (shown.length === 0) return 'no peers seen yet'
  const rows = shown.map((p) => [
    p.trusted ? 'trusted' : (p.kind ?? 'refused'),
    p.online === undefined ? '?' : p.online ? 'yes' : 'no',
    p.via === undefined ? '' : p.via === 'direct' ? 'direct' : `via hub ${(p.hub ?? '').slice(-8)}`,
    p.deviceId ?? '(no device)',
    p.hostname ?? '',
    p.at,
    p.reasons.join('; ')
  ])
  const header = ['VERDICT', 'ONLINE', 'REACHED', 'DEVICE', 'HOST', 'SINCE', 'REASONS']
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)))
  return [header, ...rows]
    .map((r) =>
      r
        .map((cell, i) => (i === r.length - 1 ? cell : cell.padEnd(widths[i]!)))
        .join('  ')
        .trimEnd()
    )
    .join('\n')
}

/** fleet status --state DIR [--json] */
export function registerStatusCommand(program: Command): void {
  program
    .command('status')
    .description('ask the running agent (its local control socket) for its state: peers, verdicts, feeds held')
    .requiredOption('--state <dir>', 'device state directory')
    .option('--json', 'print as JSON')
    .addHelpText(
      'after',
      "\nExample:\n  fleet status --state /var/lib/fleet-agent --json | jq '.peers[] | {deviceId, trusted, reasons}'\nExit codes: 0 the agent answered and its TPM answers, 1 no agent is running for this state directory or its TPM does not answer."
    )
    .action(async (options: { state: string; json?: boolean }) => {
      const answer = await controlRequest(options.state, { cmd: 'status' }, 10_000)
      const s = answer.status as {
        deviceId: string
        peerId: string
        fleetId: string
        feed: { size: number; sealed: number }
        heads: Record<string, number>
        peers: PeerStatus[]
        connections: number
        memory: ResidentMemory
        tpm: { tcti: string; answering: boolean; ms: number; error?: string }
        approvalPage?: string
        sinks?: SinkStatus[]
      }
      const text = [
        `device ${s.deviceId} in fleet ${s.fleetId}`,
        [
          `peerId ${s.peerId}; ${s.connections} connection(s); RSS ${(s.memory.rssBytes / 1048576).toFixed(0)} MiB`,
          s.memory.anonBytes === undefined ? '' : ` (own ${(s.memory.anonBytes / 1048576).toFixed(0)} MiB)`
        ].join(''),
        s.tpm.answering
          ? `TPM ${s.tpm.tcti}: answering (${s.tpm.ms} ms)`
          : `TPM ${s.tpm.tcti}: NOT ANSWERING: ${s.tpm.error ?? ''}`,
        `own feed: ${s.feed.size} entries, ${s.feed.sealed} sealed`,
        ...(s.approvalPage === undefined ? [] : [`approval page: ${s.approvalPage}`]),
        `feeds held: ${Object.entries(s.heads)
          .map(([feed, size]) => `${feed.slice(0, 12)}…=${size}`)
          .join(' ')}`,
        ...s.peers.map(
          (p) =>
            `  ${p.trusted ? 'trusted  ' : (p.kind ?? 'refused').padEnd(9)} ${p.deviceId ?? '?'} ${p.hostname ?? ''}`
        ),
        ...(s.sinks ?? []).map((sink) => sinkLine(sink))
      ].join('\n')
      makeOutput(options.json === true).result(s, text)
      if (!s.tpm.answering) process.exitCode = 1
    })
}

/** A sink in `fleet status`: what it took, what waits, and how it last went. */
export function sinkLine(sink: SinkStatus): string {
  const lines = [
    `sink ${sink.name} (${sink.kind} ${sink.target}): ${sink.delivered} delivered, backlog ${sink.backlog}, ${sink.failed} failed tries` +
      (sink.lastSuccessAt === undefined ? '' : `; last delivery ${sink.lastSuccessAt}`)
  ]
  if (sink.lastError !== undefined) lines.push(`  last error ${sink.lastError.at}: ${sink.lastError.message}`)
  if (sink.retryAt !== undefined) lines.push(`  next try ${sink.retryAt}`)
  return lines.join('\n')
}

/** fleet console --state DIR [--json] */
export function registerConsoleCommand(program: Command): void {
  program
    .command('console')
    .description("the address of the running agent's web console, with its sign-in token")
    .requiredOption('--state <dir>', 'device state directory')
    .option('--json', 'print as JSON')
    .addHelpText(
      'after',
      `
Example:
  fleet console --state /var/lib/fleet
Prints http://127.0.0.1:PORT/#token=… for a browser on this machine (the token stays in the
address's fragment, which the browser does not send). An operator the owner enrolled with a
security key signs in without the token at http://localhost:PORT/ (WebAuthn needs the name).
The console is on when the agent's config has "console": {"port": N}.
Exit codes: 0 printed, 1 no console is running, 2 bad usage.`
    )
    .action(async (options: { state: string; json?: boolean }) => {
      const { url, port } = await readConsoleAddress(options.state)
      makeOutput(options.json === true).result({ url, port, keySignIn: `http://localhost:${port}/` }, url)
    })
}
