"""Pure: the TFModel's condition types and reasons (CamelCase, reused as event reasons)."""

READY, PROGRESSING, DEGRADED = "Ready", "Progressing", "Degraded"
# kstatus (Flux, kpt, cli-utils) and Argo CD read these: Reconciling True while converging,
# Stalled True when nothing will change until the spec or the world does.
RECONCILING, STALLED = "Reconciling", "Stalled"
CONFIG_APPLIED, EXPORTED = "ConfigApplied", "Exported"
SYNCED = "Synced"  # with a bucket: does every ready pod's model-sync read it without error?

# Reasons (CamelCase, reused as event reasons).
AS_EXPECTED = "AsExpected"
SERVING = "Serving"
CREATING = "Creating"
ROLLING_OUT = "RollingOut"
ROLLOUT_COMPLETE = "RolloutComplete"
SCALED_TO_ZERO = "ScaledToZero"
UNAVAILABLE = "Unavailable"
UNSCHEDULABLE = "Unschedulable"
PROGRESS_DEADLINE_EXCEEDED = "ProgressDeadlineExceeded"
REPLICA_FAILURE = "ReplicaFailure"
INVALID_SPEC = "InvalidSpec"
APPLY_FAILED = "ApplyFailed"
CHILD_CONFLICT = "ChildConflict"
INTERNAL_ERROR = "InternalError"
POLICY_VIOLATION = "PolicyViolation"
SCALED_ELSEWHERE = "ScaledElsewhere"  # an event: the Deployment's size was set back
# ConfigApplied: is the desired models.config in effect in TF Serving on every ready pod?
APPLIED = "Applied"
NO_POD_ANSWERED = "NoPodAnswered"
LOADING = "Loading"
WAITING_FOR_RELOAD = "WaitingForReload"
LABEL_MOVE_PENDING = "LabelMovePending"
VERSION_LOAD_FAILED = "VersionLoadFailed"
PROMOTION_BLOCKED = "PromotionBlocked"
RELOAD_NOT_SEEN = "ReloadNotSeen"
IN_TRANSITION = (NO_POD_ANSWERED, LOADING, WAITING_FOR_RELOAD, LABEL_MOVE_PENDING)
# Exported: have the export Jobs published every version they build?
EXPORTS_SUCCEEDED = "ExportsSucceeded"
EXPORT_RUNNING = "ExportRunning"
EXPORT_FAILED = "ExportFailed"
EXPORT_REFUSED = "ExportRefused"
# Synced: the model-sync sidecars' word on the bucket.
IN_SYNC = "InSync"
SYNC_FAILED = "SyncFailed"

# Degraded for these means stuck: retrying will not help until a human changes something.
TERMINAL = (VERSION_LOAD_FAILED, PROMOTION_BLOCKED, RELOAD_NOT_SEEN, EXPORT_FAILED, EXPORT_REFUSED,
            PROGRESS_DEADLINE_EXCEEDED, REPLICA_FAILURE, INVALID_SPEC, APPLY_FAILED,
            CHILD_CONFLICT, POLICY_VIOLATION)  # fmt: skip
