import assert from 'node:assert/strict'
import { slopePerHour } from '../../bench/memory.js'

/** The soak's slope: what a run of own-memory readings says per hour, and how sure it is. */
describe('bench/memory: the soak slope of own memory per hour', () => {
  it('a steady climb of 2 MB an hour is found, its interval around it; a flat line with noise holds 0', () => {
    const climb = Array.from({ length: 60 }, (_, i): [number, number] => [i * 60, 50 + (2 * i * 60) / 3600])
    const up = slopePerHour(climb)
    assert.ok(Math.abs(up.slope - 2) < 1e-9)
    assert.ok(up.low <= 2 && up.high >= 2)
    const noise = [0.3, -0.2, 0.1, -0.4, 0.2, 0.0, -0.1, 0.3, -0.3, 0.1]
    const flat = Array.from({ length: 60 }, (_, i): [number, number] => [i * 60, 50 + noise[i % noise.length]!])
    const level = slopePerHour(flat)
    assert.ok(level.low < 0 && level.high > 0, `interval ${level.low}..${level.high} holds 0`)
    assert.ok(
      Number.isNaN(
        slopePerHour([
          [0, 1],
          [60, 2]
        ]).slope
      ),
      'two readings say nothing'
    )
  })
})
