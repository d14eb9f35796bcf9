#!/bin/bash
# Wall-clock time of four quick-profile training runs with two builds of the `cargo xtask`
# binary, one after the other on the same machine (docs/performance.md):
#
#   scripts/time_quick_runs.sh OLD_XTASK NEW_XTASK [OUT_DIR]
#
# Each run is preceded by a one-step run of the same binary and config, so that data rendering
# and caches are not timed. Prints "config build exit-code seconds" per run; the runs' metrics
# are in OUT_DIR (default: a temporary directory).
set -u
old=${1:?old xtask binary}
new=${2:?new xtask binary}
out=${3:-$(mktemp -d)}
cd "$(dirname "$0")/.."
for cfg in simclr_mini3die_quick hssl_c4_digits_quick hssl_translation_mini3die_quick sie_mini3die_quick; do
  for v in old new; do
    bin=$old; [ "$v" = new ] && bin=$new
    "$bin" train --config "experiments/$cfg.toml" --steps 1 --out "$out/warm_${v}_$cfg" > /dev/null 2>&1
    s=$(date +%s.%N)
    "$bin" train --config "experiments/$cfg.toml" --out "$out/${v}_$cfg" > "$out/${v}_$cfg.log" 2>&1
    rc=$?
    e=$(date +%s.%N)
    echo "$cfg $v $rc $(echo "$e - $s" | bc)"
  done
done
