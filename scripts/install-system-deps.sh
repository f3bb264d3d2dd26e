#!/usr/bin/env bash
# Installs the Debian packages the integration tests run for real:
# Prometheus + promtool, Alertmanager, and headless Chromium (+ chromedriver).
# Idempotent: exits at once when every binary is already on PATH.
# Needs root (or sudo) and a Debian/Ubuntu apt; elsewhere it says what to install.
set -euo pipefail
need=()
command -v prometheus >/dev/null || need+=(prometheus)
command -v promtool >/dev/null || need+=(prometheus)
command -v prometheus-alertmanager >/dev/null || command -v alertmanager >/dev/null || need+=(prometheus-alertmanager)
command -v chromium >/dev/null || need+=(chromium)
command -v chromedriver >/dev/null || need+=(chromium-driver)
if [ ${#need[@]} -eq 0 ]; then
    exit 0
fi
# unique package names
mapfile -t pkgs < <(printf '%s\n' "${need[@]}" | sort -u)
if ! command -v apt-get >/dev/null; then
    echo "install-system-deps: no apt-get here; install these yourself: ${pkgs[*]}" >&2
    exit 1
fi
SUDO=""
if [ "$(id -u)" -ne 0 ]; then
    if command -v sudo >/dev/null; then SUDO="sudo"; else
        echo "install-system-deps: not root and no sudo; install these yourself: ${pkgs[*]}" >&2
        exit 1
    fi
fi
echo "install-system-deps: installing ${pkgs[*]} (apt-get)" >&2
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq >/dev/null
$SUDO apt-get install -y -qq --no-install-recommends "${pkgs[@]}" >/dev/null
# Debian's packages ship services that must not start on their own in CI/dev.
for svc in prometheus prometheus-alertmanager prometheus-node-exporter; do
    if command -v systemctl >/dev/null && systemctl is-active --quiet "$svc" 2>/dev/null; then
        $SUDO systemctl stop "$svc" || true
    fi
done
