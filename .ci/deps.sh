#!/usr/bin/env bash
# Installs what the tests need on a Debian machine, when it is missing:
# mosquitto and dbus-daemon (end-to-end tests), node and npm (tests/recipes
# runs the Node-RED recipe; Node.js 18.5 or later, 20 or later for the cbor
# module the flow uses: Debian 12's nodejs is 18, which npm warns about).
set -euo pipefail
need=()
command -v mosquitto >/dev/null 2>&1 || [ -x /usr/sbin/mosquitto ] || need+=(mosquitto)
command -v dbus-daemon >/dev/null 2>&1 || need+=(dbus-daemon)
command -v node >/dev/null 2>&1 || need+=(nodejs)
command -v npm >/dev/null 2>&1 || need+=(npm)
if [ ${#need[@]} -gt 0 ]; then
  if [ "$(id -u)" -ne 0 ]; then
    echo "The tests need: ${need[*]}. Install them with: sudo apt-get install -y ${need[*]}" >&2
    exit 1
  fi
  echo "installing ${need[*]} (apt-get)"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq >/dev/null
  apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
fi
