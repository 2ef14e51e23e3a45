// The one request of the forward protocol (docs/forward-protocol.md), typed for
// both ends. Apart from protocol.ts so that what the core needs of forwarding
// (parsing endpoints, building call parameters) loads without the JSON-RPC library.
import { RequestType } from 'vscode-jsonrpc/node';
import type { ForwardCallParams, ForwardCallResult } from './protocol.js';

export const CallRequest = new RequestType<ForwardCallParams, ForwardCallResult, void>('trapdoor/call');
