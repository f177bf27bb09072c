#!/usr/bin/env bash
# Installs what tensorpar builds with, from Debian's packages, and nothing that is already there.
# Safe to run again and again; needs root (or sudo) only when something is missing.
set -euo pipefail
packages=(cmake g++ make libeigen3-dev libboost-dev libgloo-dev libgtest-dev libgmock-dev libbenchmark-dev
          nlohmann-json3-dev)
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
  echo "tools/setup.sh: installing ${missing[*]}"
  sudo=""
  [ "$(id -u)" -eq 0 ] || sudo="sudo"
  export DEBIAN_FRONTEND=noninteractive
  $sudo apt-get update -qq
  $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi
