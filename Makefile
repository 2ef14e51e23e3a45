# Trapdoor: `make demo` sets up everything and runs the SMCCC tour; `make test` runs all tests.
# Works on a fresh Debian machine as root (Node 20): setup installs the Debian packages.
SHELL := /bin/bash
APT_PACKAGES := libunicorn2 libunicorn-dev gcc make binutils-aarch64-linux-gnu binutils-arm-linux-gnueabihf gdb-multiarch tmux chromium
NODE_BIN := node_modules/.bin

.PHONY: all setup deps build native ts examples vsix demo test bench bench-gdb bench-dap bench-rpc clean check-apt

all: build

# Install Debian packages only when something is missing (apt-get update once).
check-apt:
	@missing=""; for p in $(APT_PACKAGES); do dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then \
	  echo "installing Debian packages:$$missing"; \
	  if [ "$$(id -u)" != 0 ]; then echo "need root for apt-get (or install:$$missing)"; exit 1; fi; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing >/dev/null; \
	fi

node_modules/.package-lock.json: package.json package-lock.json
	npm ci --no-audit --no-fund
	@touch $@

deps: node_modules/.package-lock.json

setup: check-apt deps

build/libtrapdoor.so: native/trapdoor.c
	@mkdir -p build
	gcc -O2 -shared -fPIC -Wall -pthread -o $@ $< -lunicorn

native: build/libtrapdoor.so

# The CLI too (dist/server/session/cli-main.js, which bin/trapdoor.js runs): one
# file for what `run` loads (~20 ms less than ~60 modules), and a chunk for each
# command loaded on demand (serve, triage, gdb, the adapter). It sits beside the
# session's modules so that their paths relative to it hold (prewarm.js, which
# bin/trapdoor.js loads first, stays one module shared with it). Packages stay
# outside, loaded from node_modules.
CLI_EXTERNAL := --external:koffi --external:yaml '--external:vscode-jsonrpc*' '--external:vscode-languageserver*' '--external:@vscode/*' '--external:@alexaltea/*' --external:playwright-core '--external:*/prewarm.js'

# The emulation worker also as one bundled file: its start-up (part of every
# `trapdoor run`) is ~40 ms shorter than loading its ~40 modules one by one. The
# forward client stays outside (dist/server/forward/client.js, imported on the
# first forwarded call): bundled, its JSON-RPC library would load at every start.
ts: deps
	$(NODE_BIN)/tsc -p .
	$(NODE_BIN)/esbuild dist/server/session/worker.js --bundle --platform=node --format=cjs --external:koffi --external:yaml --external:vscode-jsonrpc --external:vscode-jsonrpc/node '--external:*/forward/client.js' '--define:import.meta.url=__worker_url' "--banner:js=const __worker_url = require('node:url').pathToFileURL(__filename).href;" --outfile=dist/server/session/worker.bundle.cjs --log-level=warning
	rm -f dist/server/session/cli-*.js
	$(NODE_BIN)/esbuild dist/server/cli/main.js --bundle --splitting --platform=node --format=esm $(CLI_EXTERNAL) --outdir=dist/server/session --entry-names=cli-[name] --chunk-names=cli-chunk-[hash] --log-level=warning

include mk/examples.mk

# The VS Code extension (vscode-extension/): its debugger contribution is written
# from the adapter's launch attribute table, its code type-checked and bundled
# (vscode-languageclient included; `vscode` is the editor's), and packaged offline
# as build/trapdoor.vsix. The .vsix does not hold the emulator: it runs the
# trapdoor you built (see vscode-extension/README.md).
EXT := vscode-extension
VSIX := build/trapdoor.vsix

# Packaged again only when something it is made of changed (the bundle takes in
# modules of adapter/ and server/); vsce's file listing goes to build/vsix.log.
VSIX_SOURCES := $(shell find $(EXT)/src $(EXT)/scripts adapter server -name '*.ts') $(EXT)/package.json $(EXT)/README.md $(EXT)/tsconfig.json

$(VSIX): $(VSIX_SOURCES) | ts
	node dist/vscode-extension/scripts/sync-manifest.js
	$(NODE_BIN)/tsc -p $(EXT)
	$(NODE_BIN)/esbuild $(EXT)/src/extension.ts --bundle --platform=node --format=cjs --target=node18 --minify --external:vscode --outfile=$(EXT)/out/extension.cjs --log-level=warning
	@mkdir -p build
	@cd $(EXT) && ../$(NODE_BIN)/vsce package --no-dependencies --skip-license --allow-missing-repository --out ../$(VSIX) > ../build/vsix.log 2>&1 \
	  || { cat ../build/vsix.log; exit 1; }
	@echo "packaged $(VSIX) (vsce's listing: build/vsix.log)"

vsix: $(VSIX)

build: setup native ts examples vsix

demo: build
	node bin/trapdoor.js run examples/aarch64/smccc-tour.elf --policy examples/aarch64/tour-policy.yaml

test: build
	$(NODE_BIN)/vitest run $(if $(TRAPDOOR_TEST_JSON),--reporter=default --reporter=json --outputFile.json=$(TRAPDOOR_TEST_JSON))

bench: build
	node dist/bench/core.js
	node dist/bench/records.js

bench-gdb: build
	@$(MAKE) -s check-apt APT_PACKAGES=qemu-system-arm
	node dist/bench/gdb.js

bench-dap: build
	node dist/bench/dap.js

bench-rpc: build
	node dist/bench/rpc.js

clean:
	rm -rf build dist examples/*/*.elf $(EXT)/out
