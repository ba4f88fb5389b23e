# Two commands set everything up on a fresh Debian / Ubuntu / Raspberry Pi OS machine:
#   make run   — venv, install, data set, the main job (train → export → check → robustness → bench)
#   make test  — venv, install, the whole test suite
SHELL := /bin/bash
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
RUNS ?= runs
MODELS ?= models
REPORTS ?= reports
EPOCHS ?=  # empty: each model's own (10 for the study's three)
BATCH_NORM ?=  # empty: fit's default (fused); keras: Keras's own ops, as the committed default model was trained
WILD ?= ../shared/wild-dev
PYTEST_ARGS ?= -n 2
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)

.PHONY: run test venv data train export robustness bench model check-pi check-pi-run clean help

help:
	@echo "make run    — install and run the main job (results in $(RUNS)/, $(MODELS)/, $(REPORTS)/)"
	@echo "make test   — install and run the test suite"
	@echo "make model  — rebuild the edge app's default model from $(MODELS)/"

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --upgrade pip

# Re-install when the project's metadata changes.
$(VENV)/.installed: pyproject.toml | $(BIN)/python
	$(BIN)/pip install -e ".[train,edge,dev]"
	touch $@

venv: $(VENV)/.installed

# Fashion-MNIST: Debian's package where apt exists; otherwise Keras's download on first use.
data:
	@if [ -f /usr/share/datasets/fashion-mnist/t10k-labels-idx1-ubyte.gz ] || [ -n "$$FASHION_MNIST_DIR" ]; then \
		echo "data: Fashion-MNIST present"; \
	elif command -v apt-get >/dev/null 2>&1; then \
		($(SUDO) apt-get install -y dataset-fashion-mnist || ($(SUDO) apt-get update && $(SUDO) apt-get install -y dataset-fashion-mnist)) \
		|| echo "data: apt could not install dataset-fashion-mnist; training will try Keras's download"; \
	else \
		echo "data: no apt here; training will use Keras's download (needs the network) or FASHION_MNIST_DIR"; \
	fi
	@# GIMP's photographed patterns (wood, stone, fabric): backgrounds and prints for the rendered photos.
	@if [ -d /usr/share/gimp/2.0/patterns ]; then echo "data: GIMP patterns present"; \
	elif command -v apt-get >/dev/null 2>&1; then \
		$(SUDO) apt-get install -y gimp-data >/dev/null || echo "data: no gimp-data; rendered photos use procedural textures only"; \
	fi

test: venv data
	$(BIN)/python -m pytest $(PYTEST_ARGS)

train: venv data
	$(BIN)/fashion-train fit --model all $(if $(EPOCHS),--epochs $(EPOCHS),) $(if $(BATCH_NORM),--batch-norm $(BATCH_NORM),) --out $(RUNS)
	$(BIN)/fashion-train compare $(RUNS)

export: venv data
	$(BIN)/fashion-export all $(RUNS) --out $(MODELS)

robustness: venv data
	$(BIN)/fashion-export robustness $(RUNS) $(MODELS) --out $(REPORTS) $(if $(wildcard $(WILD)),--real-dir $(WILD),)

bench: venv data
	$(BIN)/fashion-export bench $(RUNS) $(MODELS) --out $(REPORTS) $(if $(wildcard $(WILD)),--real-dir $(WILD),)
	$(BIN)/fashion-edge profile $(sort $(wildcard $(MODELS)/*-float32.tflite $(MODELS)/*-int8.tflite)) --batch 1,256 --out $(REPORTS)

# The edge app's default model: the best-checked int8 export, copied into the package.
model: venv
	$(BIN)/fashion-export pick-default $(MODELS) --out edge_app/models/default.tflite

run: venv data
	@start=$$(date +%s); \
	stage() { local t0=$$(date +%s); $(MAKE) --no-print-directory $$1 || exit 1; echo "stage $$1: $$(( $$(date +%s) - t0 )) s" | tee -a $(REPORTS)/stages.txt; }; \
	mkdir -p $(REPORTS); : > $(REPORTS)/stages.txt; \
	stage train && stage export && stage robustness && stage bench && stage model; \
	echo "total: $$(( $$(date +%s) - start )) s" | tee -a $(REPORTS)/stages.txt; \
	echo; echo "Results:"; \
	echo "  $(RUNS)/<model>/       model.keras, metrics.json, history.json, curves.png"; \
	echo "  $(RUNS)/comparison.png"; \
	echo "  $(MODELS)/             <model>-<variant>.tflite, .drift.json/.md, summary.md"; \
	echo "  $(REPORTS)/            robustness.md/.json, confusion and failure-gallery PNGs, bench.md/.json/.png, profile.md/.json, stages.txt"; \
	echo "  edge_app/models/default.tflite  (fashion-edge run --source 0)"

# Every edge dependency must have an aarch64 wheel (64-bit Raspberry Pi OS), Python 3.11–3.13.
check-pi: venv
	PYTHON=$(BIN)/python scripts/check_pi_wheels.sh

# The app installed and run in an emulated Raspberry Pi OS (arm64), compared with this machine (root).
check-pi-run: venv
	PYTHON=$(BIN)/python scripts/check_pi_run.sh

clean:
	rm -rf $(RUNS) $(MODELS) $(REPORTS)
