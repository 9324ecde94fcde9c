/**
 * Every public option type, in one module: what each call, stream and recipe accepts. The
 * transport and the embedded store keep types of their own; these are the contract with
 * users, and the client checks at compile time that they still fit what it passes on.
 */
import type { Compare } from "./compare.js";
import type { Session } from "./concurrency/session.js";
import type { Op } from "./op.js";

/**
 * Bytes in: a string (encoded as UTF-8) or any `Uint8Array` (a `Buffer` too), taken as is.
 *
 * @category Options
 */
export type Bytes = string | Uint8Array;

/**
 * A 64-bit integer in: a `bigint`, or a `number` when it is a safe integer.
 *
 * @category Options
 */
export type Int64 = number | bigint;

/**
 * Options every call takes.
 *
 * @category Options
 */
export interface CallOptions {
  /** Abort the call; it then rejects at once with an `AbortedError`. */
  signal?: AbortSignal | undefined;
  /** Deadline for this call in milliseconds, overriding the client's default. */
  timeoutMs?: number | undefined;
}

/**
 * How calls are spread over the members: `"round-robin"` over every healthy one, or `"pinned"` to one until it fails.
 *
 * @category Options
 */
export type Balancing = "round-robin" | "pinned";

/**
 * TLS settings for `https://` endpoints.
 *
 * @category Options
 */
export interface TlsOptions {
  /** PEM CA certificate(s) to trust instead of the system roots. */
  ca?: string | Uint8Array | undefined;
  /** PEM client certificate, for mutual TLS. */
  cert?: string | Uint8Array | undefined;
  /** PEM private key of the client certificate. */
  key?: string | Uint8Array | undefined;
  /** Name to verify the server certificate against (and to send as SNI), instead of the host. */
  serverName?: string | undefined;
}

/**
 * HTTP/2 pings that detect a dead or frozen member.
 *
 * @category Options
 */
export interface KeepAliveOptions {
  /** Time between pings while calls or streams are open. etcd refuses pings more often than every 5 s by default. */
  intervalMs: number;
  /** How long to wait for a ping's answer before the connection is declared dead. */
  timeoutMs: number;
}

/**
 * Retries of calls that are safe to repeat.
 *
 * @category Options
 */
export interface RetryOptions {
  /** Attempts per call, the first included. Default 10. */
  maxAttempts?: number;
  /** Delay before the first retry. Default 50 ms. */
  baseDelayMs?: number;
  /** Upper bound of one delay. Default 1000 ms. */
  maxDelayMs?: number;
}

/**
 * The time source of an embedded (`mem://`) store; `ManualClock` from `etcd-ts/testing` is one.
 *
 * @category Options
 */
export interface Clock {
  /** The current time in milliseconds. */
  now(): number;
  /** Calls `fn` after `ms` (of this clock's time); returns a cancel function. */
  schedule(fn: () => void, ms: number): () => void;
}

/**
 * Options of `new Etcd(options)`. Every field has a sensible default.
 *
 * @category Options
 */
export interface EtcdOptions {
  /**
   * The members to talk to: `host:port`, `http://host:port` or `https://host:port`; or
   * `mem://name` for the embedded store of that name. Default `["127.0.0.1:2379"]`.
   */
  endpoints?: string | string[];
  /** `"round-robin"` (default) spreads calls over every healthy member; `"pinned"` uses one until it fails. */
  balancing?: Balancing;
  /** How long to wait for a connection to a member before trying another. Default 5000 ms. */
  dialTimeoutMs?: number;
  /** Deadline of a call that sets no `timeoutMs`, retries included. Default 30000 ms. */
  callTimeoutMs?: number;
  /**
   * Find the endpoints in DNS instead of listing them, as etcdctl's `--discovery-srv`: the SRV
   * records `_etcd-client-ssl._tcp.<domain>` (TLS endpoints) and `_etcd-client._tcp.<domain>`
   * (plain ones) are looked up before the first call, and again by `syncEndpoints()` and
   * `autoSyncIntervalMs`. Not together with `endpoints`.
   */
  discoverySrv?: string;
  /** With `discoverySrv`: the records of this service name, `_etcd-client-ssl-<name>._tcp.<domain>` and `_etcd-client-<name>._tcp.<domain>`. */
  discoverySrvName?: string;
  /**
   * Ask members to refuse calls and cancel streams while they have no leader (etcd's
   * `hasleader` metadata). Default true: a member cut off from its cluster refuses writes
   * and linearizable reads at once, and cancels watch and keep-alive streams after about
   * three election timeouts, so they move to a member that has a leader and resume there,
   * losing nothing. With false a cut-off member keeps them: calls wait for their deadline and
   * a watch stays silent until the member rejoins (the Go client's default for watches).
   * Serializable reads never ask for a leader.
   */
  requireLeader?: boolean;
  /** HTTP/2 pings that detect a dead or frozen member. Default every 10 s, 5 s to answer. */
  keepAlive?: Partial<KeepAliveOptions>;
  /**
   * The largest answer accepted, in bytes: a larger one fails with
   * `ResponseTooLargeError` before it is buffered. Default 64 MiB (a range of about
   * 40,000 keys of etcd's largest values); page bigger ranges with `limit` or raise this.
   */
  maxReceiveMessageBytes?: number;
  /** Retry attempts and back-off for calls that are safe to repeat. */
  retry?: RetryOptions;
  /** CA, client certificate and server name for `https://` endpoints. */
  tls?: TlsOptions;
  /**
   * Log in as this user: the token is sent with every call and stream and renewed
   * transparently when etcd reports it invalid or expired. The password is never shown in
   * errors, `info()` or when the client is inspected.
   */
  auth?: {
    /** The etcd user to authenticate as. */
    username: string;
    /** That user's password; kept out of messages and inspection output. */
    password: string;
  };
  /**
   * Keep the endpoint list in step with the cluster: every this many milliseconds the
   * member list is read and the client URLs of the voting members become the endpoints
   * (new members are picked up, removed ones dropped). Off by default.
   */
  autoSyncIntervalMs?: number;
  /**
   * For `mem://` endpoints: the clock of the embedded store (tests pass a `ManualClock` from
   * `etcd-ts/testing` to expire leases without waiting). Used when the named store is created.
   */
  clock?: Clock;
}

