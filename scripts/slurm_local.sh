#!/usr/bin/env bash
# A throwaway SLURM cluster on this machine, for the SLURM tests (README "Scaling"; tests/test_slurm.py).
#
#   scripts/slurm_local.sh start [DIR]   # prints the slurm.conf path: export SLURM_CONF=<it>
#   scripts/slurm_local.sh stop [DIR]    # stops the daemons (DIR can then be deleted)
#   scripts/slurm_local.sh status [DIR]  # sinfo of the running cluster; exit 1 when none runs
#
# DIR defaults to /tmp/textlab-slurm. `start` installs Debian's slurmctld, slurmd and
# slurm-client with apt-get when they are missing (root only), writes DIR/slurm.conf, starts
# slurmctld and one slurmd per node in the background (no systemd needed) and waits until
# `sinfo` shows every node idle. The cluster presents NODES (default 2) nodes, node1..nodeN,
# all on this machine: one slurmd each, with its own port and spool dir, and a line in
# /etc/hosts so that jobs can reach a node by its name. Each node offers CPUS_PER_NODE
# (default: this machine's cores) CPUs, so the nodes over-commit the machine on purpose: two
# jobs of two tasks run at once on two cores. No munge: auth/none and cred/none, so every
# user is trusted: for tests on a machine of your own, never for a shared one. No
# accounting database either, so `sacct` answers nothing.
# The daemons run as root (slurmd must, to start jobs as their users), so `start` needs root.
# Running `start` again is harmless: a running cluster is reused and the path printed again.
#
# Exit codes: 0 done; 1 `status`: no cluster; 2 wrong usage; 3 cannot run here (the reason
# is on stderr, one line starting with "slurm_local: cannot run:").
set -euo pipefail

PROG=slurm_local
CTLD_PORT=${CTLD_PORT:-16817}
NODE_PORT_BASE=${NODE_PORT_BASE:-16900} # node i listens on NODE_PORT_BASE + i
NODES=${NODES:-2}

# cannot_run, usage, apt_install
source "$(dirname "$0")/lib/local_setup.sh"

install_slurm() {
    command -v slurmctld >/dev/null 2>&1 && command -v slurmd >/dev/null 2>&1 \
        && command -v sbatch >/dev/null 2>&1 && return 0
    apt_install slurmctld/slurmd --no-install-recommends slurmctld slurmd slurm-client
}

write_conf() {
    # nproc --all: plain nproc honours OMP_NUM_THREADS and CPU affinity, so a caller limited to
    # one thread got 1-CPU nodes on which no 2-task job can ever start
    local dir=$1 cpus=${CPUS_PER_NODE:-$(nproc --all)} memory host
    # MB each node offers; memory is not scheduled (CR_Core), so this only has to be large enough
    memory=$(awk '/MemTotal/ {print int($2 / 1024 / 2)}' /proc/meminfo)
    host=$(hostname -s)
    mkdir -p "$dir/state" "$dir/spool"
    cat >"$dir/slurm.conf" <<EOF
# written by scripts/slurm_local.sh: a cluster of $NODES nodes, all on this machine
ClusterName=textlab
SlurmctldHost=$host(127.0.0.1)
SlurmctldPort=$CTLD_PORT
SlurmUser=root
SlurmdUser=root
AuthType=auth/none
CredType=cred/none
MpiDefault=none
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SwitchType=switch/none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
# the nodes' CPUs and memory come from this file, not from what slurmd measures
SlurmdParameters=config_overrides
ReturnToService=2
JobRequeue=1
KillWait=10
MinJobAge=600
StateSaveLocation=$dir/state
SlurmdSpoolDir=$dir/spool/%n
SlurmctldPidFile=$dir/slurmctld.pid
SlurmdPidFile=$dir/slurmd.%n.pid
SlurmctldLogFile=$dir/slurmctld.log
SlurmdLogFile=$dir/slurmd.%n.log
SchedulerParameters=sched_interval=2
EOF
    local i
    for ((i = 1; i <= NODES; i++)); do
        echo "NodeName=node$i NodeHostname=$host NodeAddr=127.0.0.1 Port=$((NODE_PORT_BASE + i)) CPUs=$cpus RealMemory=$memory State=UNKNOWN" >>"$dir/slurm.conf"
    done
    echo "PartitionName=debug Nodes=ALL Default=YES MaxTime=INFINITE State=UP OverSubscribe=NO" >>"$dir/slurm.conf"
}

