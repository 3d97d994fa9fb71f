#!/usr/bin/env bash
# Starts the local control plane on 127.0.0.1: etcd, kube-apiserver, kube-controller-manager,
# kube-scheduler, kwok (fake nodes: two CPU, one GPU) and metrics-server (the metrics API, with
# pod CPU usage emulated by kwok from the pod annotation kwok.x-k8s.io/usage-cpu). Writes
# RUN_DIR/kubeconfig and RUN_DIR/pids. Idempotent: a healthy running cluster is reused; one whose
# processes died (some or all) is restarted on its own data and PKI, so nothing in it is lost.
#   usage: up.sh [RUN_DIR]   (default: <repo>/.cluster)
#   ports: ETCD_PORT, ETCD_PEER_PORT, API_PORT, KCM_PORT, SCHED_PORT, METRICS_PORT (metrics-server,
#   default API_PORT+1000), KWOK_PORT (kwok's node server, default API_PORT+2000); more apiserver
#   flags (say, an audit policy): APISERVER_EXTRA_ARGS
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
run=$(mkdir -p "${1:-$here/../../.cluster}" && cd "${1:-$here/../../.cluster}" && pwd)
bin=$("$here/build.sh")
metrics=$("$here/build-metrics-server.sh")
export PATH="$bin:$metrics:$PATH"

etcd_port=${ETCD_PORT:-23790}; peer_port=${ETCD_PEER_PORT:-23800}; api_port=${API_PORT:-16443}
kcm_port=${KCM_PORT:-10357}; sched_port=${SCHED_PORT:-10359}
# Derived from the apiserver's port, so that a second cluster on other ports needs no more settings.
metrics_port=${METRICS_PORT:-$((api_port + 1000))}; kwok_port=${KWOK_PORT:-$((api_port + 2000))}
pki=$run/pki; kubeconfig=$run/kubeconfig
curl_admin=(curl -fsS --max-time 5 --cacert "$pki/ca.crt" --cert "$pki/admin.crt" --key "$pki/admin.key")

if [ -f "$run/pids" ] && "$here/down.sh" --check "$run" && "${curl_admin[@]}" "https://127.0.0.1:$api_port/readyz" >/dev/null 2>&1; then
  echo "up.sh: cluster already running ($kubeconfig)" >&2
  exit 0
fi
"$here/down.sh" --keep "$run" >/dev/null 2>&1 || true  # stops what is left of a killed run
restart=false
if [ -f "$pki/ca.crt" ] && [ -d "$run/etcd/member" ] && [ -f "$kubeconfig" ]; then
  if [ ! -f "$pki/front-proxy-ca.crt" ]; then
    echo "up.sh: $run was made by an older up.sh (no aggregation PKI); run down.sh $run first" >&2
    exit 1
  fi
  restart=true
  echo "up.sh: restarting the cluster in $run on its data" >&2
fi
taken() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
for port in "$etcd_port" "$peer_port" "$api_port" "$kcm_port" "$sched_port" "$metrics_port" "$kwok_port"; do
  for _ in $(seq 1 25); do taken "$port" || break; sleep 0.2; done  # a process just stopped may still hold it
  if taken "$port"; then
    echo "up.sh: port $port is taken (another cluster?); set ETCD_PORT, ETCD_PEER_PORT, API_PORT, KCM_PORT, SCHED_PORT, METRICS_PORT, KWOK_PORT" >&2
    exit 1
  fi
done
mkdir -p "$run/pki" "$run/etcd" "$run/logs"
started=$SECONDS

