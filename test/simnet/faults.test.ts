/**
 * Faults under one agent process (`fleet run` on its own swtpm, set up by simnet's ProcessFleet).
 * Its TPM killed while it runs: what it must do is what a service manager can act on: fail the
 * calls that needed the TPM with typed errors, keep its store intact, exit non-zero with one clear
 * line (exit 75, which its unit restarts), and resume where it left off once started again on the TPM that came back. Its disk full:
 * the append refused with a typed error, the agent exiting 75 (its store takes no more writes
 * until reopened), nothing stored damaged, and appends durable again once space is freed.
 */
import assert from 'node:assert/strict'
import { haveSwtpm } from '../helpers/devices.js'
import { ProcessFleet, fleetCli, type ProcDevice } from '../../simnet/process-fleet.js'
import { AGENT_EXIT_RESTART } from '../../src/agent/index.js'

describe('simnet faults under one agent process', function () {
  this.timeout(120_000)
  let fleet: ProcessFleet
  let device: ProcDevice

  before(async function () {
    if (!haveSwtpm()) this.skip()
    fleet = await ProcessFleet.create()
    device = await fleet.addDevice('good')
    const { owner } = await fleet.enrol(device)
    assert.equal(owner.code, 0, owner.stderr)
  })

  after(async () => {
    await fleet?.close()
  })

  const appendTo = async (to: ProcDevice, detail: string): Promise<Record<string, unknown>> =>
    await fleet.control(to, {
      cmd: 'append',
      type: 'alert.tamper',
      actor: { id: 'simnet', role: 'agent' },
      body: { subject: to.deviceId, pcr: 7, detail }
    })
  const append = async (detail: string): Promise<Record<string, unknown>> => await appendTo(device, detail)

  it('a killed swtpm: the append fails with the TPM error, the agent exits 75 (restart) with one ERR_TPM line, its store verifies, and it resumes on the restarted TPM', async () => {
    await fleet.startAgent(device)
    const before = await append('before')
    assert.equal(before.sealed, true)
    const agent = device.agent!
    const exited = new Promise<number | null>((resolve) => agent.once('exit', (code) => resolve(code)))

    await fleet.killTpm(device)
    // The append that needed the TPM (to sign its checkpoint) is refused with the TPM's typed error.
    await assert.rejects(append('while dead'), { name: 'ControlError', code: 'ERR_TPM_UNAVAILABLE' })
    assert.equal(await exited, AGENT_EXIT_RESTART)
    const lines = device.stderr!()
      .split('\n')
      .filter((line) => line.includes('stopped answering'))
    assert.equal(lines.length, 1, device.stderr!())
    assert.match(lines[0]!, /^fleet: the TPM at swtpm:path=.* stopped answering \(ERR_TPM_(UNAVAILABLE|TIMEOUT)/)

    // Nothing stored is damaged, whatever was in flight.
    const verified = await fleetCli(['ledger', 'verify', '--state', device.state, '--fleet', fleet.fleetId])
    assert.equal(verified.code, 0, verified.stderr)

    // Started again while the TPM is still out: the same exit, for its unit to try again later.
    await assert.rejects(fleet.startAgent(device), /did not start \(exit 75\)/)

    // A TPM that comes back has rebooted (its PCRs reset): the device boots, the agent starts again.
    await fleet.restartTpm(device)
    await fleet.startAgent(device)
    const after = await append('after')
    assert.equal(after.sealed, true)
    assert.ok((after.seq as number) > (before.seq as number))
    await fleet.stopAgent(device)
    const again = await fleetCli(['ledger', 'verify', '--state', device.state, '--fleet', fleet.fleetId])
    assert.equal(again.code, 0, again.stderr)
  })

  it('a full disk: the append is refused with ERR_LEDGER_FULL, the agent exits 75 (restart) with one line, the store verifies, and the restarted agent keeps what it acknowledges', async function () {
    if (process.getuid?.() !== 0) {
      console.log('      (skipped: mounting a small tmpfs on the state directory needs root)')
      this.skip()
    }
    const small = await fleet.addDevice('good', { diskBytes: 16 * 1024 * 1024 })
    const { owner } = await fleet.enrol(small)
    assert.equal(owner.code, 0, owner.stderr)
    await fleet.startAgent(small)
    const before = await appendTo(small, 'before')
    assert.equal(before.sealed, true)
    const agent = small.agent!
    const exited = new Promise<number | null>((resolve) => agent.once('exit', (code) => resolve(code)))

    await fleet.fillDisk(small)
    await assert.rejects(appendTo(small, 'full'), { name: 'ControlError', code: 'ERR_LEDGER_FULL' })
    // LevelDB's log may now end in a partial record: records after it would be dropped when it is
    // replayed, so the agent takes no more writes and exits, to reopen the store when started again.
    assert.equal(await exited, AGENT_EXIT_RESTART)
    const lines = small.stderr!()
      .split('\n')
      .filter((line) => line.startsWith('fleet: '))
    assert.equal(lines.length, 1, small.stderr!())
    assert.match(
      lines[0]!,
      /^fleet: a write to the ledger store at .* failed \(.*No space left on device.*\): it takes no more writes/
    )
    const cli = await fleetCli([
      'ledger',
      'append',
      '--state',
      small.state,
      '--type',
      'alert.tamper',
      '--actor',
      'simnet',
      '--role',
      'agent',
      '--body',
      JSON.stringify({ subject: small.deviceId, pcr: 7, detail: 'full, from the CLI' })
    ])
    assert.equal(cli.code, 1, cli.stderr)
    assert.equal(cli.stderr.trim().split('\n').length, 1, cli.stderr)

    // Started again on the full disk: the same exit, for its unit to try again later.
    await assert.rejects(fleet.startAgent(small), /did not start \(exit 75\)/)

    await fleet.freeDisk(small)
    await fleet.startAgent(small)
    const after = await appendTo(small, 'after')
    assert.equal(after.sealed, true)
    assert.ok((after.seq as number) > (before.seq as number))
    // What the agent acknowledged after the full disk survives its next start (the regression:
    // records written after a failed one were dropped when LevelDB replayed its log).
    await fleet.stopAgent(small, 'SIGKILL')
    await fleet.startAgent(small)
    assert.ok((await fleet.status(small)).feed.sealed > (after.seq as number))
    await fleet.stopAgent(small)
    const verified = await fleetCli(['ledger', 'verify', '--state', small.state, '--fleet', fleet.fleetId])
    assert.equal(verified.code, 0, verified.stderr)
  })
})