running() {
    # whether the daemon whose pid file is $1 runs
    [[ -f "$1" ]] && kill -0 "$(cat "$1")" 2>/dev/null
}

wait_idle() {
    local dir=$1 t
    for ((t = 0; t < 60; t++)); do
        # every node answered and none is down, drained or still coming up
        if [[ $(SLURM_CONF=$dir/slurm.conf sinfo -h -N -o '%t' 2>/dev/null | grep -cE '^(idle|mix|alloc)$') -eq $NODES ]]; then
            return 0
        fi
        sleep 1
    done
    cannot_run "the nodes did not come up idle in 60 s; see $dir/slurmctld.log and $dir/slurmd.*.log ($(SLURM_CONF=$dir/slurm.conf sinfo -h -N -o '%N %t %E' 2>&1 | tr '\n' ';'))"
}

resolve_node_names() {
    # jobs reach their first node by its name (Lightning's MASTER_ADDR is the first name in
    # SLURM_NODELIST): on a real cluster DNS knows it, here /etc/hosts must
    local i missing=()
    for ((i = 1; i <= NODES; i++)); do
        getent hosts "node$i" >/dev/null || missing+=("node$i")
    done
    [[ ${#missing[@]} -eq 0 ]] && return 0
    echo "127.0.0.1 ${missing[*]} # scripts/slurm_local.sh" >>/etc/hosts \
        || cannot_run "cannot add ${missing[*]} to /etc/hosts (jobs must resolve their node names)"
}

start() {
    local dir=$1
    [[ $(id -u) -eq 0 ]] || cannot_run "slurmd starts jobs as their users and must run as root"
    install_slurm
    resolve_node_names
    mkdir -p "$dir"
    if ! running "$dir/slurmctld.pid"; then
        write_conf "$dir"
        # -i: ignore state left by an earlier cluster in DIR (old jobs, old node states)
        slurmctld -f "$dir/slurm.conf" -i >>"$dir/start.log" 2>&1 \
            || cannot_run "slurmctld did not start; see $dir/slurmctld.log"
    fi
    local i
    for ((i = 1; i <= NODES; i++)); do
        running "$dir/slurmd.node$i.pid" && continue
        slurmd -f "$dir/slurm.conf" -N "node$i" >>"$dir/start.log" 2>&1 \
            || cannot_run "slurmd -N node$i did not start; see $dir/slurmd.node$i.log"
    done
    wait_idle "$dir"
    echo "$dir/slurm.conf"
}

stop() {
    local dir=$1 pidfile
    [[ -f "$dir/slurm.conf" ]] || return 0
    # cancel what still runs, so no job step outlives its slurmd
    SLURM_CONF=$dir/slurm.conf scancel --quiet --full --user="$(id -un)" 2>/dev/null || true
    for pidfile in "$dir"/slurmd.*.pid "$dir/slurmctld.pid"; do
        [[ -f "$pidfile" ]] || continue
        if running "$pidfile"; then
            kill "$(cat "$pidfile")"
            for _ in $(seq 50); do running "$pidfile" || break; sleep 0.2; done
        fi
        rm -f "$pidfile"
    done
}

status() {
    local dir=$1
    running "$dir/slurmctld.pid" || { echo "$PROG: no cluster runs in $dir" >&2; exit 1; }
    SLURM_CONF=$dir/slurm.conf sinfo -N
}

DIR=${2:-/tmp/textlab-slurm}
case "${1:-}" in
start) start "$DIR" ;;
stop) stop "$DIR" ;;
status) status "$DIR" ;;
*) usage ;;
esac
