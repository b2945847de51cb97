#!/usr/bin/env bash
# A one-node Slurm cluster on this machine, for testing the job templates in jobs/.
#
# Everything lives in one private directory: slurm.conf, state, spool, pid and log files.
# Nothing under /etc/slurm is read or written, no munge and no cgroups are needed: the
# cluster uses AuthType=auth/none and CredType=cred/none (so it is only for a test machine),
# proctrack/linuxproc, task/none, and two free TCP ports on localhost. The daemons run as
# the calling user, which must be root (slurmd starts jobs as their owner).
#
# As a library (what tests/slurm/test_jobs.sh does):
#   source tests/slurm/cluster.sh
#   trap slurm_cluster_stop EXIT
#   slurm_cluster_start [DIR]   # DIR: default a new mktemp -d, removed again by the stop
#   sbatch ...                  # SLURM_CONF is exported; SLURM_CLUSTER_DIR names DIR
#
# As a command (to try the job templates by hand):
#   bash tests/slurm/cluster.sh start /tmp/slurm-test   # prints the export line to use
#   export SLURM_CONF=/tmp/slurm-test/slurm.conf
#   sbatch ... ; squeue ; sinfo
#   bash tests/slurm/cluster.sh stop /tmp/slurm-test
#
# Settings (environment):
#   SLURM_CLUSTER_TIMEOUT      seconds to wait for the node to become idle (default 60)
#   SLURM_CLUSTER_CRED_EXPIRE  AuthInfo cred_expire (default 5): also how long Slurm holds a
#                              requeued job before it may start again (Slurm's default: 120 s)
#   SLURM_CLUSTER_GPUS         N (0-4, default 0): give the node N pretend GPUs (gres/gpu),
#                              so that --gpus-per-task, --gres=gpu:N and --gpu-bind work and
#                              set CUDA_VISIBLE_DEVICES per task. Their device files are
#                              harmless character devices (/dev/null, /dev/zero, ...): a GPU
#                              build of cellfit would find no GPU behind them.
#   SLURM_CLUSTER_KEEP=1       keep DIR after stopping (logs)

# Prints the first free TCP port on localhost at or after $1.
_slurm_free_port() {
  local port=$1
  while ((port < 65000)); do
    # A refused connection means nobody listens there.
    if ! (exec 3<> "/dev/tcp/127.0.0.1/$port") 2> /dev/null; then
      echo "$port"
      return 0
    fi
    port=$((port + 1))
  done
  return 1
}

# Prints the daemon logs of the cluster in $1 (after a failure).
slurm_cluster_logs() {
  local dir=${1:-${SLURM_CLUSTER_DIR:-}} f
  for f in "$dir"/slurmctld.log "$dir"/slurmd.log; do
    [[ -f $f ]] || continue
    echo "----- $f (last 40 lines)"
    tail -n 40 "$f"
  done
}

