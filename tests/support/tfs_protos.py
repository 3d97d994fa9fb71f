"""TF Serving's MonitoringConfig and BatchingParameters messages, which the PyPI package
tensorflow-serving-api does not ship. Built from the upstream .proto field lists
(tensorflow_serving/config/monitoring_config.proto and
servables/tensorflow/session_bundle_config.proto, release 2.20) so that the text files the
operator renders are checked by a real protobuf text parser, not by string matching."""

from google.protobuf import descriptor_pb2, descriptor_pool, message_factory, wrappers_pb2
from google.protobuf.message import Message

F = descriptor_pb2.FieldDescriptorProto
_pool = descriptor_pool.DescriptorPool()
_pool.AddSerializedFile(wrappers_pb2.DESCRIPTOR.serialized_pb)


def _field(name: str, number: int, kind: int, type_name: str = "", repeated: bool = False) -> F:
    label = F.LABEL_REPEATED if repeated else F.LABEL_OPTIONAL
    field = F(name=name, number=number, type=kind, label=label)
    if type_name:
        field.type_name = type_name
    return field


def _build() -> None:
    file = descriptor_pb2.FileDescriptorProto(
        name="tfs_test_protos.proto",
        package="tensorflow.serving",
        syntax="proto3",
        dependency=["google/protobuf/wrappers.proto"],
    )
    prometheus = file.message_type.add(name="PrometheusConfig")
    prometheus.field.extend([_field("enable", 1, F.TYPE_BOOL), _field("path", 2, F.TYPE_STRING)])
    monitoring = file.message_type.add(name="MonitoringConfig")
    monitoring.field.append(
        _field("prometheus_config", 1, F.TYPE_MESSAGE, ".tensorflow.serving.PrometheusConfig")
    )
    batching = file.message_type.add(name="BatchingParameters")
    int64 = ".google.protobuf.Int64Value"
    batching.field.extend(
        [
            _field("max_batch_size", 1, F.TYPE_MESSAGE, int64),
            _field("batch_timeout_micros", 2, F.TYPE_MESSAGE, int64),
            _field("max_enqueued_batches", 3, F.TYPE_MESSAGE, int64),
            _field("num_batch_threads", 4, F.TYPE_MESSAGE, int64),
            _field("thread_pool_name", 5, F.TYPE_MESSAGE, ".google.protobuf.StringValue"),
            _field("allowed_batch_sizes", 6, F.TYPE_INT64, repeated=True),
            _field("pad_variable_length_inputs", 7, F.TYPE_BOOL),
        ]
    )
    _pool.Add(file)


_build()


def message(name: str) -> Message:
    descriptor = _pool.FindMessageTypeByName(f"tensorflow.serving.{name}")
    return message_factory.GetMessageClass(descriptor)()
