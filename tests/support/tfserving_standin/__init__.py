"""A stand-in for TensorFlow Serving's REST API. FOR TESTS ONLY.

No ``tensorflow_model_server`` binary can be installed on the machines these tests run on, so
integration tests start one `StandIn` per fake pod, bound on that pod's loopback IP and port
8501 (for example 127.10.0.7:8501), and the operator dials exactly what it would dial in a
cluster. It is not a model server: it is a small, single-process imitation of the parts of
TF Serving the operator depends on, written against the TF Serving sources (2.20/2.21):

* models.config is parsed with the real ``ModelServerConfig`` proto and re-read every
  ``poll_seconds`` (``--model_config_file_poll_wait_seconds``); version directories are
  re-scanned on the same period (``--file_system_poll_wait_seconds``).
* Loading follows the AvailabilityPreservingPolicy: a new version is loaded (highest first)
  before versions that left the policy are unloaded. Versions are loaded with the real
  ``tf.saved_model.load``; one load at a time. States: START, LOADING, AVAILABLE, UNLOADING,
  END. END entries stay in the status list until restart, as in TF Serving (serving#1488).
* ServerCore::ReloadConfig order: the new label map is checked against the versions that are
  AVAILABLE *before* anything is loaded, on the first config too. With
  ``allow_labels_for_unavailable`` (``--allow_version_labels_for_unavailable_models``) a new
  label, or one that keeps its version, may point at an unavailable version; moving an existing
  label needs the target AVAILABLE. One bad label rejects the whole reload and the previous
  config (policy and labels) stays in force; the file is re-applied on every poll, so the
  rejection repeats until the file changes, as TF Serving logs it on every poll.
* The server does not listen until the initial models have loaded, and refuses to start if a
  model's newest version fails to load ("N model(s) did not become available").
* REST paths, error texts and HTTP codes follow http_rest_api_handler.cc, json_tensor.cc and
  get_model_status_impl.cc. Note what real TF Serving does and this copy keeps:
  ``GET /v1/models/m/labels/l`` returns the status of ALL versions (the status API ignores the
  label, and does not even check that it exists); to see where a label points, use
  ``/labels/l/metadata`` (``model_spec.version``) or ``/labels/l:predict``. An unknown label is
  400, not 404. A path outside ``/v1/`` gets an empty 404; a malformed ``/v1/`` path gets 400.
  The paths are matched with their query string, as TF Serving does: ``GET /v1/models/m?x=1``
  asks for a model named "m?x=1" (404) and ``POST /v1/models/m:predict?x=1`` is malformed (400).
* Request bodies are read as TF Serving's rapidjson 1.1.0 reads them (a port of its iterative
  parser and number parsing): text after the first JSON value is ignored, NaN/Infinity/Inf are
  numbers, nesting has no limit, parse errors carry rapidjson's message and byte offset, and
  numbers get rapidjson's values (an integer of any size converts to a float input; a number
  beyond float range is +/-Infinity there; an exponent beyond 308 is "Number too big to be
  stored in double."). "JSON Value: ..." texts in errors are written like rapidjson's
  PrettyWriter, cut at 256 bytes; only the digits of a double that needs 17 of them may
  differ (Grisu2 does not always pick the shortest digits; Python does). Duplicate keys keep
  the last value here (rapidjson's FindMember finds the first).
* Metrics (``monitoring_config``, TF Serving's ``--monitoring_config_file``): every REST
  request under /v1/ is counted in ``:tensorflow:serving:request_count{model_name,status}``,
  status and metadata GETs included, as http_server.cc counts them; a successful one also goes
  into the ``:tensorflow:serving:request_latency{model_name,API,entrypoint="REST"}``
  histogram (microseconds), and a successful :predict's model run into
  ``:tensorflow:serving:runtime_latency``. With ``prometheus_config { enable: true }`` they are
  served on the REST port at its path, written as prometheus_exporter.cc writes them. The
  other metrics of a real server are not imitated (see ``http_server``).

Not imitated: gRPC, :classify and :regress (501 here, and counted as UNIMPLEMENTED), batching,
warmup, the model server flags other than the ones above, CORS and OPTIONS. Response bodies
hold the same JSON values as TF Serving's but not the same bytes: TF Serving pretty-prints
them (protobuf's add_whitespace for status and metadata, rapidjson's PrettyWriter for
predictions and errors), the stand-in writes compact JSON. Load retries default to none here (TF Serving's
defaults are 5 retries one minute apart, keeping the version in LOADING meanwhile); pass
``load_retries``/``load_retry_interval`` to imitate them.

Layout, each module importing only modules listed after it (no cycles):

* ``server``: `StandIn`, its lifecycle (start, stop) and the REST API: routing, and the status,
  metadata and :predict handlers;
* ``http_server``: the HTTP/1.1 transport, the request path as TF Serving sees it, and the
  request metrics with the Prometheus page they are served as;
* ``core``: ServerCore, models.config applied (reload, labels), the config and filesystem polls,
  servable handles;
* ``loader``: the servables and the availability-preserving manager that loads and unloads
  them;
* ``config``: models.config parsing and validation, the monitoring config, version
  directories and version policies (it reads MonitoringConfig with ``support.tfs_protos``);
* ``json_codec``: JSON <-> tensors, as json_tensor.cc converts them;
* ``rapidjson``: the port of rapidjson's parser, number parsing and PrettyWriter;
* ``errors``: `ServingError` and the status codes;
* ``saved_models``: SavedModels for tests (`make_saved_model`, `make_broken_version`,
  `publish_dir`), independent of the rest.
"""

from .errors import ServingError
from .loader import AVAILABLE, END, LOADING, START, UNLOADING
from .saved_models import make_broken_version, make_saved_model, publish_dir
from .server import StandIn

__all__ = [
    "AVAILABLE",
    "END",
    "LOADING",
    "START",
    "UNLOADING",
    "ServingError",
    "StandIn",
    "make_broken_version",
    "make_saved_model",
    "publish_dir",
]
