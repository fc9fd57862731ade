/**
 * Interpreters: their digest names the interpreter, so the script their command line names is
 * recorded beside it, as the caller's own word, and only when argv[1] names one.
 */
import assert from 'node:assert/strict'
import { isInterpreter, parseCommandLine, scriptArgument } from '../../../src/agent/caller/index.js'

describe('agent/caller/interpreter: what an interpreter says it runs', () => {
  it('knows interpreters by the file name the kernel shows, deleted or not', () => {
    for (const exe of [
      '/usr/bin/node',
      '/opt/node-v24/bin/node',
      '/usr/bin/python3',
      '/usr/bin/python3.11',
      '/usr/bin/perl5.36.0',
      '/bin/bash',
      '/bin/sh',
      '/tmp/x/node (deleted)'
    ])
      assert.ok(isInterpreter(exe), exe)
    for (const exe of ['/usr/bin/fleet', '/usr/bin/nodes', '/usr/bin/python-config', '/usr/sbin/sshd', '/node/bin/app'])
      assert.ok(!isInterpreter(exe), exe)
  })

  it('splits /proc/PID/cmdline at its NULs, keeping empty arguments', () => {
    const bytes = new TextEncoder().encode('/usr/bin/node\0/srv/app.js\0\0--port\0')
    assert.deepEqual(parseCommandLine(bytes), ['/usr/bin/node', '/srv/app.js', '', '--port'])
    assert.deepEqual(parseCommandLine(new TextEncoder().encode('cut-off')), ['cut-off'])
    assert.deepEqual(parseCommandLine(new Uint8Array(0)), [])
  })

  it('takes argv[1] as the script, unless it is an option (then no one argument names the program)', () => {
    assert.equal(scriptArgument(['node', '/srv/app.js', '--port', '1']), '/srv/app.js')
    assert.equal(scriptArgument(['python3', 'tool.py']), 'tool.py')
    assert.equal(scriptArgument(['node', '-e', 'evil()']), undefined)
    assert.equal(scriptArgument(['node', '--require', './preload.js', 'app.js']), undefined)
    assert.equal(scriptArgument(['python3', '-m', 'http.server']), undefined)
    assert.equal(scriptArgument(['node']), undefined)
    assert.equal(scriptArgument(['node', '']), undefined)
  })
})
