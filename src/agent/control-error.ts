import { FleetError } from '../common/index.js'

/**
 * A request to the agent's control or gate socket refused: its code names why (ERR_BAD_REQUEST,
 * ERR_GATE_OFF, …). Exit 1, or 2 for a malformed request and for a refusal the agent judged a
 * usage or input error (its answer says so).
 */
export class ControlError extends FleetError {
  constructor(message: string, code = 'ERR_CONTROL', exitCode?: 1 | 2) {
    super(message, { code, exitCode: exitCode ?? (code === 'ERR_BAD_REQUEST' ? 2 : 1) })
  }
}
