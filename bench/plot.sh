#!/usr/bin/env bash
# plot.sh: draws the CSV that bench/compare.py writes with --csv as one PNG
# with two panels, one bar per scenario/payload/concurrency row:
#   top     throughput ratio (sluice / bare gRPC echo, same run), with a line
#           at 1.0 for the bare server;
#   bottom  added p50 latency in microseconds (sluice p50 - bare p50), on a
#           log scale when the values are all positive and span more than two
#           decades.
# Usage:
#   bench/plot.sh RESULTS.csv OUT.png
# Needs gnuplot (Debian package gnuplot-nox). Works from any directory;
# relative paths are taken from the current directory.
set -euo pipefail

if [[ $# -ne 2 ]]; then
  echo "usage: bench/plot.sh RESULTS.csv OUT.png" >&2
  exit 2
fi
csv="$1"
out="$2"

if ! command -v gnuplot >/dev/null 2>&1; then
  echo "plot.sh: gnuplot not found; install it with scripts/install-deps.sh" \
    "(or: apt-get install gnuplot-nox)" >&2
  exit 1
fi
if [[ ! -r "${csv}" ]]; then
  echo "plot.sh: cannot read ${csv}" >&2
  exit 1
fi
out_dir="$(dirname "${out}")"
if [[ ! -d "${out_dir}" ]]; then
  echo "plot.sh: output directory ${out_dir} does not exist" >&2
  exit 1
fi

work="$(mktemp -d)"
trap 'rm -rf "${work}"' EXIT
data="${work}/data.csv"

# Turns the CSV rows into what gnuplot draws, one line per row:
#   x position, scenario colour index, x label, ratio, added p50 µs
# Rows of one scenario sit together, with a gap before the next scenario.
# Skips the header and blank lines; rejects rows that are not 9 fields, or
# 10 (the disk's ceiling last, in runs that measured it).
awk -F, '
  { sub(/\r$/, "") }
  NR == 1 && $1 == "scenario" { next }
  /^[[:space:]]*$/ { next }
  NF != 9 && NF != 10 {
    printf "plot.sh: %s line %d: expected 9 or 10 fields, got %d\n", FILENAME, NR, NF > "/dev/stderr"
    bad = 1
    exit 1
  }
  {
    if (!($1 in colour)) {
      colour[$1] = ++scenarios
      if (rows > 0) x += 0.6
    }
    payload = ($2 >= 1024 && $2 % 1024 == 0) ? ($2 / 1024) "KiB" : $2 "B"
    printf "%.2f,%d,%s %s c%d,%s,%s\n", x, colour[$1], $1, payload, $3, $6 + 0, $9 + 0
    x += 1
    rows++
  }
  END { if (bad) exit 1 }
' "${csv}" >"${data}"

if [[ ! -s "${data}" ]]; then
  echo "plot.sh: ${csv} has no data rows (only a header, or empty)" >&2
  exit 1
fi

# Axis ranges and the latency scale, from the data.
read -r ratio_max x_max lat_min lat_max lat_positive < <(
  awk -F, '
    NR == 1 { rmax = $4; lmin = $5; lmax = $5; pos = 1 }
    { if ($4 > rmax) rmax = $4
      if ($5 < lmin) lmin = $5
      if ($5 > lmax) lmax = $5
      if ($5 <= 0) pos = 0
      xmax = $1 }
    END { print rmax, xmax, lmin, lmax, pos }
  ' "${data}"
)
ratio_top="$(awk -v m="${ratio_max}" 'BEGIN { t = m * 1.1; if (t < 1.1) t = 1.1; print t }')"
lat_log="$(awk -v lo="${lat_min}" -v hi="${lat_max}" -v pos="${lat_positive}" \
  'BEGIN { print (pos && hi / lo > 100) ? 1 : 0 }')"
if [[ "${lat_log}" == 1 ]]; then
  lat_settings="set logscale y 10
set yrange [$(awk -v lo="${lat_min}" 'BEGIN { print lo / 2 }'):$(awk -v hi="${lat_max}" 'BEGIN { print hi * 3 }')]
set ylabel 'added p50 latency (µs, log scale)'
set format y '%.0f'"
else
  lat_settings="unset logscale y
set yrange [$(awk -v lo="${lat_min}" 'BEGIN { print (lo < 0) ? lo * 1.15 : 0 }'):$(awk -v hi="${lat_max}" 'BEGIN { print (hi > 0) ? hi * 1.15 : 1 }')]
set ylabel 'added p50 latency (µs)'"
fi

# gnuplot single-quoted strings take a quote as two quotes.
quote() { printf "'%s'" "${1//\'/\'\'}"; }

gnuplot <<EOF
set terminal pngcairo size 1100,900 enhanced font 'sans,10'
set output $(quote "${out}")
set datafile separator ','
set style fill solid 0.85 border -1
set boxwidth 0.8
set grid ytics lc rgb '#d0d0d0'
set xtics rotate by 45 right nomirror font 'sans,9'
set ytics nomirror
set key off
set xrange [-0.8:${x_max} + 0.8]
set lmargin 10
set rmargin 3
set linetype 1 lc rgb '#4e79a7'
set linetype 2 lc rgb '#f28e2b'
set linetype 3 lc rgb '#59a14f'
set linetype 4 lc rgb '#e15759'
set linetype 5 lc rgb '#76b7b2'
set linetype 6 lc rgb '#b07aa1'
set linetype 7 lc rgb '#9c755f'
set linetype 8 lc rgb '#edc948'
set linetype cycle 8

set multiplot layout 2,1

set title 'Sluice throughput relative to a bare gRPC server (same run, medians)' font 'sans,12'
set ylabel 'throughput ratio (sluice / bare)'
set yrange [0:${ratio_top}]
set arrow 1 from graph 0, first 1.0 to graph 1, first 1.0 nohead dt 2 lw 1.5 lc rgb '#333333' front
set label 1 'bare gRPC echo = 1.0' at graph 0.01, first 1.0 offset 0,0.6 font 'sans,9' front
plot $(quote "${data}") using 1:4:2:xtic(3) with boxes lc variable, \
     '' using 1:4:(sprintf('%.2f', \$4)) with labels offset 0,0.6 font 'sans,8'
unset arrow 1
unset label 1

set title 'Added p50 latency over the bare gRPC server (sluice p50 - bare p50)' font 'sans,12'
${lat_settings}
plot $(quote "${data}") using 1:5:2:xtic(3) with boxes lc variable, \
     '' using 1:5:(sprintf('%.0f', \$5)) with labels offset 0,0.6 font 'sans,8'

unset multiplot
EOF

if [[ ! -s "${out}" ]]; then
  echo "plot.sh: gnuplot did not write ${out}" >&2
  exit 1
fi
echo "plot.sh: wrote ${out}"
