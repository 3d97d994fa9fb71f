# The operator image: `tfmodel run`, without TensorFlow (the exporter has its own image).
FROM python:3.11-slim
WORKDIR /src
COPY pyproject.toml README.md ./
COPY operator ./operator
RUN pip install --no-cache-dir . && rm -rf /src
USER 65532:65532
ENTRYPOINT ["tfmodel"]
CMD ["run", "--all-namespaces"]
