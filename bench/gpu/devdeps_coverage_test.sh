#!/usr/bin/env bash
# ctest devdeps_coverage: every package that a CMake file asks for (find_package, pkg_check_modules)
# has a `# cmake NAME: PACKAGE` line in bench/gpu/make_devdeps.sh, and that PACKAGE is one the script
# copies (or `machine`, or `optional`: the build turns the feature off without it). So a new
# dependency cannot silently break the GPU machine's build again.
set -euo pipefail
root=${1:-$(cd "$(dirname "$0")/../.." && pwd)}
script=$root/bench/gpu/make_devdeps.sh
names=$(find "$root/CMakeLists.txt" "$root/cmake" "$root/src" "$root/tools" "$root/python" "$root/bench" "$root/tests" \
    \( -name CMakeLists.txt -o -name '*.cmake' \) -not -path '*/build*' -print0 2>/dev/null |
  xargs -0 grep -hoE '^[[:space:]]*(find_package|pkg_check_modules)\([^)]*' |
  sed -E 's/^[[:space:]]*find_package\(([A-Za-z0-9_+-]+).*/\1/; s/^[[:space:]]*pkg_check_modules\([A-Za-z0-9_]+ (REQUIRED |QUIET |IMPORTED_TARGET )*([A-Za-z0-9_+.-]+).*/\2/' |
  grep -v '^find_package_handle_standard_args$' | sort -u)
packages=$(sed -n '/^PACKAGES=(/,/)/p' "$script" | tr -d '()' | sed 's/PACKAGES=//' | tr -s ' \n' '\n' | grep -v '^$')
fail=0
for n in $names; do
  pkg=$(sed -nE "s/^# cmake $n: ([A-Za-z0-9.+-]+)\$/\1/p" "$script" | head -1)
  if [ -z "$pkg" ]; then
    echo "FAIL: CMake asks for '$n' but make_devdeps.sh has no '# cmake $n: PACKAGE' line"; fail=1; continue
  fi
  if [ "$pkg" != machine ] && [ "$pkg" != optional ] && ! grep -qx -- "$pkg" <<<"$packages"; then
    echo "FAIL: '$n' maps to $pkg, which make_devdeps.sh does not copy"; fail=1; continue
  fi
  echo "ok: $n -> $pkg"
done
[ -n "$names" ] || { echo "FAIL: found no find_package/pkg_check_modules calls"; exit 1; }
exit $fail
