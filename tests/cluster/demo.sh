#!/usr/bin/env bash
# The product, locally: the control plane, the operator reconciling the sample VGG16 TFModel,
# then a label move that TF Serving picks up from models.config without restarting a pod.
# Leaves everything running; `make cluster-down` stops it. Expects kubectl and tfmodel on PATH.
# STORE=s3 (`make demo-s3`): the versions are in a bucket of a local S3 server (moto) instead
# of a volume, and each pod's model-sync sidecar mirrors them into the pod.
set -euo pipefail
store=${STORE:-volume}
here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../.." && pwd)
run=$repo/.cluster
export KUBECONFIG=$run/kubeconfig
ns=demo

"$here/up.sh" "$run"
kubectl apply --server-side -k "$repo/crds" >/dev/null
kubectl wait --for=condition=Established crd/tfmodels.serving.tfmodel.io >/dev/null
kubectl apply --server-side -f "$repo/manifests/namespace.yaml" -f "$repo/manifests/rbac.yaml" >/dev/null

if ! grep -q ' tfmodel$' "$run/pids" 2>/dev/null; then
  TFMODEL_RESYNC_SECONDS=5 tfmodel run --all-namespaces >"$run/logs/operator.log" 2>&1 &
  echo "$! tfmodel" >>"$run/pids"
  echo "demo: operator started (log: $run/logs/operator.log)"
fi

# The SavedModels: VGG16 exported by our exporter, with random weights (no model hub is
# reachable here; `--weights imagenet` is what a real cluster would use).
if [ "$store" = s3 ]; then
  # A local S3 (moto's server, on loopback): the bucket `models`, the versions exported into it.
  if ! grep -q ' moto_server$' "$run/pids" 2>/dev/null; then
    port=$(python -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
    "$here/build-moto.sh" >/dev/null
    "$("$here/build-moto.sh")" -H 127.0.0.1 -p "$port" >"$run/logs/moto.log" 2>&1 &
    echo "$! moto_server" >>"$run/pids"
    echo "$port" >"$run/moto.port"
    until curl -fsS "http://127.0.0.1:$port/moto-api/" >/dev/null 2>&1; do sleep 0.2; done
    curl -fsS -X PUT "http://127.0.0.1:$port/models" >/dev/null
    echo "demo: S3 (moto) on http://127.0.0.1:$port, bucket models"
  fi
  export AWS_ENDPOINT_URL=http://127.0.0.1:$(cat "$run/moto.port") AWS_REGION=us-east-1 \
    AWS_ACCESS_KEY_ID=demo AWS_SECRET_ACCESS_KEY=demo
  for version in 1 2; do
    tfmodel export --application VGG16 --weights none --version "$version" --exist-ok \
      --base-path s3://models/vgg16
  done
else
  for version in 1 2; do
    [ -d "$run/models/vgg16/$version" ] ||
      tfmodel export --application VGG16 --weights none --version "$version" --base-path "$run/models/vgg16"
  done
fi

# kwok's pods run nothing, so TF Serving is played by the tests' stand-in, bound on each pod's
# IP (see docs/development.md); it reads the ConfigMap the way kubelet delivers it.
if ! grep -q ' support.serving_pods$' "$run/pids" 2>/dev/null; then
  PYTHONPATH="$repo/tests" python -m support.serving_pods $ns vgg16 "$run/models" --workdir "$run/pods" \
    >"$run/logs/tfserving-standin.log" 2>&1 &
  echo "$! support.serving_pods" >>"$run/pids"
fi

# A namespace that enforces Pod Security "restricted", and a volume for the SavedModels. The
# local cluster has no storage provisioner, so the claim binds to a hostPath volume under .cluster.
kubectl apply --server-side -f - >/dev/null <<YAML
apiVersion: v1
kind: Namespace
metadata: {name: $ns, labels: {pod-security.kubernetes.io/enforce: restricted}}
---
apiVersion: v1
kind: PersistentVolume
metadata: {name: demo-models}
spec:
  capacity: {storage: 20Gi}
  accessModes: [ReadWriteMany]
  persistentVolumeReclaimPolicy: Retain
  hostPath: {path: $run/models}
  claimRef: {namespace: $ns, name: models}
YAML
if [ "$store" = s3 ]; then
  kubectl create secret generic s3-creds -n $ns --from-literal=AWS_ACCESS_KEY_ID=demo \
    --from-literal=AWS_SECRET_ACCESS_KEY=demo --dry-run=client -o yaml | kubectl apply --server-side -f - >/dev/null
  sed "s|http://minio.storage:9000|$AWS_ENDPOINT_URL|; s|syncSeconds: 30|syncSeconds: 2|" \
    "$repo/manifests/samples/vgg16-s3.yaml" | kubectl apply --server-side -n $ns -f -
else
  kubectl apply --server-side -n $ns -f "$repo/manifests/samples/models-pvc.yaml" -f "$repo/manifests/samples/vgg16.yaml"
fi
kubectl wait -n $ns --for=condition=Ready tfm/vgg16 --timeout=300s
# Ready needs the pods that answer; wait until TF Serving answers on both.
kubectl wait -n $ns --for=jsonpath='{.status.versions[0].availableReplicas}'=2 tfm/vgg16 --timeout=300s >/dev/null
kubectl get tfm -n $ns -o wide

pods() { kubectl get pods -n $ns -l app.kubernetes.io/instance=vgg16 -o jsonpath='{range .items[*]}{.metadata.name}/{.metadata.uid}{"\n"}{end}' | sort; }
before=$(pods)
echo
echo "demo: moving the stable label from version 1 to version 2"
kubectl patch tfm vgg16 -n $ns --type=merge -p '{"spec":{"versionLabels":{"stable":2,"canary":2}}}'
until kubectl get cm vgg16-models-config -n $ns -o jsonpath='{.data.models\.config}' | grep -q "key: 'stable' value: 2"; do sleep 0.5; done
kubectl wait -n $ns --for=jsonpath='{.status.labels.stable}'=2 tfm/vgg16 --timeout=120s >/dev/null
kubectl get cm vgg16-models-config -n $ns -o jsonpath='{.data.models\.config}'
kubectl get tfm -n $ns -o wide
if [ "$(pods)" = "$before" ]; then
  echo "demo: the label moved in models.config; the same $(echo "$before" | wc -l) pods kept running (no restart)"
else
  echo "demo: pods changed after a label move:" >&2; echo "$before" >&2; pods >&2; exit 1
fi
ip=$(kubectl get pods -n $ns -l app.kubernetes.io/instance=vgg16 -o jsonpath='{.items[0].status.podIP}')
python -c "import tensorflow as tf; tf.io.write_file('$run/photo.jpg', tf.io.encode_jpeg(tf.cast(tf.random.uniform([480, 640, 3], 0, 255), tf.uint8)))" 2>/dev/null
echo "demo: (random weights, so the classes mean nothing) tfmodel predict --url http://$ip:8501/v1/models/vgg16 --image $run/photo.jpg --label stable"
tfmodel predict --url "http://$ip:8501/v1/models/vgg16" --image "$run/photo.jpg" --label stable --top 3
echo "demo: try  export KUBECONFIG=$KUBECONFIG PATH=$run/bin:\$PATH; kubectl get tfm -A"
