/** The DATA frames of what a stream has to send, for either side of a connection. */
import { Flag, FRAME_HEADER, FrameType, writeFrameHeader } from "./frames.js";

/** One DATA frame taken from a stream's unsent messages. */
export interface TakenData {
  frame: Buffer;
  /** Payload bytes (what it costs of the flow-control windows). */
  bytes: number;
  /** The index of the first message not wholly sent. */
  next: number;
  /** It carries END_STREAM. */
  ended: boolean;
}

/**
 * One DATA frame of at most `room` bytes from `unsent[first..]`: the whole messages that
 * fit (several messages share a frame), or else the part of the first that does, which is
 * cut in place. END_STREAM when `endWithLast` and the last message is in it.
 */
export function takeDataFrame(unsent: Buffer[], first: number, room: number, id: number, endWithLast: boolean): TakenData {
  let n = 0;
  let last = first;
  while (last < unsent.length && n + unsent[last]!.length <= room) n += unsent[last++]!.length;
  const cut = last === first;
  if (cut) n = room;
  const ended = endWithLast && last === unsent.length;
  const frame = Buffer.allocUnsafe(FRAME_HEADER + n);
  writeFrameHeader(frame, 0, n, FrameType.DATA, ended ? Flag.END_STREAM : 0, id);
  if (cut) {
    const head = unsent[first]!;
    head.copy(frame, FRAME_HEADER, 0, n);
    unsent[first] = head.subarray(n);
  } else {
    let at = FRAME_HEADER;
    for (let i = first; i < last; i++) at += unsent[i]!.copy(frame, at);
  }
  return { frame, bytes: n, next: last, ended };
}
