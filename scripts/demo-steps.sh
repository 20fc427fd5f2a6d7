#!/usr/bin/env bash
# The demo's steps, run by scripts/demo.sh inside `cw-harness run` (which exports CONNECTWARE_URL,
# CONNECTWARE_CA_FILE, CONNECTWARE_USERNAME, CONNECTWARE_PASSWORD_FILE, DOCKER_HOST, CW_HARNESS_DIR, ...).
set -euo pipefail

bin="$CWB_DEMO_BIN"
work="$CW_HARNESS_DIR/demo"
mkdir -p "$work"
umask 077

step() { printf '\n\033[1m== %s\033[0m\n' "$*"; }
api() { # api METHOD PATH [curl args...]: Connectware's API as the manual procedure calls it
  local method="$1" path="$2"; shift 2
  curl -sS --fail --cacert "$CONNECTWARE_CA_FILE" -u "$CONNECTWARE_USERNAME:$(cat "$CONNECTWARE_PASSWORD_FILE")" \
    -X "$method" "$CONNECTWARE_URL$path" "$@"
}
volume_listing() { (cd "$CW_VOLUME_MOUNTPOINT" && find . -mindepth 1 -printf '%y %m %p %l\n' | sort); }

# A local restic repository, its password in a file (never in argv).
export RESTIC_REPOSITORY="$work/restic-repository"
export RESTIC_PASSWORD_FILE="$work/restic-password"
head -c 24 /dev/urandom | base64 > "$RESTIC_PASSWORD_FILE"
export CONNECTWARE_STAGING_DIR="$work/staging"
export CONNECTWARE_STATE_DIR="$work/state"
export CONNECTWARE_METRICS_FILE="$work/metrics/connectware_backup.prom"
export CONNECTWARE_POLL_INTERVAL=1

step "Connectware is running (emulated): $CONNECTWARE_URL"
docker ps --format '  {{.Names}}  {{.Status}}  labels: {{.Label "com.docker.compose.service"}}'
echo "services:"; api GET /api/services/ | tr ',' '\n' | grep -o '"id":"[^"]*"' | sed 's/^/  /'

step "restic init (local repository $RESTIC_REPOSITORY)"
restic init -q && echo "  created"

step "connectware-backup: pause the service-manager, export the DB, stage the volume, restic backup, confirm"
"$bin/connectware-backup"

step "The snapshot"
restic snapshots
echo "status file:"; sed 's/^/  /' "$CONNECTWARE_STATE_DIR/status.json" | head -20
echo "metrics:"; grep -v '^#' "$CONNECTWARE_METRICS_FILE" | sed 's/^/  /'

if [ ! -x "$bin/connectware-restore" ]; then
  step "Done (restore is not built yet in this version)"
  exit 0
fi

volume_listing > "$work/volume-before.txt"
api GET /api/services/ > "$work/services-before.json"

step "Breaking the installation: a new service, a deleted file, an edited file"
api POST /api/services/ -H 'Content-Type: application/json' \
  -d '{"id":"demo-intruder","yaml":"description: installed after the backup\n"}' >/dev/null && echo "  installed demo-intruder"
rm -f "$CW_VOLUME_MOUNTPOINT/services/historian.yml" && echo "  deleted services/historian.yml"
echo "# edited after the backup" >> "$CW_VOLUME_MOUNTPOINT/services/mqtt-forwarder.yml" && echo "  edited services/mqtt-forwarder.yml"

step "connectware-restore --yes: fetch, check, safety copy, DB restore, volume, restart, health"
"$bin/connectware-restore" --yes

step "Is it back?"
volume_listing > "$work/volume-after.txt"
api GET /api/services/ > "$work/services-after.json"
if diff -u "$work/volume-before.txt" "$work/volume-after.txt" && \
   cmp -s <(tr ',' '\n' < "$work/services-before.json" | sort) <(tr ',' '\n' < "$work/services-after.json" | sort); then
  echo "  yes: the volume and the services list equal the state that was backed up"
else
  echo "  NO: the state differs from the backup" >&2
  exit 1
fi
