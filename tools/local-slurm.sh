#!/usr/bin/env bash
# A real, one-node Slurm on this machine, for the tests (there is no systemd: daemons are
# started by hand and stopped by PID).
#
#   tools/local-slurm.sh install   Debian's munge, slurmctld, slurmd, slurm-client (as root)
#   tools/local-slurm.sh start     write /etc/slurm/slurm.conf, start munged, slurmctld, slurmd
#   tools/local-slurm.sh stop      stop the three daemons by PID
#   tools/local-slurm.sh status    sinfo
#
# One node on localhost with CPUs = nproc and a fake GPU (gres.conf File=/dev/null), so that
# jobs asking for Snakemake's `gpu` resource are scheduled. No slurmdbd: the Snakemake
# profile uses `squeue` for status, and MinJobAge keeps finished jobs visible to it.
# slurm.conf must live in /etc/slurm: the step inside a job does not see SLURM_CONF.
set -euo pipefail

RUN=/run/attnablate-slurm
CONF=/etc/slurm
SPOOL=/var/spool/attnablate-slurm

install() {
  if command -v slurmctld >/dev/null && command -v slurmd >/dev/null && command -v sbatch >/dev/null \
    && command -v munged >/dev/null; then
    return 0
  fi
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq munge slurmctld slurmd slurm-client >/dev/null
}

write_conf() {
  local host cpus mem
  host=$(hostname -s)
  cpus=$(nproc)
  mem=$(($(awk '/MemTotal/ {print $2}' /proc/meminfo) / 1024 - 1024))
  mkdir -p "$CONF" "$SPOOL/ctld" "$SPOOL/d" "$RUN"
  cat >"$CONF/slurm.conf" <<EOF
# Written by tools/local-slurm.sh: a one-node test cluster on this machine.
ClusterName=attnablate
SlurmctldHost=$host
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
StateSaveLocation=$SPOOL/ctld
SlurmdSpoolDir=$SPOOL/d
SlurmctldPidFile=$RUN/slurmctld.pid
SlurmdPidFile=$RUN/slurmd.pid
SlurmctldLogFile=$RUN/slurmctld.log
SlurmdLogFile=$RUN/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core_Memory
SchedulerType=sched/backfill
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
MpiDefault=none
ReturnToService=2
# Finished jobs stay visible to squeue for a minute: the status command of the profile.
MinJobAge=60
SchedulerParameters=sched_interval=1
GresTypes=gpu
NodeName=$host NodeAddr=127.0.0.1 CPUs=$cpus RealMemory=$mem Gres=gpu:1 State=UNKNOWN
PartitionName=debug Nodes=ALL Default=YES MaxTime=INFINITE State=UP
EOF
  cat >"$CONF/gres.conf" <<EOF
# A fake GPU: lets jobs that ask for one be scheduled; nothing runs on it.
NodeName=$host Name=gpu File=/dev/null
EOF
}

running() { [ -f "$1" ] && kill -0 "$(cat "$1")" 2>/dev/null; }

start() {
  install
  write_conf
  mkdir -p /run/munge && chown munge:munge /run/munge
  if ! running /run/munge/munged.pid; then
    runuser -u munge -- /usr/sbin/munged --pid-file=/run/munge/munged.pid
  fi
  running "$RUN/slurmctld.pid" || /usr/sbin/slurmctld
  running "$RUN/slurmd.pid" || /usr/sbin/slurmd
  for _ in $(seq 60); do
    if sinfo -h -o '%t' 2>/dev/null | grep -qE '^(idle|mix|alloc)'; then
      echo "local Slurm is up: $(sinfo -h -o '%P %D %t %G')"
      return 0
    fi
    scontrol update nodename="$(hostname -s)" state=resume >/dev/null 2>&1 || true
    sleep 1
  done
  echo "local Slurm did not come up; logs in $RUN" >&2
  tail -n 20 "$RUN/slurmctld.log" "$RUN/slurmd.log" >&2 || true
  return 1
}

stop() {
  for pidfile in "$RUN/slurmd.pid" "$RUN/slurmctld.pid" /run/munge/munged.pid; do
    if running "$pidfile"; then
      kill "$(cat "$pidfile")"
    fi
  done
}

case "${1:-}" in
  install) install ;;
  start) start ;;
  stop) stop ;;
  status) sinfo ;;
  *) echo "usage: $0 install|start|stop|status" >&2; exit 2 ;;
esac
