# One entry point for people and CI. `make demo` runs the product locally; `make test` proves it.
SHELL := /bin/bash
VENV := .venv
PY := $(VENV)/bin/python
CLUSTER := .cluster
# kubectl and the control-plane binaries, built by tests/cluster/build.sh, linked here.
export PATH := $(CURDIR)/$(CLUSTER)/bin:$(CURDIR)/$(VENV)/bin:$(PATH)

.PHONY: help install cluster-build cluster-up cluster-down lint fmt graph test test-unit test-integration demo demo-s3 run bench clean

help:  ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | sed 's/:.*## /\t/'

$(VENV)/.installed: pyproject.toml
	python3 -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[dev]'
	touch $@

install: $(VENV)/.installed  ## create .venv with the operator and its dev tools

cluster-build:  ## build (or reuse from ~/.cache) etcd, kube-*, kubectl, kwok, metrics-server and the S3 and GCS test servers
	@mkdir -p $(CLUSTER)
	@ln -sfn "$$(tests/cluster/build.sh)" $(CLUSTER)/bin
	@tests/cluster/build-metrics-server.sh >/dev/null
	@tests/cluster/build-fake-gcs-server.sh >/dev/null
	@tests/cluster/build-moto.sh >/dev/null

cluster-up: cluster-build  ## start the local control plane; writes .cluster/kubeconfig
	tests/cluster/up.sh $(CLUSTER)

cluster-down:  ## stop exactly the processes cluster-up started
	tests/cluster/down.sh $(CLUSTER)

lint: install  ## ruff, mypy, and the import contracts between the modules (import-linter)
	$(VENV)/bin/ruff check operator tests
	$(VENV)/bin/ruff format --check operator tests
	$(VENV)/bin/mypy
	$(VENV)/bin/lint-imports --no-cache

fmt: install  ## fix what ruff can (ruff check --fix), then format (ruff format) operator and tests
	$(VENV)/bin/ruff check --fix operator tests
	$(VENV)/bin/ruff format operator tests

graph: install  ## print the package's modules, their sizes and what each imports
	$(PY) tests/tools/module_graph.py

test-unit: install  ## pure code: no cluster, no network, no TensorFlow
	$(VENV)/bin/pytest tests/unit

test-integration: install cluster-build  ## real parts: the local control plane, TensorFlow, the exporter and client
	$(VENV)/bin/pytest tests/integration

test: lint cluster-build  ## the whole suite: lint, unit and integration tests
	$(VENV)/bin/pytest

demo: install cluster-build  ## the local control plane + the operator serving the sample VGG16 TFModel
	tests/cluster/demo.sh

demo-s3: install cluster-build  ## the same demo with the versions in a local S3 bucket (moto)
	STORE=s3 tests/cluster/demo.sh

bench: install cluster-build  ## scale benchmark on a control plane of its own (N=500 TFModels, IDLE=60 s)
	$(PY) tests/benchmarks/bench_scale.py --n $${N:-500} --idle $${IDLE:-60}

run: install  ## run the operator against the current kubeconfig
	$(VENV)/bin/tfmodel run --all-namespaces

clean: cluster-down  ## remove .venv and .cluster (the local cluster state and the demo's exported models)
	rm -rf $(VENV) $(CLUSTER) .bench-cluster
