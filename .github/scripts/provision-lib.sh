# shellcheck shell=bash
# Helpers sourced by every step of .github/workflows/provision-agent.yml (which run with `set -euo pipefail`).
# Secrets reach curl and ssh through file descriptors or stdin, never through a command line.

readonly SSH_DIR="${RUNNER_TEMP}/ssh"
readonly SSH_KEY_FILE="${SSH_DIR}/id"
readonly SSH_KNOWN_HOSTS="${SSH_DIR}/known_hosts"
readonly FAILURE_REASON_FILE="${RUNNER_TEMP}/failure-reason"

# Records the step now running; the failure step reports it as `failed_step` (GITHUB_ENV reaches later steps only).
begin_step() {
  echo "CURRENT_STEP=$1" >>"$GITHUB_ENV"
}

# Keeps a value for later steps.
keep() {
  echo "$1=$2" >>"$GITHUB_ENV"
}

# Fails the step with a reason the failure callback carries. Never pass secrets.
fail() {
  echo "::error::$1"
  printf '%s' "$1" >"$FAILURE_REASON_FILE"
  exit 1
}

is_dry_run() {
  [[ "$DRY_RUN" == "true" ]]
}

# Prints a JSON object built from key=value arguments; dots in a key nest objects (labels.job_id=...).
# Every value is a string, and jq quotes it: no input can change the document's shape.
json_object() {
  # shellcheck disable=SC2016 # a jq program: $ARGS, $key and $value are jq's
  jq --null-input --compact-output '
    reduce ($ARGS.positional[] | index("=") as $at | [.[:$at], .[$at + 1:]]) as [$key, $value]
      ({}; setpath($key | split("."); $value))' --args "$@"
}

# Posts a signed callback for this job: post_callback type=step step=vm_created server_id=...
# Its webhook-id is <job_id>:<type>:<step or status> (callback.mjs), the same for every delivery.
post_callback() {
  node .github/scripts/callback.mjs "$(json_object job_id="$JOB_ID" "$@")"
}

# Posts this run's heartbeat number $1 (webhook-id <job_id>:heartbeat:$1).
post_heartbeat() {
  node .github/scripts/callback.mjs "$(json_object job_id="$JOB_ID" type=heartbeat)" "$1"
}

# api_call <base url> <token> <method> <path> [curl args...]: JSON API call; the body is printed, also on errors.
api_call() {
  local base="$1" token="$2" method="$3" path="$4"
  shift 4
  curl --fail-with-body --silent --show-error --retry 3 --max-time 30 \
    --header @<(printf 'Authorization: Bearer %s\n' "$token") \
    --header 'Content-Type: application/json' \
    --request "$method" "$@" "${base}${path}"
}

# The message of an API error body (Hetzner: .error.message, Tailscale and GitHub: .message), if it has one.
api_error_message() {
  jq -r '.error.message? // .message? // "no answer"' <<<"$1" 2>/dev/null || echo "no answer"
}

hcloud() {
  api_call "$HCLOUD_API" "$HCLOUD_TOKEN" "$@"
}

tailscale_api() {
  api_call "$TAILSCALE_API" "$TAILSCALE_API_KEY" "$@"
}

# Runs a command on the new server as root. Host keys are trusted on first use: the server is minutes old.
ssh_vm() {
  ssh -i "$SSH_KEY_FILE" -o BatchMode=yes -o ConnectTimeout=10 -o StrictHostKeyChecking=accept-new \
    -o UserKnownHostsFile="$SSH_KNOWN_HOSTS" "root@${SERVER_IP}" "$@"
}
