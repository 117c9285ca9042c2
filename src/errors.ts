// The one catalogue of etcd's errors. Every layer throws `EtcdError(name)`; the API layers map the
// name to a gRPC status (code + etcd's exact message, which clients match byte for byte) or an
// HTTP answer. Messages come from etcd's rpctypes table (etcd 3.5 codes, our default API version).

/** gRPC status codes (numeric values of grpc.status), kept here so lower layers need not import grpc-js. */
export const GrpcCode = {
  OK: 0,
  CANCELLED: 1,
  UNKNOWN: 2,
  INVALID_ARGUMENT: 3,
  DEADLINE_EXCEEDED: 4,
  NOT_FOUND: 5,
  ALREADY_EXISTS: 6,
  PERMISSION_DENIED: 7,
  RESOURCE_EXHAUSTED: 8,
  FAILED_PRECONDITION: 9,
  ABORTED: 10,
  OUT_OF_RANGE: 11,
  UNIMPLEMENTED: 12,
  INTERNAL: 13,
  UNAVAILABLE: 14,
  DATA_LOSS: 15,
  UNAUTHENTICATED: 16,
} as const;
export type GrpcCodeValue = (typeof GrpcCode)[keyof typeof GrpcCode];

const C = GrpcCode;
export const etcdErrors = {
  EmptyKey: [C.INVALID_ARGUMENT, 'etcdserver: key is not provided'],
  KeyNotFound: [C.INVALID_ARGUMENT, 'etcdserver: key not found'],
  ValueProvided: [C.INVALID_ARGUMENT, 'etcdserver: value is provided'],
  LeaseProvided: [C.INVALID_ARGUMENT, 'etcdserver: lease is provided'],
  TooManyOps: [C.INVALID_ARGUMENT, 'etcdserver: too many operations in txn request'],
  DuplicateKey: [C.INVALID_ARGUMENT, 'etcdserver: duplicate key given in txn request'],
  InvalidSortOption: [C.INVALID_ARGUMENT, 'etcdserver: invalid sort option'],
  Compacted: [C.OUT_OF_RANGE, 'etcdserver: mvcc: required revision has been compacted'],
  FutureRev: [C.OUT_OF_RANGE, 'etcdserver: mvcc: required revision is a future revision'],
  NoSpace: [C.RESOURCE_EXHAUSTED, 'etcdserver: mvcc: database space exceeded'],
  LeaseNotFound: [C.NOT_FOUND, 'etcdserver: requested lease not found'],
  LeaseExist: [C.FAILED_PRECONDITION, 'etcdserver: lease already exists'],
  LeaseTTLTooLarge: [C.OUT_OF_RANGE, 'etcdserver: too large lease TTL'],
  WatchCanceled: [C.CANCELLED, 'etcdserver: watch canceled'],
  MemberExist: [C.FAILED_PRECONDITION, 'etcdserver: member ID already exist'],
  PeerURLExist: [C.FAILED_PRECONDITION, 'etcdserver: Peer URLs already exists'],
  MemberNotEnoughStarted: [C.FAILED_PRECONDITION, 'etcdserver: re-configuration failed due to not enough started members'],
  MemberBadURLs: [C.INVALID_ARGUMENT, 'etcdserver: given member URLs are invalid'],
  MemberNotFound: [C.NOT_FOUND, 'etcdserver: member not found'],
  MemberNotLearner: [C.FAILED_PRECONDITION, 'etcdserver: can only promote a learner member'],
  LearnerNotReady: [C.FAILED_PRECONDITION, 'etcdserver: can only promote a learner member which is in sync with leader'],
  TooManyLearners: [C.FAILED_PRECONDITION, 'etcdserver: too many learner members in cluster'],
  RequestTooLarge: [C.INVALID_ARGUMENT, 'etcdserver: request is too large'],
  TooManyRequests: [C.RESOURCE_EXHAUSTED, 'etcdserver: too many requests'],
  RootUserNotExist: [C.FAILED_PRECONDITION, 'etcdserver: root user does not exist'],
  RootRoleNotExist: [C.FAILED_PRECONDITION, 'etcdserver: root user does not have root role'],
  UserAlreadyExist: [C.FAILED_PRECONDITION, 'etcdserver: user name already exists'],
  UserEmpty: [C.INVALID_ARGUMENT, 'etcdserver: user name is empty'],
  UserNotFound: [C.FAILED_PRECONDITION, 'etcdserver: user name not found'],
  RoleAlreadyExist: [C.FAILED_PRECONDITION, 'etcdserver: role name already exists'],
  RoleNotFound: [C.FAILED_PRECONDITION, 'etcdserver: role name not found'],
  RoleEmpty: [C.INVALID_ARGUMENT, 'etcdserver: role name is empty'],
  AuthFailed: [C.INVALID_ARGUMENT, 'etcdserver: authentication failed, invalid user ID or password'],
  PermissionNotGiven: [C.INVALID_ARGUMENT, 'etcdserver: permission not given'],
  PermissionDenied: [C.PERMISSION_DENIED, 'etcdserver: permission denied'],
  RoleNotGranted: [C.FAILED_PRECONDITION, 'etcdserver: role is not granted to the user'],
  PermissionNotGranted: [C.FAILED_PRECONDITION, 'etcdserver: permission is not granted to the role'],
  AuthNotEnabled: [C.FAILED_PRECONDITION, 'etcdserver: authentication is not enabled'],
  InvalidAuthToken: [C.UNAUTHENTICATED, 'etcdserver: invalid auth token'],
  InvalidAuthMgmt: [C.INVALID_ARGUMENT, 'etcdserver: invalid auth management'],
  AuthOldRevision: [C.INVALID_ARGUMENT, 'etcdserver: revision of auth store is old'],
  NoLeader: [C.UNAVAILABLE, 'etcdserver: no leader'],
  NotLeader: [C.FAILED_PRECONDITION, 'etcdserver: not leader'],
  LeaderChanged: [C.UNAVAILABLE, 'etcdserver: leader changed'],
  NotCapable: [C.UNAVAILABLE, 'etcdserver: not capable'],
  Stopped: [C.UNAVAILABLE, 'etcdserver: server stopped'],
  Timeout: [C.UNAVAILABLE, 'etcdserver: request timed out'],
  TimeoutDueToLeaderFail: [C.UNAVAILABLE, 'etcdserver: request timed out, possibly due to previous leader failure'],
  TimeoutDueToConnectionLost: [C.UNAVAILABLE, 'etcdserver: request timed out, possibly due to connection lost'],
  TimeoutWaitAppliedIndex: [C.UNAVAILABLE, 'etcdserver: request timed out, waiting for the applied index took too long'],
  Unhealthy: [C.UNAVAILABLE, 'etcdserver: unhealthy cluster'],
  Corrupt: [C.DATA_LOSS, 'etcdserver: corrupt cluster'],
  NotSupportedForLearner: [C.UNAVAILABLE, 'etcdserver: rpc not supported for learner'],
  BadLeaderTransferee: [C.FAILED_PRECONDITION, 'etcdserver: bad leader transferee'],
  WrongDowngradeVersionFormat: [C.INVALID_ARGUMENT, 'etcdserver: wrong downgrade target version format'],
  InvalidDowngradeTargetVersion: [C.INVALID_ARGUMENT, 'etcdserver: invalid downgrade target version'],
  ClusterVersionUnavailable: [C.FAILED_PRECONDITION, 'etcdserver: cluster version not found during downgrade'],
  DowngradeInProcess: [C.FAILED_PRECONDITION, 'etcdserver: cluster has a downgrade job in progress'],
  NoInflightDowngrade: [C.FAILED_PRECONDITION, 'etcdserver: no inflight downgrade job'],
  Canceled: [C.CANCELLED, 'etcdserver: request canceled'],
  DeadlineExceeded: [C.DEADLINE_EXCEEDED, 'etcdserver: context deadline exceeded'],
} as const satisfies Record<string, readonly [GrpcCodeValue, string]>;

export type EtcdErrorName = keyof typeof etcdErrors;

/** A domain error with etcd's identity. `message` is etcd's exact text. */
export class EtcdError extends Error {
  readonly grpcCode: GrpcCodeValue;
  constructor(readonly errorName: EtcdErrorName) {
    super(etcdErrors[errorName][1]);
    this.name = 'EtcdError';
    this.grpcCode = etcdErrors[errorName][0];
  }
}

export function isEtcdError(error: unknown, name?: EtcdErrorName): error is EtcdError {
  return error instanceof EtcdError && (name === undefined || error.errorName === name);
}