# --- PKI: one CA; serving cert for the apiserver; admin client cert (system:masters); SA key pair;
# for the aggregation layer (metrics.k8s.io): a front-proxy CA and the client cert the apiserver
# presents to metrics-server; metrics-server's self-signed serving cert
$restart || (

  cd "$pki"
  new_ca() { # name common-name
    openssl genrsa -out "$1.key" 2048 2>/dev/null
    openssl req -x509 -new -key "$1.key" -subj "/CN=$2" -days 3650 -out "$1.crt" \
      -addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign,cRLSign,digitalSignature"
  }
  sign() { # ca name subject extension-lines...
    local ca=$1 name=$2 subject=$3; shift 3
    openssl genrsa -out "$name.key" 2048 2>/dev/null
    openssl req -new -key "$name.key" -subj "$subject" -out "$name.csr"
    openssl x509 -req -in "$name.csr" -CA "$ca.crt" -CAkey "$ca.key" -CAcreateserial -days 3650 -out "$name.crt" \
      -extfile <(printf '%s\n' 'basicConstraints=CA:FALSE' 'keyUsage=critical,digitalSignature,keyEncipherment' "$@") 2>/dev/null
  }
  new_ca ca tfmodel-testcluster-ca
  sign ca apiserver "/CN=kube-apiserver" 'extendedKeyUsage=serverAuth' \
    'subjectAltName=DNS:localhost,DNS:kubernetes,DNS:kubernetes.default,DNS:kubernetes.default.svc,DNS:kubernetes.default.svc.cluster.local,IP:127.0.0.1,IP:10.96.0.1'
  sign ca admin "/O=system:masters/CN=tfmodel-testcluster-admin" 'extendedKeyUsage=clientAuth'
  openssl genrsa -out sa.key 2048 2>/dev/null && openssl rsa -in sa.key -pubout -out sa.pub 2>/dev/null
  new_ca front-proxy-ca tfmodel-testcluster-front-proxy-ca
  sign front-proxy-ca front-proxy-client "/CN=front-proxy-client" 'extendedKeyUsage=clientAuth'
  openssl req -x509 -newkey rsa:2048 -nodes -keyout metrics-server.key -out metrics-server.crt -days 3650 \
    -subj "/CN=metrics-server" -addext "subjectAltName=DNS:localhost,DNS:metrics-server.kube-system.svc,IP:127.0.0.1" 2>/dev/null
)

$restart || cat > "$kubeconfig" <<KCFG
apiVersion: v1
kind: Config
clusters: [{name: tfmodel-local, cluster: {server: "https://127.0.0.1:$api_port", certificate-authority: "$pki/ca.crt"}}]
users: [{name: admin, user: {client-certificate: "$pki/admin.crt", client-key: "$pki/admin.key"}}]
contexts: [{name: tfmodel-local, context: {cluster: tfmodel-local, user: admin}}]
current-context: tfmodel-local
KCFG

