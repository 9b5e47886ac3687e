#!/usr/bin/env bash
# Builds the smolvm guest kernel (an ELF vmlinux with the PVH entry) from Debian's linux-source package,
# using tinyconfig plus ../kernel/microvm.config. The result is cached under
#   ${SMOLVM_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/smolvm}/kernel/<key>/vmlinux
# where <key> hashes the config fragment, this script and the kernel source version, so a second run is a
# no-op. Prints the path of the cached vmlinux on stdout; progress goes to stderr.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
fragment="$here/../kernel/microvm.config"
src_tar=${SMOLVM_LINUX_SOURCE:-$(ls -1 /usr/src/linux-source-*.tar.xz 2>/dev/null | sort -V | tail -n 1 || true)}
if [ -z "$src_tar" ] || [ ! -f "$src_tar" ]; then
  echo "build-kernel: no kernel source found in /usr/src (install Debian's linux-source package, or set SMOLVM_LINUX_SOURCE to a linux-*.tar.xz)" >&2
  exit 1
fi
cache_root=${SMOLVM_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/smolvm}
key=$( { cat "$fragment" "$0"; basename "$src_tar"; uname -m; } | sha256sum | cut -c1-16)
out_dir="$cache_root/kernel/$key"
if [ -f "$out_dir/vmlinux" ]; then
  echo "$out_dir/vmlinux"
  exit 0
fi

mkdir -p "$cache_root/kernel"
work=$(mktemp -d "$cache_root/kernel/.build-XXXXXX")
cleanup() { rm -rf "$work"; }
trap cleanup EXIT INT TERM

jobs=$(( $(nproc) + 1 ))
echo "[kernel] extracting $(basename "$src_tar") (one-time, cached by config hash $key)" >&2
tar -xJf "$src_tar" -C "$work" --strip-components=1
cd "$work"
echo "[kernel] configuring: tinyconfig + microvm.config" >&2
make -s tinyconfig >/dev/null
scripts/kconfig/merge_config.sh -m .config "$fragment" >/dev/null
make -s olddefconfig >/dev/null
# Every line of the fragment must have survived olddefconfig; a silently dropped option is a broken guest.
missing=$(grep -E '^CONFIG_[A-Z0-9_]+=' "$fragment" | while IFS= read -r line; do
  grep -qxF "$line" .config || echo "$line"; done)
if [ -n "$missing" ]; then
  echo "build-kernel: these options did not take effect (dependency missing in the fragment?):" >&2
  echo "$missing" >&2
  exit 1
fi

echo "[kernel] compiling with $jobs jobs (about 8 minutes on 2 cores; only the first time)" >&2
log="$work/build.log"
make -j"$jobs" vmlinux >"$log" 2>&1 &
pid=$!
start=$(date +%s)
while kill -0 "$pid" 2>/dev/null; do
  sleep 10
  n=$(grep -c '^  CC' "$log" 2>/dev/null || true)
  echo "[kernel] $(( $(date +%s) - start ))s: $n objects compiled" >&2
done
if ! wait "$pid"; then
  tail -n 40 "$log" >&2
  echo "build-kernel: make failed (full log above was $log, now removed)" >&2
  exit 1
fi
mkdir -p "$out_dir.tmp"
cp vmlinux "$out_dir.tmp/vmlinux"
cp .config "$out_dir.tmp/config"
rm -rf "$out_dir"
mv "$out_dir.tmp" "$out_dir"
echo "[kernel] done in $(( $(date +%s) - start ))s" >&2
echo "$out_dir/vmlinux"