/**
 * Which keys an operation covers. By default one key; `prefix` selects every key that
 * starts with it (an empty prefix selects all keys); `rangeEnd` selects `[key, rangeEnd)`;
 * `fromKey` selects every key `>= key`.
 *
 * @category Options
 */
export type KeySelector =
  | {
      /** Unset or false: the operation covers the given key only. */
      prefix?: false | undefined;
      /** Unset when selecting one key. */
      rangeEnd?: undefined;
      /** Unset or false when selecting one key. */
      fromKey?: false | undefined;
    }
  | {
      /** Cover every key that starts with the given key (`""` covers the whole keyspace). */
      prefix: true;
      /** Cannot be combined with `prefix`. */
      rangeEnd?: undefined;
      /** Cannot be combined with `prefix`. */
      fromKey?: false | undefined;
    }
  | {
      /** Exclusive end of the range: the operation covers keys `>= key` and `< rangeEnd`, in byte order. */
      rangeEnd: Bytes;
      /** Cannot be combined with `rangeEnd`. */
      prefix?: false | undefined;
      /** Cannot be combined with `rangeEnd`. */
      fromKey?: false | undefined;
    }
  | {
      /** Cover the given key and every key after it, in byte order. */
      fromKey: true;
      /** Cannot be combined with `fromKey`. */
      prefix?: false | undefined;
      /** Cannot be combined with `fromKey`. */
      rangeEnd?: undefined;
    };

/**
 * What to sort a range by.
 *
 * @category Options
 */
export type SortTarget = "key" | "version" | "create" | "mod" | "value";
/**
 * Sort direction; `"none"` leaves the server's key order.
 *
 * @category Options
 */
export type SortOrder = "none" | "ascend" | "descend";

/**
 * Options of a range read.
 *
 * @category Options
 */
export type RangeOptions = KeySelector & {
  /** At most this many keys (0 = no limit); `more` tells whether there were more. */
  limit?: Int64;
  /** Read the store as it was at this revision (0 = current). */
  revision?: Int64;
  /** Sort the result; `order` defaults to `"ascend"`. */
  sort?: {
    /** The field to sort by: key bytes, version, create or mod revision, or value bytes. */
    target: SortTarget;
    /** `"ascend"` (default), `"descend"`, or `"none"` for the server's key order. */
    order?: SortOrder;
  };
  /** Let the contacted member answer from its local state without a quorum read (faster, may be stale). */
  serializable?: boolean;
  /** Return keys without values. */
  keysOnly?: boolean;
  /** Return only the count. */
  countOnly?: boolean;
  /** Only keys whose mod revision is at least this. */
  minModRevision?: Int64;
  /** Only keys whose mod revision is at most this. */
  maxModRevision?: Int64;
  /** Only keys whose create revision is at least this. */
  minCreateRevision?: Int64;
  /** Only keys whose create revision is at most this. */
  maxCreateRevision?: Int64;
};

/**
 * Options of `get()`: a range read of exactly one key.
 *
 * @category Options
 */
export type GetOptions = Omit<RangeOptions, "prefix" | "rangeEnd" | "fromKey" | "limit" | "countOnly">;

/**
 * Options of a put.
 *
 * @category Options
 */
