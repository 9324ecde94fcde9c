import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, it } from "node:test";
import { TlsError } from "../../src/index.js";
import { uniquePrefix, useCluster } from "../helpers.js";

// Certificates made for this run: a CA, a server certificate for localhost/127.0.0.1, a
// client certificate, and an unrelated CA for the failure cases.
const dir = mkdtempSync(join(tmpdir(), "etcd-ts-tls-"));
after(() => rmSync(dir, { recursive: true, force: true }));
const file = (name: string): string => join(dir, name);
const openssl = (...args: string[]): void => void execFileSync("openssl", args, { stdio: "ignore" });
const ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"];
function makeCa(name: string): void {
  openssl("req", "-x509", ...ec, "-keyout", file(`${name}.key`), "-out", file(`${name}.crt`), "-days", "1", "-subj", `/CN=${name}`);
}
function makeCert(name: string, ca: string, ext: string): void {
  writeFileSync(file(`${name}.ext`), ext);
  openssl("req", ...ec, "-keyout", file(`${name}.key`), "-out", file(`${name}.csr`), "-subj", `/CN=${name}`);
  openssl(
    "x509",
    "-req",
    "-in",
    file(`${name}.csr`),
    "-CA",
    file(`${ca}.crt`),
    "-CAkey",
    file(`${ca}.key`),
    "-CAcreateserial",
    "-out",
    file(`${name}.crt`),
    "-days",
    "1",
    "-extfile",
    file(`${name}.ext`),
  );
}
makeCa("ca");
makeCa("other-ca");
makeCert("server", "ca", "subjectAltName=DNS:localhost,IP:127.0.0.1\nextendedKeyUsage=serverAuth,clientAuth\n");
makeCert("client", "ca", "extendedKeyUsage=clientAuth\n");
const pem = (name: string): string => readFileSync(file(name), "utf8");

const env = useCluster({
  allowExternal: false,
  tls: { certFile: file("server.crt"), keyFile: file("server.key"), caFile: file("ca.crt"), clientCertAuth: true },
});

describe("TLS with client certificates", () => {
  it("puts, gets and watches over https with the right CA and client certificate", async () => {
    const endpoint = env.cluster().endpoints[0]!;
    assert.match(endpoint, /^https:\/\//);
    const etcd = env.client({ tls: { ca: pem("ca.crt"), cert: pem("client.crt"), key: pem("client.key"), serverName: "localhost" } });
    const key = `${uniquePrefix("tls")}k`;
    const w = etcd.watch(key);
    await w.ready;
    await etcd.put(key, "secure");
    assert.equal((await etcd.get(key))?.value.toString(), "secure");
    for await (const batch of w) {
      assert.equal(batch.events[0]?.kv.value.toString(), "secure");
      break;
    }
  });

  it("a wrong CA fails at once with a TlsError naming the endpoint", async () => {
    const endpoint = env.cluster().endpoints[0]!;
    const etcd = env.client({ tls: { ca: pem("other-ca.crt"), cert: pem("client.crt"), key: pem("client.key"), serverName: "localhost" } });
    const error = await etcd.get("k").catch((e: unknown) => e);
    assert.ok(error instanceof TlsError, String(error));
    assert.equal(error.endpoint, endpoint);
    assert.match(error.message, /certificate/i);
  });

  it("a missing client certificate fails with a TlsError naming the endpoint", async () => {
    const endpoint = env.cluster().endpoints[0]!;
    const etcd = env.client({ tls: { ca: pem("ca.crt"), serverName: "localhost" } });
    const error = await etcd.get("k").catch((e: unknown) => e);
    assert.ok(error instanceof TlsError, String(error));
    assert.equal(error.endpoint, endpoint);
  });
});
