/**
 * The RPC methods of etcd's API as transport {@link Method}s, built from the generated
 * service definitions, each with its retry class. Why each class: a read may run twice
 * on any member; a write must not, unless it provably never reached one.
 */
import { BinaryReader, type BinaryWriter } from "./protobuf-wire.js";
import { grpcFramed, grpcWriter } from "./transport/grpc/message.js";
import type { Method, RetryClass } from "./transport/transport.js";
import { AuthDefinition, ClusterDefinition, KVDefinition, LeaseDefinition, MaintenanceDefinition, WatchDefinition } from "./rpc/etcdserverpb/rpc.js";
import { LockDefinition } from "./rpc/v3lockpb/v3lock.js";
import { ElectionDefinition } from "./rpc/v3electionpb/v3election.js";

interface Codec<T> {
  encode(message: T, writer?: BinaryWriter): BinaryWriter;
  decode(input: Uint8Array | BinaryReader): T;
}
/** Any generated message codec: accepts nothing in particular, yields something. */
interface AnyCodec {
  encode(message: never, writer?: BinaryWriter): BinaryWriter;
  decode(input: Uint8Array): unknown;
}
interface MethodDef {
  readonly name: string;
  readonly requestType: AnyCodec;
  readonly responseType: AnyCodec;
  readonly requestStream: boolean;
  readonly responseStream: boolean;
}
interface ServiceDef {
  readonly name: string;
  readonly fullName: string;
  readonly methods: Readonly<Record<string, MethodDef>>;
}
type MessageOf<C> = C extends { decode(input: Uint8Array, length?: number): infer T } ? T : never;
type MethodsOf<D extends ServiceDef> = {
  readonly [K in keyof D["methods"]]: Method<MessageOf<D["methods"][K]["requestType"]>, MessageOf<D["methods"][K]["responseType"]>>;
};

function service<D extends ServiceDef>(def: D, retry: { readonly [K in keyof D["methods"]]: RetryClass }): MethodsOf<D> {
  const out: Record<string, Method<unknown, unknown>> = {};
  for (const [key, m] of Object.entries(def.methods)) {
    const req = m.requestType as unknown as Codec<unknown>;
    const res = m.responseType as unknown as Codec<unknown>;
    out[key] = {
      service: def.fullName,
      name: m.name,
      path: `/${def.fullName}/${m.name}`,
      rpc: `${def.name}/${m.name}`,
      requestStream: m.requestStream,
      responseStream: m.responseStream,
      retry: retry[key as keyof D["methods"]],
      encode: (message) => req.encode(message).finish(),
      frame: (message) => grpcFramed(req.encode(message, grpcWriter())),
      decode: (bytes, start, end) => res.decode(start === undefined ? bytes : new BinaryReader(bytes, start, end)),
      decodeRequest: (bytes) => req.decode(bytes),
      frameResponse: (message) => grpcFramed(res.encode(message, grpcWriter())),
    };
  }
  return out as MethodsOf<D>;
}

export const KV = service(KVDefinition, { range: "read", put: "write", deleteRange: "write", txn: "write", compact: "write" });
export const Watch = service(WatchDefinition, { watch: "read" });
export const Lease = service(LeaseDefinition, {
  leaseGrant: "write",
  leaseRevoke: "write",
  leaseKeepAlive: "read",
  leaseTimeToLive: "read",
  leaseLeases: "read",
});
export const Cluster = service(ClusterDefinition, {
  memberAdd: "write",
  memberRemove: "write",
  memberUpdate: "write",
  memberList: "read",
  memberPromote: "write",
});
export const Maintenance = service(MaintenanceDefinition, {
  // Alarm can disarm; it is classed by request in the maintenance API.
  alarm: "write",
  status: "read",
  defragment: "write",
  hash: "read",
  hashKV: "read",
  snapshot: "read",
  moveLeader: "write",
  downgrade: "write",
});
export const Auth = service(AuthDefinition, {
  authEnable: "write",
  authDisable: "write",
  authStatus: "read",
  authenticate: "read",
  userAdd: "write",
  userGet: "read",
  userList: "read",
  userDelete: "write",
  userChangePassword: "write",
  userGrantRole: "write",
  userRevokeRole: "write",
  roleAdd: "write",
  roleGet: "read",
  roleList: "read",
  roleDelete: "write",
  roleGrantPermission: "write",
  roleRevokePermission: "write",
});
export const Lock = service(LockDefinition, { lock: "write", unlock: "write" });
export const Election = service(ElectionDefinition, {
  campaign: "write",
  proclaim: "write",
  leader: "read",
  observe: "read",
  resign: "write",
});
