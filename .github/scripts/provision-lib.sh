# shellcheck shell=bash
# Helpers sourced by every step of .github/workflows/provision-agent.yml (which run with `set -euo pipefail`).
# Secrets reach curl and ssh through file descriptors or stdin, never through a command line.

readonly SSH_DIR="${RUNNER_TEMP}/ssh"
readonly SSH_KEY_FILE="${SSH_DIR}/id"
readonly SSH_KNOWN_HOSTS="${SSH_DIR}/known_hosts"
readonly FAILURE_REASON_FILE="${RUNNER_TEMP}/failure-reason"
# Left when the server answered a report with `ignored: terminal`: "Delete what an ended job built" acts on it.
readonly JOB_ENDED_FILE="${RUNNER_TEMP}/job-ended"
# callback.mjs's exit code for `ignored: terminal` (JOB_ENDED_EXIT_CODE).
readonly JOB_ENDED_EXIT=3
# Every step's output, which log-lines.mjs follows and sends as `type: logs` callbacks; it leaves the done file once
# it has sent everything up to the end marker.
readonly LOG_FILE="${RUNNER_TEMP}/provision.log"
readonly LOG_DONE_FILE="${RUNNER_TEMP}/provision.log.done"

# The regions and the server type each is provisioned with; the pipeline's domain reads the same file.
readonly REGION_CATALOGUE=.github/regions.json

# Records the step now running; the failure step reports it as `failed_step` (GITHUB_ENV reaches later steps only).
# A job the server ended meanwhile (a heartbeat was told so) goes no further.
begin_step() {
  if [[ -e "$JOB_ENDED_FILE" ]]; then end_job; fi
  echo "CURRENT_STEP=$1" >>"$GITHUB_ENV"
  # The rest of the step's output also goes to the shipped log, under this step (log-lines.mjs's STEP_MARKER).
  printf '::log-step::%s\n' "$1" >>"$LOG_FILE"
  exec 3>&1 4>&2 > >(tee -a "$LOG_FILE") 2>&1
  LOG_TEE_PID=$!
}

# Starts sending the log file's lines in the background (log-lines.mjs); it masks the run's secrets it is given.
start_log_shipper() {
  node .github/scripts/log-lines.mjs "$LOG_FILE" "$LOG_DONE_FILE" >"${RUNNER_TEMP}/log-shipper.log" 2>&1 </dev/null &
  keep LOG_SHIPPER_PID "$!"
}

# Ends the shipped log and waits (at most a minute) until its last lines are answered: before a final report, since
# the server takes no lines for a job that is over.
stop_log_shipper() {
  if [[ -n "${LOG_TEE_PID:-}" ]]; then
    # This step's output so far reaches the file first: tee ends once its pipe closes.
    exec 1>&3 2>&4
    wait "$LOG_TEE_PID" 2>/dev/null || true
    LOG_TEE_PID=''
  fi
  if [[ -z "${LOG_SHIPPER_PID:-}" || -e "$LOG_DONE_FILE" ]]; then return 0; fi
  printf '::log-end::\n' >>"$LOG_FILE"
  for _ in $(seq 120); do
    if [[ -e "$LOG_DONE_FILE" ]] || ! kill -0 "$LOG_SHIPPER_PID" 2>/dev/null; then return 0; fi
    sleep 0.5
  done
}

# The server ended the job (failed, timed out, rolled back: `ignored: terminal`). Nothing more is built or reported:
# this step ends cleanly, later steps are skipped (JOB_ENDED), and the last step deletes what this run created, which
# rollback may have looked for before it existed.
end_job() {
  echo "::notice::The pipeline ended job ${JOB_ID}: stopping, and deleting what this run created"
  touch "$JOB_ENDED_FILE"
  keep JOB_ENDED true
  exit 0
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

# The server type of region $1, from the catalogue the domain reads too; nothing for a region outside it.
server_type_for() {
  jq -r --arg region "$1" '.[$region].serverType // empty' "$REGION_CATALOGUE"
}

# The catalogue's regions, comma-separated.
catalogue_regions() {
  jq -r 'keys_unsorted | join(", ")' "$REGION_CATALOGUE"
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
# Its webhook-id is <job_id>:<type>:<step or status> (callback.mjs), the same for every delivery. Ends the job when
# the server says it is over.
post_callback() {
  local answer=0
  node .github/scripts/callback.mjs "$(json_object job_id="$JOB_ID" "$@")" || answer=$?
  if ((answer == JOB_ENDED_EXIT)); then end_job; fi
}

# Posts this run's heartbeat number $1 (webhook-id <job_id>:heartbeat:$1). Fails when the server says the job is
# over, leaving the marker that the next step's begin_step acts on.
post_heartbeat() {
  local answer=0
  node .github/scripts/callback.mjs "$(json_object job_id="$JOB_ID" type=heartbeat)" "$1" || answer=$?
  if ((answer == JOB_ENDED_EXIT)); then
    touch "$JOB_ENDED_FILE"
    return 1
  fi
}

# Deletes this job's servers (label job_id=<job_id>) and tailnet devices (its hostname), as rollback finds them.
delete_job_resources() {
  local servers devices id
  servers="$(hcloud GET "/servers?label_selector=job_id%3D${JOB_ID}")" || fail "Hetzner: cannot list servers"
  for id in $(jq -r '.servers[].id' <<<"$servers"); do
    hcloud DELETE "/servers/${id}" >/dev/null || fail "Hetzner: cannot delete server ${id}"
    echo "deleted server ${id}"
  done
  devices="$(tailscale_api GET "/tailnet/${TAILSCALE_TAILNET}/devices")" || fail "Tailscale: cannot list devices"
  for id in $(jq -r '.devices[] | select(.hostname == env.AGENT_HOSTNAME) | .nodeId' <<<"$devices"); do
    tailscale_api DELETE "/device/${id}" >/dev/null || fail "Tailscale: cannot delete device ${id}"
    echo "deleted device ${id}"
  done
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