# slurm_cluster_start [DIR]: writes DIR/slurm.conf, starts slurmctld and slurmd, waits until
# the node is idle, exports SLURM_CONF and SLURM_CLUSTER_DIR. Returns nonzero (after printing
# the daemon logs) when a daemon is missing, does not start, or the node does not come up.
slurm_cluster_start() {
  local dir=${1:-} bin
  for bin in slurmctld slurmd sbatch srun scontrol squeue sinfo scancel; do
    if ! command -v "$bin" > /dev/null 2>&1; then
      echo "slurm cluster: '$bin' not found: install Debian's slurm-wlm (scripts/install_deps.sh)" >&2
      return 1
    fi
  done
  if [[ $(id -u) -ne 0 ]]; then
    echo "slurm cluster: the test cluster runs its daemons as root (SlurmUser=root); run as root" >&2
    return 1
  fi
  if [[ -z $dir ]]; then
    dir=$(mktemp -d "${TMPDIR:-/tmp}/cellfit-slurm.XXXXXX") || return 1
    _SLURM_CLUSTER_OWN_DIR=1
  else
    mkdir -p "$dir" || return 1
    dir=$(cd "$dir" && pwd)
    _SLURM_CLUSTER_OWN_DIR=0
  fi
  SLURM_CLUSTER_DIR=$dir
  export SLURM_CLUSTER_DIR
  mkdir -p "$dir/state" "$dir/spool" || return 1
  : > "$dir/plugstack.conf"

  local node ctld_port slurmd_port hw
  node=$(hostname -s)
  ctld_port=$(_slurm_free_port $((20000 + RANDOM % 20000))) || return 1
  slurmd_port=$(_slurm_free_port $((ctld_port + 1))) || return 1
  # The node's real CPU layout, as slurmd sees it: "NodeName=x CPUs=2 Boards=1 ...".
  hw=$(slurmd -C | head -n 1 | tr ' ' '\n' |
    grep -E '^(CPUs|Boards|SocketsPerBoard|CoresPerSocket|ThreadsPerCore)=' | tr '\n' ' ')
  if [[ -z $hw ]]; then
    echo "slurm cluster: 'slurmd -C' printed no CPU layout" >&2
    return 1
  fi
  # Pretend GPUs: one gres.conf line per device file; slurmd numbers them 0..N-1.
  local gpus=${SLURM_CLUSTER_GPUS:-0} gres_types="" node_gres="" dev n=0
  if ((gpus > 0)); then
    echo "AutoDetect=off" > "$dir/gres.conf"
    for dev in /dev/null /dev/zero /dev/full /dev/urandom; do
      ((n < gpus)) || break
      [[ -c $dev ]] || continue
      echo "NodeName=$node Name=gpu File=$dev" >> "$dir/gres.conf"
      n=$((n + 1))
    done
    if ((n < gpus)); then
      echo "slurm cluster: found $n character devices to stand for $gpus GPUs" >&2
      return 1
    fi
    gres_types="GresTypes=gpu"
    node_gres="Gres=gpu:$gpus "
  fi
  cat > "$dir/slurm.conf" << EOF
# One-node test cluster written by tests/slurm/cluster.sh (Slurm 22.05).
ClusterName=cellfit-test
SlurmctldHost=$node(127.0.0.1)
SlurmctldPort=$ctld_port
SlurmdPort=$slurmd_port
AuthType=auth/none
CredType=cred/none
AuthInfo=cred_expire=${SLURM_CLUSTER_CRED_EXPIRE:-5}
SlurmUser=root
SlurmdUser=root
StateSaveLocation=$dir/state
SlurmdSpoolDir=$dir/spool
SlurmctldPidFile=$dir/slurmctld.pid
SlurmdPidFile=$dir/slurmd.pid
SlurmctldLogFile=$dir/slurmctld.log
SlurmdLogFile=$dir/slurmd.log
PlugStackConfig=$dir/plugstack.conf
MailProg=/bin/true
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
JobCompType=jobcomp/none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
MpiDefault=none
JobRequeue=1
ReturnToService=2
KillWait=10
# The scheduler looks at pending jobs every second or two (defaults: 60 s and 30 s), so a
# requeued job starts soon after its hold (cred_expire) ends.
SchedulerParameters=sched_interval=2,bf_interval=1
$gres_types
NodeName=$node NodeAddr=127.0.0.1 ${hw}${node_gres}State=UNKNOWN
PartitionName=test Nodes=$node Default=YES MaxTime=INFINITE State=UP
EOF
  export SLURM_CONF=$dir/slurm.conf
  # Both daemonize and write their pid files; slurmd is named explicitly (-N).
  if ! slurmctld -f "$SLURM_CONF" || ! slurmd -f "$SLURM_CONF" -N "$node"; then
    echo "slurm cluster: a daemon did not start (config $SLURM_CONF)" >&2
    slurm_cluster_logs "$dir" >&2
    return 1
  fi
  local timeout=${SLURM_CLUSTER_TIMEOUT:-60} t=0 state="" pid d
  while ((t < timeout * 4)); do
    state=$(sinfo -h -n "$node" -o %T 2> /dev/null || true)
    [[ $state == idle ]] && break
    for d in slurmctld slurmd; do
      pid=$(cat "$dir/$d.pid" 2> /dev/null || true)
      if ((t > 20)) && ! { [[ -n $pid ]] && kill -0 "$pid" 2> /dev/null; }; then
        echo "slurm cluster: $d is not running (config $SLURM_CONF)" >&2
        slurm_cluster_logs "$dir" >&2
        return 1
      fi
    done
    sleep 0.25
    t=$((t + 1))
  done
  if [[ $state != idle ]]; then
    echo "slurm cluster: node $node not idle after ${timeout}s (state '${state:-none}'; config $SLURM_CONF)" >&2
    slurm_cluster_logs "$dir" >&2
    return 1
  fi
  echo "slurm cluster: node $node idle (${hw}${node_gres% }), slurmctld port $ctld_port, slurmd port $slurmd_port, in $dir"
}

# slurm_cluster_stop [DIR]: cancels the cluster's jobs, stops exactly the slurmctld and slurmd
# whose pid files are in DIR (default: the started one) and removes DIR if start made it.
slurm_cluster_stop() {
  local dir=${1:-${SLURM_CLUSTER_DIR:-}} d pid i
  [[ -n $dir && -d $dir ]] || return 0
  # Jobs first, so that no slurmstepd or job process outlives the daemons.
  if [[ -f $dir/slurm.conf && -f $dir/slurmctld.pid ]]; then
    SLURM_CONF=$dir/slurm.conf scancel --quiet --user="$(id -un)" 2> /dev/null || true
    for ((i = 0; i < 60; i++)); do
      [[ -z $(SLURM_CONF=$dir/slurm.conf squeue -h -o %A 2> /dev/null || true) ]] && break
      sleep 0.25
    done
  fi
  for d in slurmd slurmctld; do
    pid=$(cat "$dir/$d.pid" 2> /dev/null || true)
    [[ $pid =~ ^[0-9]+$ ]] || continue
    # Only if that pid still is this cluster's daemon.
    tr '\0' ' ' < "/proc/$pid/cmdline" 2> /dev/null | grep -q -- "$d -f $dir/slurm.conf" || continue
    kill -TERM "$pid" 2> /dev/null || true
    for ((i = 0; i < 40; i++)); do
      kill -0 "$pid" 2> /dev/null || break
      sleep 0.25
    done
    kill -0 "$pid" 2> /dev/null && kill -KILL "$pid" 2> /dev/null
  done
  if [[ ${_SLURM_CLUSTER_OWN_DIR:-0} == 1 && $dir == "${SLURM_CLUSTER_DIR:-}" && ${SLURM_CLUSTER_KEEP:-0} != 1 ]]; then
    rm -rf "$dir"
  fi
  return 0
}

if [[ ${BASH_SOURCE[0]} == "$0" ]]; then
  set -euo pipefail
  case ${1:-} in
    start)
      [[ -n ${2:-} ]] || { echo "usage: $0 start DIR | stop DIR" >&2; exit 2; }
      slurm_cluster_start "$2"
      echo "export SLURM_CONF=$SLURM_CONF"
      ;;
    stop)
      [[ -n ${2:-} ]] || { echo "usage: $0 start DIR | stop DIR" >&2; exit 2; }
      slurm_cluster_stop "$(cd "$2" && pwd)"
      ;;
    *)
      echo "usage: $0 start DIR | stop DIR" >&2
      exit 2
      ;;
  esac
fi
