import type { Command } from 'commander'
import { createReadStream, existsSync } from 'node:fs'
import { open as openFile, rename } from 'node:fs/promises'
import path from 'node:path'
import { createInterface } from 'node:readline'
import {
  feedIdentityOf,
  feedIdentityFromTrust,
  knownFeedKeys,
  storedOntology,
  storedWitnessRecords,
  witnessKeysFromHeader,
  storedOntologyProofs,
  ontologyFromHeader,
  storedEpochs,
  storedEpochProofs,
  epochsFromHeader,
  storedActors,
  storedActorProofs,
  makeProofFile,
  PROOF_FILE_FORMAT,
  actorsFromHeader,
  ownFeedActors,
  MAX_ACTOR_STATEMENTS_PER_ACTOR,
  type CloneReport
} from '../../agent/index.js'
import {
  BASE_ONTOLOGY,
  decodeEntry,
  verifyStoredFeed,
  exportFeed,
  verifyExport,
  EXPORT_LIMITS,
  verifyProofBundle,
  FeedVerificationError,
  ReplicaStore,
  ownFeedSource,
  verifyCheckpoint,
  parseCheckpoint,
  verifyActorProofs,
  EXPORT_FORMAT,
  EXPORT_FORMATS,
  isExportFormat
} from '../../ledger/index.js'
import { FleetError, MalformedInputError, UsageError, toHex } from '../../common/index.js'
import { jsonReplacer, makeOutput, makeProgress } from '../output.js'
import { readInputFile } from '../options.js'
import { registerLedgerAppendCommand } from './ledger-append.js'
import { openStore } from '../ledger-store.js'
import { feedSummary } from './ledger-summary.js'

/** A cloned security key found while verifying: the feed still verifies (the entries are genuinely signed), but say so. */
function warnClone(clone: CloneReport): void {
  process.stderr.write(
    `warning: ${clone.actorId}'s security key signed entry ${clone.seq} of feed ${clone.feed} with counter ${clone.counter}, ` +
      `not above ${clone.against.counter} at entry ${clone.against.seq} of feed ${clone.against.feed}: it may be cloned\n`
  )
}

function parseSeq(text: string): number {
  if (!/^\d{1,15}$/.test(text)) throw new UsageError('--seq must be a non-negative integer')
  return Number(text)
}

async function* fileLines(file: string): AsyncGenerator<string> {
  if (!existsSync(file)) throw new MalformedInputError(`cannot read ${file}: no such file`)
  const lines = createInterface({ input: createReadStream(file, { encoding: 'utf8' }), crlfDelay: Infinity })
  for await (const line of lines) yield line
}

/**
 * fleet ledger append --state DIR --type T --actor ID [--role R] --body JSON [--tcti T]
 *     [--pin-fd N | --pin-credential NAME] [--pkcs11 MODULE --token LABEL [--key-label L]
 *     [--actor-pin-fd N | --actor-pin-credential NAME] | --webauthn] [--json]     (ledger-append.ts)
 * fleet ledger tail --state DIR [-n N] [--json]
 * fleet ledger verify (--state DIR | --export FILE [--fleet ID]) [--json]
 * fleet ledger export --state DIR --out FILE.jsonl
 * fleet ledger proof --state DIR --seq N [--out FILE] [--json]
 * fleet ledger verify-proof FILE [--fleet ID] [--json]
 */
