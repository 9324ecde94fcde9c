/**
 * Records what a real etcd sends: a TCP proxy on 127.0.0.1 in front of a member that keeps
 * every server→client byte of each connection. The fuzz replays mutated copies of these
 * exchanges to the client (test/hostile/fuzz.test.ts).
 */
import { once } from "node:events";
import { connect, createServer, type AddressInfo, type Server, type Socket } from "node:net";

export interface Recording {
  /** Server→client bytes of the connection, in order. */
  bytes: Buffer;
}

export class RecordingProxy {
  readonly recordings: Recording[] = [];
  private server: Server | undefined;
  private readonly sockets = new Set<Socket>();
  port = 0;

  constructor(private readonly target: { host: string; port: number }) {}

  get address(): string {
    return `127.0.0.1:${this.port}`;
  }

  async start(): Promise<void> {
    this.server = createServer((client) => {
      const chunks: Buffer[] = [];
      const upstream = connect(this.target);
      for (const s of [client, upstream]) {
        this.sockets.add(s);
        s.on("close", () => this.sockets.delete(s));
        s.on("error", () => undefined);
      }
      const rec: Recording = { bytes: Buffer.alloc(0) };
      this.recordings.push(rec);
      upstream.on("data", (d: Buffer) => {
        chunks.push(Buffer.from(d));
        rec.bytes = Buffer.concat(chunks);
        client.write(d);
      });
      client.on("data", (d: Buffer) => upstream.write(d));
      client.on("close", () => upstream.destroy());
      upstream.on("close", () => client.destroy());
    });
    this.server.listen(0, "127.0.0.1");
    await once(this.server, "listening");
    this.port = (this.server.address() as AddressInfo).port;
  }

  async close(): Promise<void> {
    for (const s of this.sockets) s.destroy();
    if (this.server?.listening) {
      this.server.close();
      await once(this.server, "close");
    }
  }
}

/** Splits an HTTP/2 byte stream into whole frames (a partial tail is dropped). */
export function splitFrames(bytes: Buffer): Buffer[] {
  const out: Buffer[] = [];
  let off = 0;
  while (bytes.length - off >= 9) {
    const len = bytes.readUIntBE(off, 3);
    if (bytes.length - off < 9 + len) break;
    out.push(Buffer.from(bytes.subarray(off, off + 9 + len)));
    off += 9 + len;
  }
  return out;
}
