/** Watch options: validation and the wire form of a watch creation. */
import { InvalidArgumentError } from "../errors.js";
import { selectKeys } from "../op.js";
import { WatchCreateRequest_FilterType, type WatchRequest } from "../rpc/etcdserverpb/rpc.js";
import { flag, nonNegative } from "../validate.js";
import type { Bytes, WatchOptions } from "../options.js";

/** A watch, validated: what is re-sent to the server whenever the watch is (re)created. */
export interface WatchSpec {
  key: Buffer;
  rangeEnd: Buffer;
  startRevision: bigint;
  prevKv: boolean;
  noPut: boolean;
  noDelete: boolean;
  progressNotify: boolean;
  fragment: boolean;
  owner: string | undefined;
  highWaterMark: number;
}

export const DEFAULT_HIGH_WATER_MARK = 10_000;

export function watchSpec(key: Bytes, options: WatchOptions): WatchSpec {
  const { key: k, rangeEnd } = selectKeys(key, options);
  if (options.owner !== undefined && typeof options.owner !== "string") throw new InvalidArgumentError("owner must be a string");
  if (options.signal !== undefined && !(options.signal instanceof AbortSignal)) throw new InvalidArgumentError("signal must be an AbortSignal");
  const spec: WatchSpec = {
    key: k,
    rangeEnd,
    startRevision: nonNegative(options.startRevision, "startRevision"),
    prevKv: flag(options.prevKv, "prevKv"),
    noPut: flag(options.noPut, "noPut"),
    noDelete: flag(options.noDelete, "noDelete"),
    progressNotify: flag(options.progressNotify, "progressNotify"),
    fragment: flag(options.fragment, "fragment"),
    owner: options.owner,
    highWaterMark: options.highWaterMark ?? DEFAULT_HIGH_WATER_MARK,
  };
  if (!Number.isSafeInteger(spec.highWaterMark) || spec.highWaterMark < 1) {
    throw new InvalidArgumentError(`highWaterMark must be a positive whole number, got ${String(options.highWaterMark)}`);
  }
  if (spec.noPut && spec.noDelete) throw new InvalidArgumentError("noPut and noDelete together would filter out every event");
  return spec;
}

/** The creation request for `spec`, starting at `startRevision` (0 = now), under a client-chosen id. */
export function createRequest(spec: WatchSpec, startRevision: bigint, watchId: bigint): WatchRequest {
  const filters: WatchCreateRequest_FilterType[] = [];
  if (spec.noPut) filters.push(WatchCreateRequest_FilterType.NOPUT);
  if (spec.noDelete) filters.push(WatchCreateRequest_FilterType.NODELETE);
  return {
    requestUnion: {
      $case: "createRequest",
      value: {
        key: spec.key,
        rangeEnd: spec.rangeEnd,
        startRevision,
        progressNotify: spec.progressNotify,
        filters,
        prevKv: spec.prevKv,
        watchId,
        fragment: spec.fragment,
      },
    },
  };
}
