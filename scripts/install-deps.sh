#!/usr/bin/env bash
# Installs the Debian packages Token Warehouse builds and tests with. Idempotent: when every
# package is already present it returns in well under a second, without touching apt.
set -euo pipefail

PACKAGES=(
  cmake ninja-build g++ clang pkg-config git # build; clang for the libFuzzer targets; git unpacks llama.cpp
  libclang-rt-14-dev                         # libFuzzer and sanitizer runtimes for clang
  liburing-dev                               # disk tier: O_DIRECT I/O through io_uring
  libssl-dev openssl                         # SHA-256 block keys, TLS; the openssl tool makes test certificates
  libxxhash-dev                              # xxh3-128 keys, fast checksums
  libzstd-dev                                # the lossless KV codec (byte planes, then zstd)
  libgtest-dev libgmock-dev                  # unit tests
  libcli11-dev                               # the tokenwarehouse command line
  libyaml-cpp-dev                            # daemon configuration
  libspdlog-dev                              # logging
  libasio-dev libcpp-httplib-dev             # network core, admin HTTP
  libzmq3-dev libmsgpack-cxx-dev             # KV events in vLLM's format (ZMQ PUB + msgpack); optional in CMake
  pybind11-dev python3-dev python3-numpy python3-pytest  # Python package and its tests
  python3-torch                              # DLPack tests of the Python package (CPU, 1.13)

  redis-server                               # the peer `bench net` compares against
  etcd-server                                # cluster membership tests
  iproute2                                   # cluster tests: `ip netns` and veth links to cut a node off
  nlohmann-json3-dev                         # cluster: etcd JSON gateway, member records; admin console JSON
  chromium                                   # the console's browser test (headless, driven by playwright-core)
)

missing=()
for p in "${PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
# npm fetches the pinned llama.cpp and playwright-core packages, and node runs the console's browser
# test; the machines ship Node.js, but a bare Debian does not.
command -v npm >/dev/null 2>&1 || missing+=(npm)
if [ ${#missing[@]} -eq 0 ]; then
  exit 0
fi
echo "install-deps: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
SUDO=""
[ "$(id -u)" -ne 0 ] && SUDO=sudo
# A stale package list is the usual cause of 404s on a fresh machine; refresh once, bounded in time.
timeout 600 $SUDO apt-get update -qq
timeout 1800 $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
