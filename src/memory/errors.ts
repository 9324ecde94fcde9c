/**
 * Failures of the embedded store, with the gRPC code and message etcd itself uses (the table
 * in ../etcd-status.ts), so the memory transport classifies them exactly like the gRPC
 * transport classifies etcd's.
 */
import { GrpcCode } from "../errors.js";
import { etcdStatus, type EtcdStatus } from "../etcd-status.js";

export class StoreError extends Error {
  constructor(
    readonly code: number,
    message: string,
  ) {
    super(message);
  }
}

/** etcd's error `s`, raised by the store. */
export const storeError = (s: EtcdStatus): StoreError => new StoreError(s.code, s.message);

export const storeErrors = {
  futureRevision: () => storeError(etcdStatus.futureRevision),
  compacted: () => storeError(etcdStatus.compacted),
  keyNotFound: () => storeError(etcdStatus.keyNotFound),
  emptyKey: () => storeError(etcdStatus.emptyKey),
  leaseNotFound: () => storeError(etcdStatus.leaseNotFound),
  leaseExists: () => storeError(etcdStatus.leaseExists),
  leaseTtlTooLarge: () => storeError(etcdStatus.leaseTtlTooLarge),
  duplicateKey: () => storeError(etcdStatus.duplicateKey),
  tooManyOps: () => storeError(etcdStatus.tooManyOps),
  unimplemented: (what: string) => new StoreError(GrpcCode.UNIMPLEMENTED, `unknown method ${what}`),
};
