/**
 * DNS SRV discovery against a small DNS server on loopback (it answers SRV questions from a
 * table the test changes), pointing at a real etcd: the endpoints are found before the first
 * call, looked up again by syncEndpoints, and a domain without records fails typed.
 */
import assert from "node:assert/strict";
import { setServers } from "node:dns";
import { createSocket, type Socket } from "node:dgram";
import { once } from "node:events";
import { after, before, describe, it } from "node:test";
import { Etcd, InvalidArgumentError, UnavailableError } from "../../src/index.js";
import { discoverSrv } from "../../src/transport/srv.js";
import { useCluster } from "../helpers.js";

/** SRV answers by query name: [priority, weight, port, target]. */
const records = new Map<string, Array<[number, number, number, string]>>();
const asked: string[] = [];
let dnsServer: Socket;

function encodeName(name: string): Buffer {
  return Buffer.concat([
    ...name
      .replace(/\.$/, "")
      .split(".")
      .map((l) => Buffer.concat([Buffer.from([l.length]), Buffer.from(l)])),
    Buffer.from([0]),
  ]);
}

/** Reads the question's name (labels until a zero byte) from a query. */
function questionName(query: Buffer): { name: string; end: number } {
  const labels: string[] = [];
  let at = 12;
  for (let n = 0; n < 64 && query[at]! > 0; n++) {
    labels.push(query.subarray(at + 1, at + 1 + query[at]!).toString());
    at += 1 + query[at]!;
  }
  return { name: labels.join(".").toLowerCase(), end: at + 5 };
}

function answer(query: Buffer): Buffer {
  const { name, end } = questionName(query);
  asked.push(name);
  const found = records.get(name) ?? [];
  const header = Buffer.alloc(12);
  query.copy(header, 0, 0, 2);
  header.writeUInt16BE(found.length > 0 ? 0x8180 : 0x8183, 2); // a response; NXDOMAIN without records
  header.writeUInt16BE(1, 4);
  header.writeUInt16BE(found.length, 6);
  const rrs = found.map(([priority, weight, port, target]) => {
    const rdata = Buffer.concat([Buffer.from([priority >> 8, priority & 255, weight >> 8, weight & 255, port >> 8, port & 255]), encodeName(target)]);
    const rr = Buffer.alloc(12);
    rr.writeUInt16BE(0xc00c, 0); // the question's name
    rr.writeUInt16BE(33, 2); // SRV
    rr.writeUInt16BE(1, 4); // IN
    rr.writeUInt32BE(1, 6); // TTL
    rr.writeUInt16BE(rdata.length, 10);
    return Buffer.concat([rr, rdata]);
  });
  return Buffer.concat([header, query.subarray(12, end), ...rrs]);
}

const env = useCluster({ members: 3, allowExternal: false });

before(async () => {
  dnsServer = createSocket("udp4");
  dnsServer.on("message", (msg, rinfo) => dnsServer.send(answer(msg), rinfo.port, rinfo.address));
  dnsServer.bind(0, "127.0.0.1");
  await once(dnsServer, "listening");
  setServers([`127.0.0.1:${dnsServer.address().port}`]);
});
after(() => dnsServer?.close());

const portOf = (endpoint: string): number => Number(endpoint.split(":").pop());

describe("DNS SRV discovery", () => {
  it("finds the endpoints before the first call, and again on syncEndpoints", async () => {
    const [a, b, c] = env.cluster().endpoints.map(portOf) as [number, number, number];
    records.set("_etcd-client._tcp.cluster.test", [
      [0, 10, a, "127.0.0.1."],
      [0, 20, b, "127.0.0.1."],
    ]);
    const etcd = new Etcd({ discoverySrv: "cluster.test" });
    try {
      assert.deepEqual(etcd.endpoints, [], "nothing is looked up before a call");
      await etcd.put("srv/k", "v");
      assert.deepEqual(etcd.endpoints, [`http://127.0.0.1:${b}`, `http://127.0.0.1:${a}`], "higher weight first");
      assert.ok(asked.includes("_etcd-client-ssl._tcp.cluster.test"), "the TLS records are asked for too");
      records.set("_etcd-client._tcp.cluster.test", [[0, 10, c, "127.0.0.1."]]);
      assert.deepEqual(await etcd.syncEndpoints(), [`http://127.0.0.1:${c}`]);
      assert.equal((await etcd.get("srv/k"))?.value.toString(), "v");
    } finally {
      await etcd.close();
    }
  });

  it("uses the service name's records, TLS ones as https", async () => {
    records.set("_etcd-client-ssl-blue._tcp.cluster.test", [[0, 0, 2379, "etcd-1.cluster.test."]]);
    records.set("_etcd-client-blue._tcp.cluster.test", [[0, 0, 2380, "etcd-2.cluster.test."]]);
    assert.deepEqual(await discoverSrv("cluster.test", "blue"), ["https://etcd-1.cluster.test:2379", "http://etcd-2.cluster.test:2380"]);
  });

  it("fails typed when the domain has no records, and the next call looks again", async () => {
    const etcd = new Etcd({ discoverySrv: "empty.test", callTimeoutMs: 5000 });
    try {
      const err = await etcd.get("k").catch((e: unknown) => e);
      assert.ok(err instanceof UnavailableError, String(err));
      assert.match(err.message, /_etcd-client-ssl\._tcp\.empty\.test: ENOTFOUND.*_etcd-client\._tcp\.empty\.test: ENOTFOUND/);
      records.set("_etcd-client._tcp.empty.test", [[0, 0, portOf(env.cluster().endpoints[0]!), "127.0.0.1."]]);
      assert.equal(await etcd.get("srv/none"), undefined, "found once the records exist");
    } finally {
      await etcd.close();
    }
  });

  it("refuses bad options before looking anything up", () => {
    assert.throws(() => new Etcd({ discoverySrv: "cluster.test", endpoints: ["127.0.0.1:2379"] }), InvalidArgumentError);
    assert.throws(() => new Etcd({ discoverySrv: "not a domain" }), InvalidArgumentError);
    assert.throws(() => new Etcd({ discoverySrv: "cluster.test", discoverySrvName: "a.b" }), InvalidArgumentError);
    assert.throws(() => new Etcd({ discoverySrvName: "blue" }), InvalidArgumentError);
  });
});
