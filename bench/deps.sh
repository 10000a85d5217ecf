#!/usr/bin/env bash
# What `make bench` needs beyond the tests' dependencies (.ci/deps.sh):
# prometheus-node-exporter from Debian, to measure it side by side with
# veille. Installed with apt-get when missing and running as root.
# perf (linux-perf), optional, tells where veille's CPU goes.
set -euo pipefail
have_perf=1
command -v perf >/dev/null 2>&1 || have_perf=
if command -v prometheus-node-exporter >/dev/null 2>&1 || [ -x /usr/bin/prometheus-node-exporter ]; then
  if [ -z "$have_perf" ] && [ "$(id -u)" -eq 0 ]; then
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends linux-perf >/dev/null 2>&1 ||
      echo "linux-perf not installed: no CPU profile of veille (optional)"
  fi
  exit 0
fi
if [ "$(id -u)" -ne 0 ]; then
  echo "make bench needs prometheus-node-exporter. Install it with: sudo apt-get install -y prometheus-node-exporter (and linux-perf, optional)" >&2
  exit 1
fi
echo "installing prometheus-node-exporter and linux-perf (apt-get)"
# The package would start its own service, listening on every address; the
# benchmark starts its own copy on 127.0.0.1. Deny service starts during the
# install (policy-rc.d, honoured by deb-systemd-invoke and invoke-rc.d) unless
# the machine already has a policy.
policy=/usr/sbin/policy-rc.d
if [ ! -e "$policy" ]; then
  printf '#!/bin/sh\n# temporary, from veille bench/deps.sh\nexit 101\n' >"$policy"
  chmod 755 "$policy"
  trap 'rm -f "$policy"' EXIT
fi
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq >/dev/null
apt-get install -y -qq --no-install-recommends prometheus-node-exporter >/dev/null
if [ -z "$have_perf" ]; then
  apt-get install -y -qq --no-install-recommends linux-perf >/dev/null 2>&1 ||
    echo "linux-perf not installed: no CPU profile of veille (optional)"
fi