export function registerLedgerCommands(program: Command): void {
  const ledger = program
    .command('ledger')
    .description('the audit ledger: typed, attested actions in signed, verifiable feeds')

  registerLedgerAppendCommand(ledger)

  ledger
    .command('tail')
    .description(
      'show the newest entries of a feed in a state directory (its own, or a replica it holds), with how many witnesses cosigned them'
    )
    .requiredOption('--state <dir>', 'device or owner state directory')
    .option('--feed <id>', 'a feed this device holds a replica of (default: its own)')
    .option('-n, --count <n>', 'how many entries', '10')
    .option('--json', 'print one JSON object per entry')
    .addHelpText(
      'after',
      `
Example:
  fleet ledger tail --state /var/lib/fleet-agent -n 20
"cosigned" counts the fleet devices whose cosignature on a checkpoint covering the entry verifies:
they checked that checkpoint against every earlier one they held.`
    )
    .action(async (options: { state: string; feed?: string; count: string; json?: boolean }) => {
      if (!/^\d{1,6}$/.test(options.count)) throw new UsageError('-n must be a number')
      if (options.feed !== undefined && !/^[a-z2-7]{52}$/.test(options.feed))
        throw new UsageError('--feed must be a feed id (52 base32 characters)')
      const identity = await feedIdentityOf(options.state)
      const store = await openStore(options.state)
      try {
        const feed = options.feed ?? identity.feedId
        const replicas = new ReplicaStore(store)
        if (feed !== identity.feedId && !(await replicas.feeds()).has(feed))
          throw new FleetError(`${options.state} holds no replica of feed ${feed}`, { code: 'ERR_UNKNOWN_FEED' })
        const source = feed === identity.feedId ? ownFeedSource(store, feed) : replicas.source(feed)
        const keys = await knownFeedKeys(store, identity)
        const key = keys.get(feed)
        const witnesses = new Map([...keys].filter(([id]) => id !== feed))
        const entries = (await source.tail(Number(options.count))).map((bytes) => decodeEntry(bytes))
        const first = entries[0]?.entry.seq ?? 0
        // Witnesses of each entry: every verified cosigner of a checkpoint covering it.
        const covering = await source.checkpointsCovering(first)
        const sealed = covering.at(-1)?.size ?? (await source.sealed())?.size ?? 0
        const cosigners: Array<{ size: number; names: Set<string> }> = []
        let union = new Set<string>()
        for (const checkpoint of covering.reverse()) {
          if (key !== undefined) {
            try {
              union = new Set([
                ...union,
                ...verifyCheckpoint(parseCheckpoint(checkpoint.note), { name: feed, key }, witnesses).cosigners
              ])
            } catch {
              // A stored checkpoint that does not verify adds no witness (fleet ledger verify reports it).
            }
          }
          cosigners.unshift({ size: checkpoint.size, names: union })
        }
        const witnessesOf = (seq: number): number => cosigners.find((c) => c.size > seq)?.names.size ?? 0
        const rows = entries.map(({ entry, hash }) => ({
          seq: entry.seq,
          time: new Date(entry.time).toISOString(),
          type: entry.type,
          actor: entry.actor,
          device: entry.device,
          body: entry.body,
          hash: toHex(hash),
          sealed: entry.seq < sealed,
          cosigned: witnessesOf(entry.seq)
        }))
        const out = makeOutput(options.json === true)
        if (out.json) {
          for (const row of rows) process.stdout.write(`${JSON.stringify(row, jsonReplacer)}\n`)
        } else {
          process.stdout.write(
            `feed ${feed} (${feed === identity.feedId ? identity.kind : 'replica'}), sealed up to ${sealed}\n`
          )
          for (const row of rows)
            process.stdout.write(
              `${[
                String(row.seq).padStart(6),
                row.time,
                row.sealed ? 'sealed ' : 'pending',
                `cosigned ${String(row.cosigned).padStart(2)}`,
                `${row.type.padEnd(24)} ${row.actor.id} (${row.actor.role})`,
                JSON.stringify(row.body, jsonReplacer).slice(0, 120)
              ].join('  ')}\n`
            )
        }
      } finally {
        await store.close()
      }
    })

  ledger
    .command('verify')
    .description(
      "re-verify a feed from the owner's root: every entry, the chain, the tree, every checkpoint signature and ontology rule"
    )
    .option('--state <dir>', 'device or owner state directory')
    .option('--export <file>', 'an export made by fleet ledger export (instead of --state)')
    .option('--fleet <fleetId>', 'the fleet the export must belong to (pins the root of trust)')
    .option('--json', 'print the report as JSON')
    .addHelpText(
      'after',
      `
Example:
  fleet ledger verify --export feed.jsonl --fleet FLEETID
Prints a summary to paste into a report: the fleet, entries, their time span, checkpoints,
witnesses, and the first and last entry (--json: the same as fields). An export's derived views
(fleet-export/2) are checked against the entries' bytes: one that says anything else fails.

Exit codes: 0 verified, 1 a check failed (the first failure on stderr), 2 bad usage or unreadable input.`
    )
    .action(async (options: { state?: string; export?: string; fleet?: string; json?: boolean }) => {
      if ((options.state === undefined) === (options.export === undefined))
        throw new UsageError('give exactly one of --state and --export')
      if (options.fleet !== undefined && !/^[0-9a-f]{64}$/.test(options.fleet))
        throw new UsageError('--fleet must be a fleetId (64 hex digits)')
      const out = makeOutput(options.json === true)
      if (options.state !== undefined) {
        const identity = await feedIdentityOf(options.state)
        if (options.fleet !== undefined && toHex(identity.fleetId) !== options.fleet)
          throw new FeedVerificationError(`this feed belongs to fleet ${toHex(identity.fleetId)}, not ${options.fleet}`)
        const store = await openStore(options.state)
        const progress = makeProgress(`verifying feed ${identity.feedId.slice(0, 12)}…`, {
          enabled: options.json !== true
        })
        try {
          const witnesses = new Map(
            [...(await knownFeedKeys(store, identity))].filter(([id]) => id !== identity.feedId)
          )
          const report = await verifyStoredFeed(
            store,
            {
              fleetId: identity.fleetId,
              feedId: identity.feedId,
              key: identity.feedKey,
              ontology: await storedOntology(store, identity),
              witnesses,
              epochs: await storedEpochs(store, identity),
              actors: await storedActors(store, identity, { onClone: warnClone })
            },
            { onProgress: (entries) => progress.update(entries) }
          )
          progress.end()
          out.result(
            { verified: true, fleetId: toHex(identity.fleetId), feed: identity.feedId, ...report },
            feedSummary(
              `verified feed ${identity.feedId} (${identity.kind})`,
              `${toHex(identity.fleetId)}${options.fleet === undefined ? '' : ' (pinned with --fleet)'}`,
              report
            )
          )
        } finally {
          progress.end()
          await store.close()
        }
        return
      }
      const lines = fileLines(options.export!)
      const first = await lines.next()
      if (first.done === true) throw new MalformedInputError(`${options.export} is empty`)
      if (first.value.length > EXPORT_LIMITS.maxHeaderLength)
        throw new MalformedInputError(
          `${options.export}: the header line is longer than ${EXPORT_LIMITS.maxHeaderLength} characters`
        )
      let header: {
        format?: unknown
        feed?: unknown
        trust?: unknown
        witnesses?: unknown
        ontology?: unknown
        epochs?: unknown
        actors?: unknown
      }
      try {
        header = JSON.parse(first.value) as typeof header
      } catch {
        throw new MalformedInputError(`${options.export}: the first line is not a JSON header`)
      }
      const format = header?.format
      if (!isExportFormat(format) || typeof header.feed !== 'string')
        throw new MalformedInputError(`${options.export}: not a ${EXPORT_FORMATS.join(' or ')} file`)
      const identity = feedIdentityFromTrust(header.trust, header.feed, options.fleet)
      const witnesses = witnessKeysFromHeader(header.witnesses, identity)
      const ontology = ontologyFromHeader(header.ontology, identity)
      const epochs = epochsFromHeader(header.epochs, identity)
      const actors = actorsFromHeader(header.actors, identity, { onClone: warnClone })
      const progress = makeProgress(`verifying ${path.basename(options.export!)}`, { enabled: options.json !== true })
      const report = await verifyExport(
        lines,
        {
          feedKey: identity.feedKey,
          fleetId: identity.fleetId,
          feedId: identity.feedId,
          ontology,
          witnesses,
          epochs,
          actors
        },
        { format, onProgress: (entries) => progress.update(entries) }
      ).finally(() => progress.end())
      out.result(
        {
          verified: true,
          fleetId: toHex(identity.fleetId),
          feed: identity.feedId,
          pinned: options.fleet !== undefined,
          format,
          ...report
        },
        feedSummary(
          `verified export of feed ${identity.feedId} (${format})`,
          `${toHex(identity.fleetId)}${options.fleet === undefined ? ' (not pinned: pass --fleet)' : ' (pinned with --fleet)'}`,
          report
        )
      )
    })

  ledger
    .command('export')
    .description("write the feed as JSON lines, with the trust chain from the fleet's genesis, for offline audit")
    .requiredOption('--state <dir>', 'device or owner state directory')
    .requiredOption('--out <file>', 'output file (.jsonl)')
    .addHelpText(
      'after',
      `
Example:
  fleet ledger export --state /var/lib/fleet-agent --out feed.jsonl
Each entry line carries the entry's signed bytes and, under "derived", what they decode to (type,
actor, device, time, body; bytes as {"hex": …}), for reading with jq; fleet ledger verify --export
checks the view against the bytes. For example, every record dr.smith accessed:

  jq -r 'select(.derived.type == "operator.data_access" and .derived.actor.id == "dr.smith")
         | [.derived.time, .derived.body.resource] | @tsv' feed.jsonl`
    )
    .action(async (options: { state: string; out: string }) => {
      const identity = await feedIdentityOf(options.state)
      const store = await openStore(options.state)
      const temp = `${options.out}.tmp-${process.pid}`
      try {
        const file = await openFile(temp, 'w', 0o644)
        let lines = 0
        try {
          const witnesses = await storedWitnessRecords(store)
          const ontology = await storedOntologyProofs(store, identity)
          const epochs = await storedEpochProofs(store, identity)
          const actors = await storedActorProofs(store, identity, await ownFeedActors(store))
          await file.write(
            `${JSON.stringify({
              format: EXPORT_FORMAT,
              fleet: toHex(identity.fleetId),
              feed: identity.feedId,
              trust: identity.trust,
              ...(witnesses.length === 0 ? {} : { witnesses }),
              ...(ontology.length === 0 ? {} : { ontology }),
              ...(epochs.length === 0 ? {} : { epochs }),
              ...(actors.length === 0 ? {} : { actors })
            })}\n`
          )
          const progress = makeProgress(`exporting feed ${identity.feedId.slice(0, 12)}…`)
          try {
            for await (const line of exportFeed(store, { feedId: identity.feedId })) {
              await file.write(`${JSON.stringify(line)}\n`)
              lines++
              progress.update(lines)
            }
          } finally {
            progress.end()
          }
          await file.sync()
        } finally {
          await file.close()
        }
        await rename(temp, options.out)
        process.stderr.write(`exported ${lines} lines of feed ${identity.feedId} to ${options.out}\n`)
      } finally {
        await store.close()
      }
    })

  ledger
    .command('proof')
    .description(
      'a self-contained proof that one entry is in the feed: the entry, its inclusion proof, the signed checkpoint and the trust chain'
    )
    .requiredOption('--state <dir>', 'device or owner state directory')
    .requiredOption('--seq <n>', 'the entry')
    .option('--feed <id>', "the feed (default: the state directory's own)")
    .option('--out <file>', 'write the proof here (default: stdout)')
    .addHelpText(
      'after',
      `
Example:
  fleet ledger proof --state /var/lib/fleet-agent --seq 42 --out entry-42.json`
    )
    .action(async (options: { state: string; seq: string; feed?: string; out?: string }) => {
      const seq = parseSeq(options.seq)
      const identity = await feedIdentityOf(options.state)
      if (options.feed !== undefined && options.feed !== identity.feedId)
        throw new UsageError(`${options.state} holds feed ${identity.feedId} only`)
      const store = await openStore(options.state)
      try {
        // An actor's action goes with the owner's statements about the actor: who they are, their key.
        const text = `${JSON.stringify(await makeProofFile(store, identity, seq), null, 2)}\n`
        if (options.out === undefined) process.stdout.write(text)
        else {
          const { writeFile } = await import('node:fs/promises')
          await writeFile(options.out, text)
        }
      } finally {
        await store.close()
      }
    })

  ledger
    .command('verify-proof')
    .description('check a proof made by fleet ledger proof, offline')
    .argument('<file>', 'the proof file')
    .option('--fleet <fleetId>', 'the fleet the proof must belong to (pins the root of trust)')
    .option('--json', 'print the result as JSON')
    .addHelpText(
      'after',
      '\nExample:\n  fleet ledger verify-proof entry-42.json --fleet FLEETID\nExit codes: 0 the entry is in the signed feed, 1 a check failed, 2 unreadable input.'
    )
    .action(async (file: string, options: { fleet?: string; json?: boolean }) => {
      if (options.fleet !== undefined && !/^[0-9a-f]{64}$/.test(options.fleet))
        throw new UsageError('--fleet must be a fleetId (64 hex digits)')
      const text = Buffer.from(await readInputFile(file, 'proof', 1024 * 1024)).toString('utf8')
      let value: { format?: unknown; trust?: unknown; bundle?: { feed?: unknown }; actors?: unknown }
      try {
        value = JSON.parse(text) as typeof value
      } catch {
        throw new MalformedInputError(`${file} is not JSON`)
      }
      if (value?.format !== PROOF_FILE_FORMAT || typeof value.bundle?.feed !== 'string')
        throw new MalformedInputError(`${file}: not a ${PROOF_FILE_FORMAT} file`)
      const identity = feedIdentityFromTrust(value.trust, value.bundle.feed, options.fleet)
      const proof = verifyProofBundle(value.bundle, {
        feedKey: identity.feedKey,
        ontology: BASE_ONTOLOGY,
        fleetId: identity.fleetId
      })
      const actors = actorsFromHeader(value.actors, identity, {}, MAX_ACTOR_STATEMENTS_PER_ACTOR)
      await verifyActorProofs([proof.entry], actors).catch((err: unknown) => {
        throw new FeedVerificationError(`entry ${proof.seq}: ${(err as Error).message}`, { seq: proof.seq, cause: err })
      })
      const actor = actors.get(proof.entry.actor.id)
      makeOutput(options.json === true).result(
        {
          verified: true,
          fleetId: toHex(identity.fleetId),
          pinned: options.fleet !== undefined,
          feed: proof.feed,
          seq: proof.seq,
          checkpointSize: proof.checkpointSize,
          root: proof.root,
          entry: proof.entry,
          ...(proof.entry.v === 2 && actor !== undefined
            ? { actor: { id: actor.actorId, kind: actor.kind, hardware: actor.hardware } }
            : {})
        },
        `verified: entry ${proof.seq} (${proof.entry.type} by ${proof.entry.actor.id}) is in feed ${proof.feed} ` +
          `under a checkpoint of ${proof.checkpointSize} entries signed by its TPM and ML-DSA-65 keys` +
          (proof.entry.v === 2 && actor !== undefined
            ? `; the actor signed it with their enrolled ${actor.kind} key (${actor.hardware})`
            : '') +
          (options.fleet === undefined ? ' (fleet not pinned: pass --fleet)' : '')
      )
    })
}
