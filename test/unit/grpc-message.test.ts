import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { GrpcCode } from "../../src/errors.js";
import { grpcFrame, MessageDecoder } from "../../src/transport/grpc/message.js";
import { CallFailure, GrpcStatus } from "../../src/transport/grpc/status.js";
import { grpcTimeoutField } from "../../src/transport/grpc/timeout.js";
import { HpackDecoder } from "../../src/transport/h2/hpack.js";

/** Feeds `chunks` to a decoder of `max` bytes; each chunk is pushed as a range of a larger buffer, bytes either side. */
function feed(max: number, chunks: Buffer[]): { messages: string[]; sizes: number[]; pending: number[] } {
  const messages: string[] = [];
  const sizes: number[] = [];
  const decoder = new MessageDecoder(max, (buf, start, end, n) => {
    messages.push(buf.toString("latin1", start, end));
    sizes.push(n);
  });
  const pending = chunks.map((c) => decoder.push(Buffer.concat([Buffer.from("<<"), c, Buffer.from(">>>")]), 2, 2 + c.length));
  return { messages, sizes, pending };
}

describe("gRPC message framing", () => {
  it("joins messages split anywhere and reports the bytes each took from each chunk", () => {
    const wire = Buffer.concat([grpcFrame(Buffer.from("hello")), grpcFrame(Buffer.alloc(0)), grpcFrame(Buffer.from("world!"))]);
    for (let cut = 1; cut < wire.length; cut++) {
      const { messages, sizes, pending } = feed(100, [wire.subarray(0, cut), wire.subarray(cut)]);
      assert.deepEqual(messages, ["hello", "", "world!"], `cut at ${cut}`);
      // Every byte is accounted for once: in a completed message or as still pending.
      assert.equal(pending[1], 0);
      assert.equal(sizes.reduce((a, b) => a + b, 0) + pending[0]!, wire.length);
    }
  });

  it("refuses a length prefix above the limit before buffering the message", () => {
    const d = new MessageDecoder(1024, () => assert.fail("no message"));
    const prefix = Buffer.from([0, 0xff, 0xff, 0xff, 0xff]);
    assert.throws(
      () => d.push(prefix),
      (e: unknown) =>
        e instanceof CallFailure && e.kind === "too-large" && e.code === GrpcCode.RESOURCE_EXHAUSTED && /4294967295 bytes exceeds/.test(e.details),
    );
    assert.deepEqual(feed(3, [grpcFrame(Buffer.from("abc"))]).messages, ["abc"]);
  });

  it("refuses a compressed message, which the client never asks for", () => {
    assert.throws(
      () => new MessageDecoder(100, () => undefined).push(Buffer.from([1, 0, 0, 0, 1, 9])),
      (e: unknown) => e instanceof CallFailure && e.kind === "protocol",
    );
  });
});

describe("gRPC status of an answer", () => {
  const status = (...fields: string[]): GrpcStatus => {
    const s = new GrpcStatus();
    s.read(fields);
    return s;
  };
  it("parses grpc-status strictly", () => {
    assert.equal(status(":status", "200", "content-type", "application/grpc", "grpc-status", "0").failure(undefined), undefined);
    for (const bad of [" 0x0 ", "0 ", "+0", "00", "", "1e1"]) {
      const f = status(":status", "200", "grpc-status", bad).failure(undefined);
      assert.equal(f?.kind, "protocol", JSON.stringify(bad));
    }
    assert.equal(status(":status", "200", "grpc-status", "99").failure(undefined)?.code, GrpcCode.UNKNOWN);
    assert.equal(status(":status", "200", "grpc-status", "14", "grpc-message", "x%20y").failure(undefined)?.details, "x y");
  });
  it("judges the headers before any body: HTTP status, content-type", () => {
    assert.equal(status(":status", "502", "content-type", "text/html").headerFailure()?.code, GrpcCode.UNAVAILABLE);
    assert.match(status(":status", "200", "content-type", "text/html").headerFailure()?.details ?? "", /not gRPC/);
    assert.equal(status(":status", "200", "content-type", "application/grpc+proto").headerFailure(), undefined);
    assert.equal(status(":status", "200", "content-type", "application/grpcx").headerFailure()?.kind, "protocol");
  });
});

describe("grpc-timeout", () => {
  const value = (ms: number): string => {
    const fields = new HpackDecoder().decode(grpcTimeoutField(ms));
    assert.equal(fields[0], "grpc-timeout");
    return fields[1]!;
  };
  it("says the time left in at most eight digits, rounded up, never zero", () => {
    assert.equal(value(5000), "5000m");
    assert.equal(value(0.2), "1m");
    assert.equal(value(-5), "1m");
    assert.equal(value(99_999_999), "99999999m");
    assert.equal(value(100_000_000), "100000S");
    assert.equal(value(1e15), "99999999S");
  });
});
