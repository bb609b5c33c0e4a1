#!/usr/bin/env bash
# Deletes the kind cluster made by kind-up.sh (volumes and Secrets go with it).
set -euo pipefail

CLUSTER="${KIND_CLUSTER:-gavel}"
command -v kind >/dev/null || { echo "kind-down: kind is required" >&2; exit 1; }
kind delete cluster --name "$CLUSTER"
