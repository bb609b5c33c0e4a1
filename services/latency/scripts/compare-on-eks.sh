#!/usr/bin/env bash
# Runs the latency lab's compare once on EKS and draws its report here:
#   npm run latency-compare:eks -- [--namespace gavel] [--out latency-report]
# A Job from the suspended latency-compare CronJob measures the in-cluster paths and has the
# client VPC's agent measure the rest; its log ends with the summary, which `gavel-latency
# report` turns into the table, .hgrm files and SVG in --out. Needs kubectl on the cluster.
set -euo pipefail

namespace=gavel
out=latency-report
while [ $# -gt 0 ]; do
  case "$1" in
    --namespace) namespace="$2"; shift 2 ;;
    --out) out="$2"; shift 2 ;;
    *) echo "usage: compare-on-eks.sh [--namespace gavel] [--out dir]" >&2; exit 2 ;;
  esac
done
here="$(cd "$(dirname "$0")/.." && pwd)"
start_dir="${INIT_CWD:-$PWD}"
case "$out" in /*) ;; *) out="$start_dir/$out" ;; esac

job="latency-compare-$(date -u +%Y%m%d%H%M%S)"
kubectl -n "$namespace" create job --from=cronjob/latency-compare "$job"
echo "waiting for job/$job (seven paths, three rounds; about 25 minutes with the eks profile's load)" >&2
while :; do
  status="$(kubectl -n "$namespace" get job "$job" -o jsonpath='{.status.succeeded}/{.status.failed}')"
  case "$status" in
    1/*) break ;;
    */[1-9]*)
      kubectl -n "$namespace" logs "job/$job" --tail=50 >&2 || true
      echo "job/$job failed" >&2
      exit 1
      ;;
  esac
  sleep 15
done
mkdir -p "$out"
kubectl -n "$namespace" logs "job/$job" > "$out/$job.log"
cd "$here"
node --conditions=source --import tsx src/cli.ts report "$out/$job.log" --out "$out"
