// metrics-server (the metrics API behind the aggregator) in its own module, like kwok: the
// parent module's k8s.io replace lines would otherwise retarget its Kubernetes libraries.
// Built by build-metrics-server.sh.
module tfmodel.io/testcluster/metrics-server

go 1.26.0
