/**
 * eventlog-replay: parse + replay of a real ~34 KB log (rhel8-uefi from ../shared/testdata) per
 * second in process, against tpm2_eventlog run once per log on the same file.
 */
import { execFile } from 'node:child_process'
import { readFileSync } from 'node:fs'
import { promisify } from 'node:util'
import { parseEventLog, replayEventLog } from '../src/attest/index.js'
import { type Bench, nowMs, round } from './types.js'

const run = promisify(execFile)
const FILE = '../shared/testdata/eventlogs/rhel8-uefi.bin'
const PEER_RUNS = 30

export const eventlogReplayBench: Bench = {
  name: 'eventlog-replay',
  description: `parse+replay/s of ${FILE} in process vs tpm2_eventlog per log`,
  async run(report) {
    const bytes = new Uint8Array(readFileSync(FILE))
    const rate = (banks: Array<'sha1' | 'sha256'> | undefined): number => {
      let count = 0
      const start = nowMs()
      while (nowMs() - start < 2_000) {
        replayEventLog(parseEventLog(bytes), { banks })
        count++
      }
      return count / ((nowMs() - start) / 1000)
    }
    // Warm up the JIT on both paths before timing either.
    const warmUntil = nowMs() + 500
    while (nowMs() < warmUntil) replayEventLog(parseEventLog(bytes))
    const allBanks = rate(undefined)
    const quotedBank = rate(['sha256'])
    const peerStart = nowMs()
    for (let i = 0; i < PEER_RUNS; i++) await run('tpm2_eventlog', [FILE], { maxBuffer: 64 * 1024 * 1024 })
    const peer = PEER_RUNS / ((nowMs() - peerStart) / 1000)
    const peerName = 'tpm2_eventlog (per log, all banks)'
    // all-banks replays every bank of the log (SHA-1, SHA-256, SHA-384 here) like the peer; sha256-bank is what a verifier of a
    // sha256 quote does (verifyEventLog replays quoted banks only).
    report({
      bench: 'eventlog-replay',
      metric: 'all-banks',
      value: round(allBanks, 0),
      unit: 'replays/s',
      peer: peerName,
      peerValue: round(peer, 1),
      ratio: round(allBanks / peer, 1),
      logBytes: bytes.length
    })
    report({
      bench: 'eventlog-replay',
      metric: 'sha256-bank',
      value: round(quotedBank, 0),
      unit: 'replays/s',
      peer: peerName,
      peerValue: round(peer, 1),
      ratio: round(quotedBank / peer, 1),
      logBytes: bytes.length
    })
  }
}