export interface PutOptions {
  /** Attach the key to this lease (it is deleted when the lease ends). */
  lease?:
    | Int64
    | {
        /** The lease id; a `Lease` or `LeaseGrant` can be passed as it is. */
        id: bigint;
      };
  /** Return the previous key-value. */
  prevKv?: boolean;
  /** Keep the current value (only the lease changes); the key must exist and the value be `""`. */
  ignoreValue?: boolean;
  /** Keep the current lease; the key must exist and `lease` be omitted. */
  ignoreLease?: boolean;
}

/**
 * Options of a delete.
 *
 * @category Options
 */
export type DeleteOptions = KeySelector & {
  /** Return the deleted key-values. */
  prevKv?: boolean;
};

/**
 * Options of a compaction.
 *
 * @category Options
 */
export interface CompactOptions {
  /** Wait until the compaction is physically applied to the backend (slower, frees space). */
  physical?: boolean;
}

/**
 * A transaction as a plain object: if every compare holds, run `onSuccess`, else `onFailure`.
 *
 * @category Options
 */
export interface TxnSpec {
  /** Conditions, all of which must hold for `onSuccess` to run (built with `compare`). Empty or unset: true. */
  if?: Compare[];
  /** Operations applied, in one revision, when every condition holds (built with `op`). */
  onSuccess?: Op[];
  /** Operations applied, in one revision, when any condition fails. */
  onFailure?: Op[];
}

/**
 * What a compare-and-swap or compare-and-delete checks: the current value, or the current mod revision.
 *
 * @category Options
 */
export type Expect =
  | {
      /** Proceed only if the key's current value equals this (byte for byte). */
      prevValue: Bytes;
      /** Cannot be combined with `prevValue`. */
      prevRevision?: undefined;
    }
  | {
      /** Proceed only if the key was last modified at this revision (its `modRevision`); 0 means the key must not exist. */
      prevRevision: Int64;
      /** Cannot be combined with `prevRevision`. */
      prevValue?: undefined;
    };

/**
 * Options of a lease grant.
 *
 * @category Options
 */
export interface GrantOptions extends CallOptions {
  /** Ask for this lease id instead of letting etcd choose one. */
  id?: Int64;
}

/**
 * A lease id, a kept-alive `Lease`/`Session`, or anything with a lease `id`.
 *
 * @category Options
 */
export type LeaseRef =
  | Int64
  | {
      /** The lease id, as a `Session` carries it. */
      leaseId: bigint;
    }
  | {
      /** The lease id, as a `Lease` or `LeaseGrant` carries it. */
      id: bigint;
    };

/**
 * Options of a watch. The key selector (`prefix`, `rangeEnd`, `fromKey`) works as for reads.
 *
 * @category Options
 */
export type WatchOptions = KeySelector & {
  /**
   * Deliver every change from this revision on (history first, then live changes). Default:
   * changes after the watch is created. A compacted revision ends the watch with a `CompactedError`.
   */
  startRevision?: Int64;
  /** Include each changed key's previous value (`prevKv` of each event). */
  prevKv?: boolean;
  /** Leave out put events. */
  noPut?: boolean;
  /** Leave out delete events. */
  noDelete?: boolean;
  /** Ask etcd to send periodic progress batches (no events, the current revision) while idle. */
  progressNotify?: boolean;
  /** Let etcd split very large revisions into fragments; they are joined again before delivery. */
  fragment?: boolean;
  /** Stops the watch; the iteration then ends without an error. */
  signal?: AbortSignal;
  /** A label; `cancelWatches(owner)` ends every watch with the same owner. */
  owner?: string;
  /**
   * Backpressure: when this many events (a batch without events counts as one) wait unread,
   * the watch is paused on the server; once the consumer has read half of them it resumes
   * from the revision after the last one buffered (etcd replays what came meanwhile), so
   * nothing is lost and other watches on the stream are never held up. Default 10,000.
   */
  highWaterMark?: number;
};

/**
 * Options of the waiting conveniences (`watchOnce`, `watchUntil`), on top of the watch options.
 *
 * @category Options
 */
export interface WaitOptions {
  /** Give up after this many milliseconds with a `DeadlineExceededError`. */
  timeoutMs?: number;
}

/**
 * Options of a session.
 *
 * @category Options
 */
export interface SessionOptions extends CallOptions {
  /** TTL of the session's lease in seconds (default 60, as etcd's Go client). */
  ttl?: number;
}

/**
 * Which keys a lock queues behind. A mutex waits for every earlier key under its name; a
 * reader of a read-write lock (`<name>/read/…`) only for earlier writers
 * (`<name>/write/…`); a writer for every earlier key, readers included.
 *
 * @category Options
 */
export type LockKind = "exclusive" | "read" | "write";

/**
 * Options of `etcd.lock()` / `etcd.tryLock()`.
 *
 * @category Options
 */
