/**
 * etcd's errors as its API defines them (the server's rpctypes): each a gRPC code and the
 * message text clients recognise it by — the text is the stable part, the Go client matches
 * on it too. One table for both sides: the embedded store raises these (memory/), and the
 * client turns a status carrying one of these messages into its typed error
 * (transport/status-error.ts), whichever backend answered.
 */
import { GrpcCode } from "./errors.js";

export interface EtcdStatus {
  readonly code: number;
  readonly message: string;
}

const status = (code: number, text: string): EtcdStatus => ({ code, message: `etcdserver: ${text}` });

export const etcdStatus = {
  emptyKey: status(GrpcCode.INVALID_ARGUMENT, "key is not provided"),
  keyNotFound: status(GrpcCode.INVALID_ARGUMENT, "key not found"),
  valueProvided: status(GrpcCode.INVALID_ARGUMENT, "value is provided"),
  leaseProvided: status(GrpcCode.INVALID_ARGUMENT, "lease is provided"),
  tooManyOps: status(GrpcCode.INVALID_ARGUMENT, "too many operations in txn request"),
  duplicateKey: status(GrpcCode.INVALID_ARGUMENT, "duplicate key given in txn request"),
  compacted: status(GrpcCode.OUT_OF_RANGE, "mvcc: required revision has been compacted"),
  futureRevision: status(GrpcCode.OUT_OF_RANGE, "mvcc: required revision is a future revision"),
  noSpace: status(GrpcCode.RESOURCE_EXHAUSTED, "mvcc: database space exceeded"),

  leaseNotFound: status(GrpcCode.NOT_FOUND, "requested lease not found"),
  leaseExists: status(GrpcCode.FAILED_PRECONDITION, "lease already exists"),
  leaseTtlTooLarge: status(GrpcCode.OUT_OF_RANGE, "too large lease TTL"),

  memberExists: status(GrpcCode.FAILED_PRECONDITION, "member ID already exist"),
  peerUrlExists: status(GrpcCode.FAILED_PRECONDITION, "Peer URLs already exists"),
  // etcd 3.4 answers this one without a gRPC code of its own: Unknown.
  memberNotEnoughStarted: status(GrpcCode.UNKNOWN, "re-configuration failed due to not enough started members"),
  memberNotFound: status(GrpcCode.NOT_FOUND, "member not found"),
  memberNotLearner: status(GrpcCode.FAILED_PRECONDITION, "can only promote a learner member"),
  learnerNotReady: status(GrpcCode.FAILED_PRECONDITION, "can only promote a learner member which is in sync with leader"),
  badLeaderTransferee: status(GrpcCode.FAILED_PRECONDITION, "bad leader transferee"),

  requestTooLarge: status(GrpcCode.INVALID_ARGUMENT, "request is too large"),
  tooManyRequests: status(GrpcCode.RESOURCE_EXHAUSTED, "too many requests"),

  rootUserMissing: status(GrpcCode.FAILED_PRECONDITION, "root user does not exist"),
  rootRoleMissing: status(GrpcCode.FAILED_PRECONDITION, "root user does not have root role"),
  userExists: status(GrpcCode.FAILED_PRECONDITION, "user name already exists"),
  userEmpty: status(GrpcCode.INVALID_ARGUMENT, "user name is empty"),
  userNotFound: status(GrpcCode.FAILED_PRECONDITION, "user name not found"),
  roleExists: status(GrpcCode.FAILED_PRECONDITION, "role name already exists"),
  roleNotFound: status(GrpcCode.FAILED_PRECONDITION, "role name not found"),
  roleEmpty: status(GrpcCode.INVALID_ARGUMENT, "role name is empty"),
  authFailed: status(GrpcCode.INVALID_ARGUMENT, "authentication failed, invalid user ID or password"),
  permissionDenied: status(GrpcCode.PERMISSION_DENIED, "permission denied"),
  roleNotGranted: status(GrpcCode.FAILED_PRECONDITION, "role is not granted to the user"),
  permissionNotGranted: status(GrpcCode.FAILED_PRECONDITION, "permission is not granted to the role"),
  authNotEnabled: status(GrpcCode.FAILED_PRECONDITION, "authentication is not enabled"),
  invalidAuthToken: status(GrpcCode.UNAUTHENTICATED, "invalid auth token"),
  invalidAuthMgmt: status(GrpcCode.INVALID_ARGUMENT, "invalid auth management"),
  authOldRevision: status(GrpcCode.INVALID_ARGUMENT, "revision of auth store is old"),

  noLeader: status(GrpcCode.UNAVAILABLE, "no leader"),
  notCapable: status(GrpcCode.UNAVAILABLE, "not capable"),
  unhealthyCluster: status(GrpcCode.UNAVAILABLE, "unhealthy cluster"),
} as const satisfies Record<string, EtcdStatus>;