start() { # name command... ; records "PID name" so down.sh stops exactly these processes
  local name=$1; shift
  "$@" >"$run/logs/$name.log" 2>&1 &
  echo "$! $name" >>"$run/pids"
}
wait_for() { # what command... ; 60 s, then the logs and a failure
  local what=$1 n=0; shift
  until "$@" >/dev/null 2>&1; do
    n=$((n + 1))
    if [ $n -gt 240 ]; then
      echo "up.sh: timed out waiting for $what; component logs follow" >&2
      tail -n 40 "$run"/logs/*.log >&2
      exit 1
    fi
    sleep 0.25
  done
}

start etcd etcd --name=node0 --data-dir="$run/etcd" \
  --listen-client-urls="http://127.0.0.1:$etcd_port" --advertise-client-urls="http://127.0.0.1:$etcd_port" \
  --listen-peer-urls="http://127.0.0.1:$peer_port" --initial-advertise-peer-urls="http://127.0.0.1:$peer_port" \
  --initial-cluster="node0=http://127.0.0.1:$peer_port" --unsafe-no-fsync=true \
  --quota-backend-bytes=2147483648 --auto-compaction-retention=1 --log-level=warn
wait_for etcd curl -fsS --max-time 2 "http://127.0.0.1:$etcd_port/health"

start kube-apiserver kube-apiserver --etcd-servers="http://127.0.0.1:$etcd_port" \
  --bind-address=127.0.0.1 --secure-port="$api_port" --advertise-address=127.0.0.1 \
  --endpoint-reconciler-type=none \
  --tls-cert-file="$pki/apiserver.crt" --tls-private-key-file="$pki/apiserver.key" --client-ca-file="$pki/ca.crt" \
  --service-account-issuer=https://kubernetes.default.svc.cluster.local \
  --service-account-key-file="$pki/sa.pub" --service-account-signing-key-file="$pki/sa.key" \
  --authorization-mode=Node,RBAC --service-cluster-ip-range=10.96.0.0/16 --allow-privileged=true \
  --requestheader-client-ca-file="$pki/front-proxy-ca.crt" --requestheader-allowed-names=front-proxy-client \
  --requestheader-username-headers=X-Remote-User --requestheader-group-headers=X-Remote-Group \
  --requestheader-extra-headers-prefix=X-Remote-Extra- \
  --proxy-client-cert-file="$pki/front-proxy-client.crt" --proxy-client-key-file="$pki/front-proxy-client.key" \
  --profiling=false --v=1 ${APISERVER_EXTRA_ARGS:-}
wait_for kube-apiserver "${curl_admin[@]}" "https://127.0.0.1:$api_port/readyz"
# kwok's metrics CRDs (Metric, ClusterResourceUsage, ResourceUsage): kwok reads their objects.
kubectl --kubeconfig="$kubeconfig" apply --server-side -f "$metrics/kwok-metrics-crds.yaml" >/dev/null

start kube-controller-manager kube-controller-manager --kubeconfig="$kubeconfig" \
  --authentication-kubeconfig="$kubeconfig" --authorization-kubeconfig="$kubeconfig" \
  --bind-address=127.0.0.1 --secure-port="$kcm_port" --leader-elect=false \
  --service-account-private-key-file="$pki/sa.key" --root-ca-file="$pki/ca.crt" \
  --cluster-signing-cert-file="$pki/ca.crt" --cluster-signing-key-file="$pki/ca.key" \
  --use-service-account-credentials=true --node-monitor-period=2s --horizontal-pod-autoscaler-sync-period=5s \
  --profiling=false
start kube-scheduler kube-scheduler --kubeconfig="$kubeconfig" \
  --authentication-kubeconfig="$kubeconfig" --authorization-kubeconfig="$kubeconfig" \
  --bind-address=127.0.0.1 --secure-port="$sched_port" --leader-elect=false --profiling=false
# kwok's fast stages, except that a Job's pod runs for 4 s before it completes, so that a
# running export can be seen (and, in tests, failed the way a kubelet would report it).
awk '/^  name: pod-complete$/ {job = 1} {print} job && /^spec:$/ {print "  delay:\n    durationMilliseconds: 4000"; job = 0}' \
  "$bin/kwok-stages.yaml" >"$run/kwok-stages.yaml"
kubectl --kubeconfig="$kubeconfig" wait --for=condition=Established -f "$metrics/kwok-metrics-crds.yaml" \
  --timeout=60s >/dev/null || { echo "up.sh: kwok's metrics CRDs are not Established" >&2; exit 1; }
# The Metric that serves /metrics/nodes/{node}/metrics/resource as a kubelet would (pod CPU as a
# cumulative counter), and pod usage from the annotations kwok.x-k8s.io/usage-cpu and -memory.
wait_for "kwok's metrics objects" kubectl --kubeconfig="$kubeconfig" apply --server-side -f "$metrics/kwok-metrics.yaml"
# Pod IPs come from 127.10.0.0/16: the operator dials pod IPs, and only loopback may be dialed here.
# The node server (--node-port: the nodes' kubelet port) is what metrics-server scrapes.
start kwok kwok --kubeconfig="$kubeconfig" --config="$run/kwok-stages.yaml" \
  --manage-all-nodes=false --manage-nodes-with-annotation-selector=kwok.x-k8s.io/node=fake \
  --cidr=127.10.0.0/16 --node-ip=127.0.0.1 --node-lease-duration-seconds=40 \
  --enable-crds=Metric,ClusterResourceUsage,ResourceUsage --node-port="$kwok_port" --server-address="127.0.0.1:$kwok_port"
# metrics-server scrapes each node at its InternalIP (127.0.0.1) on kwok's port; 10 s is its
# shortest resolution (and must exceed the request timeout by a tenth).
start metrics-server metrics-server --bind-address=127.0.0.1 --secure-port="$metrics_port" \
  --tls-cert-file="$pki/metrics-server.crt" --tls-private-key-file="$pki/metrics-server.key" \
  --kubeconfig="$kubeconfig" --authentication-kubeconfig="$kubeconfig" --authorization-kubeconfig="$kubeconfig" \
  --kubelet-preferred-address-types=InternalIP,Hostname --kubelet-use-node-status-port --kubelet-port="$kwok_port" \
  --kubelet-insecure-tls --metric-resolution=10s --kubelet-request-timeout=5s
wait_for kube-controller-manager curl -fsSk --max-time 2 "https://127.0.0.1:$kcm_port/healthz"
wait_for kube-scheduler curl -fsSk --max-time 2 "https://127.0.0.1:$sched_port/healthz"
wait_for "the default ServiceAccount" kubectl --kubeconfig="$kubeconfig" get serviceaccount default -n default

if ! kubectl --kubeconfig="$kubeconfig" get node cpu-node-0 >/dev/null 2>&1; then
  kubectl --kubeconfig="$kubeconfig" create -f "$here/nodes.yaml" >/dev/null
fi
nodes_ready() { # every fake node Ready, and the not-ready taint removed by the node-lifecycle controller
  local out
  out=$(kubectl --kubeconfig="$kubeconfig" get nodes -o \
    jsonpath='{range .items[*]}{.metadata.name} {.status.conditions[?(@.type=="Ready")].status} {.spec.taints[*].key}{"\n"}{end}')
  [ "$(echo "$out" | grep -c ' True')" -eq 3 ] && ! echo "$out" | grep -q 'node.kubernetes.io/not-ready'
}
wait_for "three Ready fake nodes" nodes_ready

# The metrics API: metrics-server behind the aggregator. An ExternalName Service, since the
# Endpoints of a Service may not hold a loopback address. Registered once metrics-server listens,
# so that the aggregator's first availability check passes; waited for 30 s at most.
deadline=$((SECONDS + 30))
until curl -fsSk --max-time 2 "https://127.0.0.1:$metrics_port/livez" >/dev/null 2>&1 || [ $SECONDS -ge $deadline ]; do
  sleep 0.25
done
kubectl --kubeconfig="$kubeconfig" apply --server-side -f - >/dev/null <<YAML
apiVersion: v1
kind: Service
metadata: {name: metrics-server, namespace: kube-system}
spec: {type: ExternalName, externalName: 127.0.0.1}
---
apiVersion: apiregistration.k8s.io/v1
kind: APIService
metadata: {name: v1beta1.metrics.k8s.io}
spec:
  group: metrics.k8s.io
  version: v1beta1
  service: {name: metrics-server, namespace: kube-system, port: $metrics_port}
  insecureSkipTLSVerify: true
  groupPriorityMinimum: 100
  versionPriority: 100
YAML
until "${curl_admin[@]}" "https://127.0.0.1:$api_port/apis/metrics.k8s.io/v1beta1/pods" >/dev/null 2>&1; do
  if [ $SECONDS -ge $deadline ]; then
    echo "up.sh: the metrics API does not answer yet; see $run/logs/metrics-server.log" >&2
    break
  fi
  sleep 0.25
done

echo "up.sh: control plane ready in $((SECONDS - started)) s; export KUBECONFIG=$kubeconfig" >&2
