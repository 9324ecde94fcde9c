/** Maintenance: status, health, alarms, defragment, hashes, leader moves and snapshots. */
import { randomBytes } from "node:crypto";
import { open, rename, unlink } from "node:fs/promises";
import type { Writable } from "node:stream";
import { EtcdError, InvalidArgumentError } from "./errors.js";
import * as M from "./methods.js";
import { rangeRequest } from "./op.js";
import { header } from "./results.js";
import { AlarmRequest_AlarmAction, AlarmType } from "./rpc/etcdserverpb/rpc.js";
import { abortedError } from "./transport/abort.js";
import { callOptions, STREAM_WINDOW, type Transport } from "./transport/transport.js";
import type { ResponseHeader } from "./types.js";
import { memberId, nonNegative } from "./validate.js";
import type { CallOptions, Int64, SnapshotOptions } from "./options.js";

/**
 * One member's status, from `status(endpoint)`.
 *
 * @category Cluster administration
 */
export interface MemberStatus {
  /** The endpoint asked, as passed to `status`. */
  endpoint: string;
  /** The answering member's id (`header.memberId`) and its current revision. */
  header: ResponseHeader;
  /** etcd's version, e.g. "3.4.23". */
  version: string;
  /** Size of the backend database file in bytes. */
  dbSize: bigint;
  /** Bytes of the database in use (the rest is reclaimable by defragment). */
  dbSizeInUse: bigint;
  /** Member id of the raft leader (0n when there is none). */
  leader: bigint;
  /** True when the member is a non-voting learner. */
  isLearner: boolean;
  /** The raft log index the member has committed. */
  raftIndex: bigint;
  /** The member's raft term; it grows with every election. */
  raftTerm: bigint;
  /** The raft log index the member has applied; well behind `raftIndex` means it is lagging. */
  raftAppliedIndex: bigint;
  /** Problems the member reports about itself (for example an active alarm); empty when all is well. */
  errors: string[];
}

/**
 * One endpoint's health, from `health()`.
 *
 * @category Cluster administration
 */
export interface EndpointHealth {
  /** One of the client's endpoints. */
  endpoint: string;
  /** True when it answered a quorum read in time (or refused it only for lack of permission). */
  healthy: boolean;
  /** Round trip of the health read, in milliseconds. */
  tookMs: number;
  /** Why it is unhealthy (for example an `UnavailableError`, `NoLeaderError` or `DeadlineExceededError`); unset when healthy. */
  error?: EtcdError | undefined;
}

/**
 * The kind of a member alarm: `"nospace"` when the database reached its quota (the cluster
 * then refuses writes until space is freed by compaction and defragmentation and the alarm
 * is disarmed), `"corrupt"` when a consistency check found diverging data.
 *
 * @category Cluster administration
 */
export type AlarmKind = "nospace" | "corrupt";

/**
 * An alarm raised on a member.
 *
 * @category Cluster administration
 */
export interface Alarm {
  /** The member the alarm is raised on. */
  memberId: bigint;
  /** What is wrong there. */
  alarm: AlarmKind;
}

/**
 * A hash of the key-value store, to compare members.
 *
 * @category Cluster administration
 */
export interface HashKV {
  /** The member that computed the hash, and its current revision. */
  header: ResponseHeader;
  /** A 32-bit hash of the key-value history up to the requested revision; members whose hashes differ at the same revision have diverged. */
  hash: number;
  /** The revision the member's store was compacted at: compare hashes only between members compacted at the same revision. */
  compactRevision: bigint;
}

const alarmKinds: Record<number, AlarmKind> = { [AlarmType.NOSPACE]: "nospace", [AlarmType.CORRUPT]: "corrupt" };
const alarmTypes: Record<AlarmKind, AlarmType> = { nospace: AlarmType.NOSPACE, corrupt: AlarmType.CORRUPT };

const opts = (o: CallOptions, endpoint?: string): CallOptions & { endpoint?: string } => ({ ...callOptions(o), endpoint });

