/**
 * The fleet agent. Each folder is a room with one concept, its index.ts its surface:
 *   ops/         configuration, logging, process memory upkeep
 *   owner/       the fleet owner's genesis and keys
 *   release/     owner-approved key release for new boot states
 *   device/      this device's state file and TPM-bound identity
 *   enrolment/   the owner-signed enrolment record and the ceremony that makes it
 *   feeds/       the own ledger feed and the proven identity of any feed
 *   attestation/ mutual attestation of every connection
 *   membership/  members, enrolled actors, owner statements, witnessing, quarantine
 *   replication/ sync messages, the pure planner, the replicator, gossip
 *   approvals/   actions signed by their actor's own hardware: prepared statements, the approval page
 *   gate/        workloads run only on a device in good standing, with secrets sealed in its TPM
 *   ear/         attestation results (EAR JWTs) about attested peers, and the fleet's JWKS
 *   sinks/       verdicts, alerts, revocations and workload stops out to webhooks and syslog
 * and at the top the agent itself (createAgent), its control socket, metrics and the service
 * that runs it on a device (startDeviceAgent).
 *
 * @example
 * const agent = await createAgent({ tpm, logger }, { dir, state, device, enrolment, eventLog, listen: ['/ip4/0.0.0.0/tcp/7000'] })
 * await agent.start()
 * // … agent.heads(), agent.attestation.list() …
 * await agent.stop()
 */
export * from './ops/index.js'
export { AgentStartError } from './start-error.js'
export * from './owner/index.js'
export * from './release/index.js'
export * from './device/index.js'
export * from './enrolment/index.js'
export * from './feeds/index.js'
export * from './attestation/index.js'
export * from './membership/index.js'
export * from './replication/index.js'
export * from './approvals/index.js'
export * from './gate/index.js'
export * from './ear/index.js'
export * from './sinks/index.js'
export * from './external-witness/index.js'
export * from './hubs/index.js'
export { Agent } from './agent.js'
export { createAgent } from './create-agent.js'
export { fleetServiceTag, type AgentComponents, type AgentInit } from './components.js'
export {
  startControlServer,
  controlRequest,
  bodyFromJson,
  ControlError,
  CONTROL_SOCKET,
  type ControlRequestContext,
  type ControlServerInit
} from './control.js'
export { startGateSocket, gateRequest, type GateSocketInit } from './gate-socket.js'
export { agentStatus, residentMemory, procStatusMemory, type ResidentMemory } from './status.js'
export {
  startDeviceAgent,
  startAgentGate,
  AGENT_BUFFER_POOL_BYTES,
  AGENT_EXIT_RESTART,
  type DeviceAgentInit,
  type RunningDevice
} from './service.js'
