/**
 * Failures of the embedded store, with the gRPC code and message etcd itself uses, so the
 * memory transport classifies them exactly like the gRPC transport classifies etcd's.
 */
import { GrpcCode } from "../errors.js";

export class StoreError extends Error {
  constructor(
    readonly code: number,
    message: string,
  ) {
    super(message);
  }
}

export const storeErrors = {
  futureRevision: () => new StoreError(GrpcCode.OUT_OF_RANGE, "etcdserver: mvcc: required revision is a future revision"),
  compacted: () => new StoreError(GrpcCode.OUT_OF_RANGE, "etcdserver: mvcc: required revision has been compacted"),
  keyNotFound: () => new StoreError(GrpcCode.INVALID_ARGUMENT, "etcdserver: key not found"),
  emptyKey: () => new StoreError(GrpcCode.INVALID_ARGUMENT, "etcdserver: key is not provided"),
  leaseNotFound: () => new StoreError(GrpcCode.NOT_FOUND, "etcdserver: requested lease not found"),
  leaseExists: () => new StoreError(GrpcCode.FAILED_PRECONDITION, "etcdserver: lease already exists"),
  leaseTtlTooLarge: () => new StoreError(GrpcCode.OUT_OF_RANGE, "etcdserver: too large lease TTL"),
  duplicateKey: () => new StoreError(GrpcCode.INVALID_ARGUMENT, "etcdserver: duplicate key given in txn request"),
  tooManyOps: () => new StoreError(GrpcCode.INVALID_ARGUMENT, "etcdserver: too many operations in txn request"),
  unimplemented: (what: string) => new StoreError(GrpcCode.UNIMPLEMENTED, `unknown method ${what}`),
};