function needEndpoint(endpoint: unknown): string {
  if (typeof endpoint !== "string" || endpoint === "") throw new InvalidArgumentError("an endpoint (one of the client's) is required");
  return endpoint;
}

/**
 * The Maintenance API, as `etcd.maintenance`. Calls about one member take its endpoint.
 *
 * @category Cluster administration
 */
export class MaintenanceApi {
  readonly #transport: Transport;

  /** @internal */
  constructor(transport: Transport) {
    this.#transport = transport;
  }

  /** The status of the member at `endpoint`. */
  async status(endpoint: string, options: CallOptions = {}): Promise<MemberStatus> {
    const res = await this.#transport.unary(M.Maintenance.status, {}, opts(options, needEndpoint(endpoint)));
    return {
      endpoint,
      header: header(res.header),
      version: res.version,
      dbSize: res.dbSize,
      dbSizeInUse: res.dbSizeInUse,
      leader: res.leader,
      isLearner: res.isLearner,
      raftIndex: res.raftIndex,
      raftTerm: res.raftTerm,
      raftAppliedIndex: res.raftAppliedIndex,
      errors: res.errors,
    };
  }

  /**
   * The health of every endpoint of the client, as `etcdctl endpoint health` judges it: a
   * quorum read answered in time (a permission error still proves the member serves).
   */
  async health(options: CallOptions = {}): Promise<EndpointHealth[]> {
    return Promise.all(
      this.#transport.endpoints.map(async (endpoint) => {
        const started = performance.now();
        try {
          await this.#transport.unary(M.KV.range, rangeRequest("health"), { ...opts(options, endpoint), timeoutMs: options.timeoutMs ?? 5000 });
          return { endpoint, healthy: true, tookMs: performance.now() - started };
        } catch (e) {
          if (!(e instanceof EtcdError)) throw e;
          const healthy = e.name === "PermissionDeniedError";
          return { endpoint, healthy, tookMs: performance.now() - started, error: healthy ? undefined : e };
        }
      }),
    );
  }

  /** The alarms raised in the cluster. */
  async alarms(options: CallOptions = {}): Promise<Alarm[]> {
    const res = await this.#transport.unary(
      M.Maintenance.alarm,
      { action: AlarmRequest_AlarmAction.GET, memberID: 0n, alarm: AlarmType.NONE },
      { ...opts(options), retry: "read" },
    );
    return res.alarms.map((a) => ({ memberId: a.memberID, alarm: alarmKinds[a.alarm] ?? "corrupt" }));
  }

  /** Clears an alarm (all of a member's alarms, or every alarm when nothing is given); resolves to those cleared. */
  async disarm(alarm: Partial<Alarm> = {}, options: CallOptions = {}): Promise<Alarm[]> {
    if (alarm.alarm !== undefined && !(alarm.alarm in alarmTypes))
      throw new InvalidArgumentError(`alarm must be "nospace" or "corrupt", got ${String(alarm.alarm)}`);
    const request = {
      action: AlarmRequest_AlarmAction.DEACTIVATE,
      memberID: alarm.memberId === undefined ? 0n : memberId(alarm.memberId, "memberId"),
      alarm: alarm.alarm === undefined ? AlarmType.NONE : alarmTypes[alarm.alarm],
    };
    const res = await this.#transport.unary(M.Maintenance.alarm, request, opts(options));
    return res.alarms.map((a) => ({ memberId: a.memberID, alarm: alarmKinds[a.alarm] ?? "corrupt" }));
  }

  /** Defragments the backend of the member at `endpoint` (it blocks that member meanwhile). */
  async defragment(endpoint: string, options: CallOptions = {}): Promise<ResponseHeader> {
    return header((await this.#transport.unary(M.Maintenance.defragment, {}, opts(options, needEndpoint(endpoint)))).header);
  }

  /** Hash of the whole backend of the member at `endpoint` (for tests and debugging). */
  async hash(endpoint: string, options: CallOptions = {}): Promise<number> {
    return (await this.#transport.unary(M.Maintenance.hash, {}, opts(options, needEndpoint(endpoint)))).hash;
  }

  /** Hash of the key-value history up to `revision` (0 = latest) on the member at `endpoint`: equal on consistent members. */
  async hashKV(endpoint: string, revision: Int64 = 0, options: CallOptions = {}): Promise<HashKV> {
    const res = await this.#transport.unary(M.Maintenance.hashKV, { revision: nonNegative(revision, "revision") }, opts(options, needEndpoint(endpoint)));
    return { header: header(res.header), hash: res.hash, compactRevision: res.compactRevision };
  }

  /** Hands raft leadership to the member `targetId` (must be sent to the current leader's endpoint, or any with etcd ≥ 3.5). */
  async moveLeader(targetId: Int64, options: CallOptions & { endpoint?: string } = {}): Promise<ResponseHeader> {
    const res = await this.#transport.unary(M.Maintenance.moveLeader, { targetID: memberId(targetId, "targetId") }, opts(options, options.endpoint));
    return header(res.header);
  }

  /**
   * Streams a snapshot of the backend into `destination`: a file path (written to a
   * temporary file, synced, then renamed, so a failed snapshot leaves no file behind) or a
   * writable stream. Resolves to the number of bytes written.
   */
  async snapshot(destination: string | Writable, options: SnapshotOptions = {}): Promise<number> {
    checkBufferBytes(options.bufferBytes);
    if (typeof destination === "string") return this.#snapshotToFile(destination, options);
    return this.#stream(options, (chunk) => writeChunk(destination, chunk));
  }

  async #snapshotToFile(path: string, options: SnapshotOptions): Promise<number> {
    if (path === "") throw new InvalidArgumentError("snapshot path must not be empty");
    const part = `${path}.part-${randomBytes(4).toString("hex")}`;
    const file = await open(part, "wx");
    try {
      const bytes = await this.#stream(options, async (chunk) => {
        await file.write(chunk);
      });
      await file.sync();
      await file.close();
      await rename(part, path);
      return bytes;
    } catch (e) {
      await file.close().catch(() => undefined);
      await unlink(part).catch(() => undefined);
      throw e;
    }
  }

  async #stream(options: SnapshotOptions, sink: (chunk: Uint8Array) => Promise<void>): Promise<number> {
    const stream = await this.#transport.stream(
      M.Maintenance.snapshot,
      {},
      { signal: options.signal, endpoint: options.endpoint, windowBytes: options.bufferBytes },
    );
    let received = 0;
    let complete = false;
    try {
      for await (const res of stream) {
        if (options.signal?.aborted) throw abortedError(options.signal, { rpc: M.Maintenance.snapshot.rpc, endpoint: stream.endpoint });
        received += res.blob.length;
        await sink(res.blob);
        options.onProgress?.(received, received + Number(res.remainingBytes));
        if (res.remainingBytes === 0n) complete = true;
      }
    } finally {
      stream.cancel();
    }
    if (!complete) throw new EtcdError("the snapshot stream ended before the last chunk", { rpc: M.Maintenance.snapshot.rpc, endpoint: stream.endpoint });
    return received;
  }
}

/** `bufferBytes`' bounds: a stream's window is at most the transport's own. */
const SNAPSHOT_BUFFER_BYTES = { min: 64 * 1024, max: STREAM_WINDOW } as const;

function checkBufferBytes(bytes: number | undefined): void {
  if (bytes === undefined) return;
  const { min, max } = SNAPSHOT_BUFFER_BYTES;
  if (!Number.isInteger(bytes) || bytes < min || bytes > max)
    throw new InvalidArgumentError(`bufferBytes must be an integer from ${min} to ${max}, got ${String(bytes)}`);
}

function writeChunk(out: Writable, chunk: Uint8Array): Promise<void> {
  return new Promise((resolve, reject) => {
    out.write(chunk, (err) => (err ? reject(err) : resolve()));
  });
}
