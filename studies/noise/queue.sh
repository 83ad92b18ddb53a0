#!/usr/bin/env bash
# The noise study's background queue: runs each line of a jobs file once, in order.
#
#   studies/noise/queue.sh JOBS_FILE [WORKERS]      (from the repository root; default 2 workers)
#
# A line is "<commit> <winnow run overrides...>": the job runs the code of that commit, from a git
# worktree of it under $QUEUE_HOME/trees/<commit> (made on first use), with this checkout's
# .venv python and PYTHONPATH=<worktree>, one torch thread per job (two threads collapse when
# anything else uses a core). A worker claims a job with mkdir claim/<hash> (atomic); done/<hash>
# marks it finished, logs/<hash>.log holds its output, queue.log the starts and ends. A finished
# job is also appended, as "<hash> <line>", to the done list beside the jobs file (jobs.txt ->
# jobs.done), which is committed with the rows: a new machine, whose $QUEUE_HOME is empty, skips
# what finished elsewhere instead of rerunning the whole file. The jobs file is re-read after
# every job, so lines can be appended or reordered while it runs. A job killed with its session is
# resumed by the next start: stale claims are cleared at start-up (only start the queue when no
# worker of it is running) and winnow resumes every stage from the checkpoints in ~/.cache (on a
# new machine it starts over).
set -uo pipefail
JOBS=$(realpath "$1"); WORKERS=${2:-2}
DONE_LIST=${JOBS%.txt}.done
REPO=$(git rev-parse --show-toplevel); PY=$REPO/.venv/bin/python
Q=${QUEUE_HOME:-$HOME/.cache/winnow/queue}
mkdir -p "$Q/claim" "$Q/done" "$Q/logs" "$Q/trees"
rm -rf "$Q/claim"/*   # stale claims of jobs killed with an earlier session
export OMP_NUM_THREADS=1
# the worktrees do not sit beside the data: every job uses this checkout's data root
WINNOW_DATA=${WINNOW_DATA:-$(cd "$REPO" && $PY -c 'from winnow.paths import data_root; print(data_root())')} || exit 1
export WINNOW_DATA

worker() {
  while true; do
    local next="" h=""
    while IFS= read -r line; do
      [[ -z "$line" || "$line" == \#* ]] && continue
      h=$(echo -n "$line" | sha1sum | cut -c1-12)
      [[ -e "$Q/done/$h" ]] && continue
      grep -qs "^$h " "$DONE_LIST" && continue
      mkdir "$Q/claim/$h" 2>/dev/null || continue
      next="$line"; break
    done < "$JOBS"
    [[ -z "$next" ]] && { echo "$(date -Is) worker $1: queue empty" >> "$Q/queue.log"; return; }
    local commit=${next%% *} args=${next#* } tree="$Q/trees/${next%% *}"
    if [[ ! -d "$tree" ]]; then
      (cd "$REPO" && flock "$Q/trees/.lock" git worktree add -q --detach "$tree" "$commit") >> "$Q/queue.log" 2>&1
    fi
    echo "$(date -Is) start $h [w$1] $next" >> "$Q/queue.log"
    local start; start=$(date +%s)
    if (cd "$tree" && PYTHONPATH="$tree" $PY -m winnow run $args progress=false runtime.threads=1) > "$Q/logs/$h.log" 2>&1; then
      echo "$next" > "$Q/done/$h"
      echo "$h $next" >> "$DONE_LIST"
      echo "$(date -Is) done $h [w$1] $(( $(date +%s) - start ))s" >> "$Q/queue.log"
    else
      echo "$(date -Is) FAILED $h [w$1] $(( $(date +%s) - start ))s (see $Q/logs/$h.log)" >> "$Q/queue.log"
      echo "$next" > "$Q/done/$h.failed"; touch "$Q/done/$h"
    fi
  done
}

for i in $(seq 1 "$WORKERS"); do worker "$i" & sleep 1; done
wait