export interface LockOptions extends CallOptions {
  /** Hold the lock through this session (it is left open on unlock). Default: a new session of `ttl` seconds. */
  session?: Session;
  /** TTL of the lock's own session, in seconds (default 60). Ignored with `session`. */
  ttl?: number;
}

/**
 * Options of `etcd.election()`.
 *
 * @category Options
 */
export interface ElectionOptions {
  /** Campaign through this session (left open on resign). Default: a session of its own, opened by the first campaign. */
  session?: Session;
  /** TTL of the election's own session in seconds (default 60). Ignored with `session`. */
  ttl?: number;
}

/**
 * Options of `observe()`.
 *
 * @category Options
 */
export interface ObserveOptions {
  /** Ends the observation; the iteration then ends normally. */
  signal?: AbortSignal;
}

/**
 * How strictly `etcd.stm()` checks a transaction before committing it:
 * `"serializable-snapshot"` (default) checks every read key and that no written key changed
 * since the first read; `"serializable"` reads at the first read's revision and checks the
 * read keys; `"repeatable-reads"` checks the read keys; `"read-committed"` checks nothing.
 *
 * @category Options
 */
export type Isolation = "serializable-snapshot" | "serializable" | "repeatable-reads" | "read-committed";

/**
 * Options of `etcd.stm()`.
 *
 * @category Options
 */
export interface StmOptions {
  /** How strictly conflicts are detected; default `"serializable-snapshot"`. */
  isolation?: Isolation;
  /** Keys to read before the function first runs, in one round trip. */
  prefetch?: Bytes[];
  /** How many times a conflicting commit is retried (default 100). */
  maxRetries?: number;
  /** Stops between attempts (and aborts the calls in flight) with an `AbortedError`. */
  signal?: AbortSignal;
}

/**
 * Options of `auth.addUser()`.
 *
 * @category Options
 */
export interface AddUserOptions extends CallOptions {
  /** A user that cannot log in with a password (only with a client certificate). */
  noPassword?: boolean;
}

/**
 * Options of `maintenance.snapshot()`.
 *
 * @category Options
 */
export interface SnapshotOptions {
  /** Take the snapshot from this member (default: any). */
  endpoint?: string;
  /** Called after each chunk with the bytes received so far and the total announced by etcd. */
  onProgress?: (received: number, total: number) => void;
  /** Stops the snapshot; it then rejects with an `AbortedError`. */
  signal?: AbortSignal;
  /**
   * The most of the snapshot the member may send ahead of the destination: the stream's
   * flow-control window, so what the client holds in memory when the destination is slower
   * than the network. From 64 KiB to 4 MiB, the default. Smaller bounds memory tighter;
   * larger keeps a long round trip from slowing the transfer (a window per round trip).
   */
  bufferBytes?: number;
}

/**
 * Which keys a scan or a mirror covers: by default every key starting with the key given
 * (a prefix; an empty prefix is every key), or the keys from it up to `rangeEnd`
 * (exclusive), or every key from it on (`fromKey`).
 *
 * @category Options
 */
export type ScanSelector =
  | {
      /** Unset: the key given is a prefix. */
      rangeEnd?: undefined;
      /** Unset or false: the key given is a prefix. */
      fromKey?: false | undefined;
    }
  | {
      /** Exclusive end: cover keys `>= key` and `< rangeEnd`, in byte order. */
      rangeEnd: Bytes;
      /** Cannot be combined with `rangeEnd`. */
      fromKey?: false | undefined;
    }
  | {
      /** Cover the key given and every key after it, in byte order. */
      fromKey: true;
      /** Cannot be combined with `fromKey`. */
      rangeEnd?: undefined;
    };

/**
 * Options of `etcd.scan()`.
 *
 * @category Options
 */
export type ScanOptions = ScanSelector & {
  /** Keys per range call (default 1000): memory use is bounded by about two pages. */
  pageSize?: number;
  /** Return keys without values. */
  keysOnly?: boolean;
  /** Read the snapshot at this revision (default: the revision the first page was read at). */
  revision?: Int64;
  /** Let each page be answered from the contacted member's local state (no quorum read). */
  serializable?: boolean;
  /** Stops the scan: the iteration rejects with an `AbortedError`. */
  signal?: AbortSignal | undefined;
  /** Deadline of each page's call in milliseconds (default: the client's call timeout). */
  timeoutMs?: number | undefined;
};

/**
 * Options of `etcd.mirror()`.
 *
 * @category Options
 */
export type MirrorOptions = ScanSelector & {
  /** Keys per range call of the initial load and of each re-list (default 1000). */
  pageSize?: number;
  /** Closes the mirror when aborted (as `close()`). */
  signal?: AbortSignal | undefined;
};
