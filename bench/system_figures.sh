#!/bin/sh
# The figures of System/ as the one way to the C library, for the tree at $1 (default: this
# checkout): direct C calls outside System/ (bench/libc_calls.py), the call sites of
# retryingEINTR and of withExtendedLifetime, and the public/package declarations.
#     sh bench/system_figures.sh [ROOT]
root=${1:-$(dirname "$0")/..}
python3 "$(dirname "$0")/libc_calls.py" "$root"
cd "$root" || exit 1
echo "retryingEINTR sites $(grep -rh 'retryingEINTR(' Sources --include=*.swift | grep -vc 'func retryingEINTR')"
echo "withExtendedLifetime sites $(grep -rh 'withExtendedLifetime(' Sources --include=*.swift | wc -l)"
printf 'public %s package %s public-init %s\n' \
  "$(grep -rhE '^\s*(@[A-Za-z]+\s+)*public(\(set\))?\s' Sources --include=*.swift | wc -l)" \
  "$(grep -rhE '^\s*(@[A-Za-z]+\s+)*package(\(set\))?\s' Sources --include=*.swift | wc -l)" \
  "$(grep -rhE '^\s*public\s+(convenience\s+)?init' Sources --include=*.swift | wc -l)"
