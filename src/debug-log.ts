/**
 * `NODE_DEBUG=etcd-ts` prints the client's diagnostics messages as one-line logs on stderr
 * (through `util.debuglog`, as Node's own modules and undici do), so fail-overs, retries and
 * resumes can be seen without writing code. Loaded by both transports; costs nothing when
 * the variable does not name etcd-ts.
 */
import { subscribe } from "node:diagnostics_channel";
import { debuglog } from "node:util";
import {
  diagnosticsChannels as C,
  type AuthTokenMessage,
  type CallEndMessage,
  type CallErrorMessage,
  type CallRetryMessage,
  type CallStartMessage,
  type DiagnosticsChannelName,
  type ElectionLeaderMessage,
  type EndpointStateMessage,
  type LeaseLateMessage,
  type LeaseMessage,
  type LockMessage,
  type StreamBreakMessage,
  type StreamOpenMessage,
  type WatchMessage,
} from "./diagnostics.js";
import type { EtcdError } from "./errors.js";

const text = (b: Uint8Array): string => JSON.stringify(Buffer.from(b.buffer, b.byteOffset, b.byteLength).toString());
const range = (m: WatchMessage): string => (m.rangeEnd.length === 0 ? text(m.key) : `[${text(m.key)}, ${text(m.rangeEnd)})`);
const ms = (n: number): string => `${n < 10 ? n.toFixed(1) : Math.round(n)} ms`;
const err = (e: EtcdError): string => `${e.code}: ${e.message}`;
const on = (endpoint: string | undefined): string => (endpoint ? ` on ${endpoint}` : "");

/** One line per message. */
const lines: { [K in DiagnosticsChannelName]: (m: never) => string } = {
  [C.callStart]: ({ call }: CallStartMessage) => `call #${call.id} ${call.rpc} started`,
  [C.callRetry]: ({ call, attempt, endpoint, error }: CallRetryMessage) =>
    `call #${call.id} ${call.rpc} attempt ${attempt}${on(endpoint)} failed (${err(error)}); trying again`,
  [C.callEnd]: ({ call, endpoint, attempts, durationMs }: CallEndMessage) =>
    `call #${call.id} ${call.rpc} ok${on(endpoint)} in ${ms(durationMs)}${attempts > 1 ? ` after ${attempts} attempts` : ""}`,
  [C.callError]: ({ call, endpoint, attempts, durationMs, error }: CallErrorMessage) =>
    `call #${call.id} ${call.rpc} failed${on(endpoint)} after ${attempts} attempt${attempts === 1 ? "" : "s"}, ${ms(durationMs)}: ${err(error)}`,
  [C.endpointState]: ({ endpoint, state, avoidMs, reason }: EndpointStateMessage) =>
    `endpoint ${endpoint} ${state}${avoidMs !== undefined ? ` (avoided for ${ms(avoidMs)})` : ""}${reason ? `: ${reason}` : ""}`,
  [C.streamOpen]: ({ rpc, endpoint, reopened }: StreamOpenMessage) => `stream ${rpc} ${reopened ? "re-opened" : "opened"}${on(endpoint)}`,
  [C.streamBreak]: ({ rpc, endpoint, error, willReopen }: StreamBreakMessage) =>
    `stream ${rpc}${on(endpoint)} ${error ? `broke (${err(error)})` : "abandoned"}${willReopen ? "; re-opening" : ""}`,
  [C.watchCreated]: (m: WatchMessage) => `watch ${range(m)} created${on(m.endpoint)}${m.startRevision ? ` from revision ${m.startRevision}` : ""}`,
  [C.watchResumed]: (m: WatchMessage) => `watch ${range(m)} resumed${on(m.endpoint)} from revision ${m.startRevision}`,
  [C.watchPaused]: (m: WatchMessage) => `watch ${range(m)} paused: its consumer is behind`,
  [C.watchCompacted]: (m: WatchMessage) => `watch ${range(m)} compacted at revision ${m.compactRevision}`,
  [C.watchCancelled]: (m: WatchMessage) => `watch ${range(m)} cancelled${m.reason ? `: ${m.reason}` : ""}`,
  [C.leaseKept]: ({ id, ttl }: LeaseMessage) => `lease ${id.toString(16)} kept alive, TTL ${ttl} s`,
  [C.leaseReleased]: ({ id }: LeaseMessage) => `lease ${id.toString(16)} no longer kept alive`,
  [C.leaseLate]: ({ endpoint, moves }: LeaseLateMessage) => `lease keep-alives late${on(endpoint)}; moving to another member (move ${moves})`,
  [C.leaseLost]: ({ id, reason }: LeaseMessage) => `lease ${id.toString(16)} lost: ${reason}`,
  [C.authToken]: ({ username }: AuthTokenMessage) => `logged in as ${JSON.stringify(username)}`,
  [C.lockWait]: ({ key }: LockMessage) => `lock ${text(key)} waiting`,
  [C.lockAcquired]: ({ key, waitedMs }: LockMessage) => `lock ${text(key)} acquired after ${ms(waitedMs ?? 0)}`,
  [C.lockLost]: ({ key }: LockMessage) => `lock ${text(key)} lost`,
  [C.electionLeader]: ({ election, key, revision }: ElectionLeaderMessage) => `election ${text(election)} leader ${text(key)} at revision ${revision}`,
};

const log = debuglog("etcd-ts");
if (log.enabled) {
  for (const [name, line] of Object.entries(lines) as Array<[DiagnosticsChannelName, (m: unknown) => string]>) {
    subscribe(name, (m) => log("%s", line(m)));
  }
}
