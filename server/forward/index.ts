// Forwarding traps to an external firmware endpoint (docs/forward-protocol.md).
export { ForwardClient, createForwardClient } from './client.js';
export type { ForwardClientOptions, ForwardResult } from './client.js';
export { NO_ANSWER, parseEndpoint, toForwardParams, regsOf } from './protocol.js';
export { CallRequest } from './request.js';
export type { ForwardCallParams, ForwardCallResult, Endpoint } from './protocol.js';
export { startFirmwareStub, loadAnswerTable, parseAnswerTable, lookupAnswer, runFirmwareStubCli } from './stub.js';
export type { AnswerTable, AnswerTableJson, FirmwareStub, FirmwareStubOptions, CliIo } from './stub.js';
