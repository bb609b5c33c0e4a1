#!/usr/bin/env bash
# Creates the kind cluster, builds and side-loads the Gavel images, creates the Secrets the kind
# profile references, applies charts-ts/dist/kind/ and waits for the rollout.
# Needs: docker, kind, kubectl. Run from anywhere: ./scripts/kind-up.sh
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
CLUSTER="${KIND_CLUSTER:-gavel}"
NAMESPACE=gavel
TAG=dev # KIND_IMAGE_TAG in charts-ts/src/profiles.ts
# ingress-nginx's manifest for kind, pinned to a release.
INGRESS_NGINX_MANIFEST="https://raw.githubusercontent.com/kubernetes/ingress-nginx/controller-v1.12.1/deploy/static/provider/kind/deploy.yaml"

for tool in docker kind kubectl; do
  command -v "$tool" >/dev/null || { echo "kind-up: $tool is required" >&2; exit 1; }
done

if kind get clusters | grep -qx "$CLUSTER"; then
  echo "kind-up: cluster $CLUSTER exists, reusing it"
else
  kind create cluster --name "$CLUSTER" --config "$ROOT/deploy/kind/cluster.yaml"
fi
kubectl config use-context "kind-$CLUSTER" >/dev/null

echo "kind-up: building images"
# service:port, as IMAGE_PORTS in charts-ts/src/images-plan.ts; one Dockerfile builds them all.
for image in api:8080 broadcast:8081 archival:8082 latency:8090; do
  service="${image%%:*}"
  docker build -f "$ROOT/Dockerfile" --build-arg "SERVICE=$service" --build-arg "PORT=${image#*:}" \
    -t "gavel/$service:$TAG" "$ROOT"
  kind load docker-image --name "$CLUSTER" "gavel/$service:$TAG"
done

echo "kind-up: installing ingress-nginx"
kubectl apply -f "$INGRESS_NGINX_MANIFEST"
kubectl -n ingress-nginx wait --for=condition=Available deployment/ingress-nginx-controller --timeout=180s

# The Namespace first (with its Pod Security labels), then Secrets made of random bytes: no
# secret value ever lives in git. Existing Secrets are kept, so tokens survive a re-run.
kubectl apply -f "$ROOT/charts-ts/dist/kind/00-namespace.k8s.yaml"
create_secret() { # name key
  if ! kubectl -n "$NAMESPACE" get secret "$1" >/dev/null 2>&1; then
    kubectl -n "$NAMESPACE" create secret generic "$1" --from-literal="$2=$(head -c 32 /dev/urandom | base64 | tr -d '\n')"
  fi
}
create_secret gavel-auth AUTH_SECRET
create_secret gavel-postgres POSTGRES_PASSWORD

echo "kind-up: applying charts-ts/dist/kind"
kubectl apply -f "$ROOT/charts-ts/dist/kind/"

kubectl -n "$NAMESPACE" rollout status statefulset/redis --timeout=300s
kubectl -n "$NAMESPACE" rollout status statefulset/postgres --timeout=300s
kubectl -n "$NAMESPACE" rollout status statefulset/nats --timeout=300s
for deployment in api broadcast-blue broadcast-green archival latency-server latency-client; do
  kubectl -n "$NAMESPACE" rollout status "deployment/$deployment" --timeout=300s
done

echo
echo "Gavel is up: http://localhost/ (api at http://localhost/api, Socket.IO at /socket.io, WebSocket at /ws)"
echo "Dev token: curl -s -XPOST localhost/api/v1/dev/token -H 'content-type: application/json' -d '{\"userId\":\"alice\"}'"
