# Uptrack: `make run` starts one node with demo monitors; `make test` runs the suite.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
# Debian packages the integration tests and benchmarks start for real.
SYSTEM_PACKAGES := etcd-server etcd-client postgresql nginx ruby systemd openssl iproute2
SYSTEM_COMMANDS := etcd etcdctl nginx ruby systemd-analyze openssl ip unshare
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)

.PHONY: run test lint typecheck unit system-deps bench clean

$(BIN)/uptrack: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[test]'
	touch $@

run: $(BIN)/uptrack
	$(BIN)/uptrack apply examples/demo.yaml --data-dir .uptrack
	$(BIN)/uptrack serve --data-dir .uptrack --listen 127.0.0.1:8080

system-deps:
	@missing=""; \
	for c in $(SYSTEM_COMMANDS); do command -v $$c >/dev/null || missing=1; done; \
	ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || missing=1; \
	if [ -n "$$missing" ]; then \
		echo "installing $(SYSTEM_PACKAGES)"; \
		$(SUDO) apt-get update -qq && \
		DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq --no-install-recommends \
			$(SYSTEM_PACKAGES) >/dev/null; \
	fi

lint: $(BIN)/uptrack
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: $(BIN)/uptrack
	$(BIN)/mypy

unit: $(BIN)/uptrack
	$(BIN)/pytest -q

test: system-deps $(BIN)/uptrack lint typecheck
	$(BIN)/pytest -q

bench: $(BIN)/uptrack system-deps
	$(BIN)/python bench/capacity.py

clean:
	rm -rf $(VENV) .uptrack .pytest_cache .mypy_cache .ruff_cache
