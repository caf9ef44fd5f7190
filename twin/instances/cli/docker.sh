#!/usr/bin/env bash
# `docker` on a twin instance: sends its argv to the twin's container runtime over the instance's
# "docker socket" (TWIN_DOCKERD_URL, an HTTP endpoint on 127.0.0.1) and replays the answer, which the
# socket renders as shell text (`printf` to stdout or stderr in the order written, then `exit N`), so
# `docker logs x 2>&1` keeps the interleaving. One curl per call, no interpreter to start.
# Only the variables named by a bare `-e NAME` / `--env NAME` are sent along (docker takes their value
# from the caller).
NO_DAEMON='Cannot connect to the Docker daemon at unix:///var/run/docker.sock. Is the docker daemon running?'
if [ -z "${TWIN_DOCKERD_URL:-}" ] || [ -z "${TWIN_INSTANCE_ID:-}" ]; then
  echo "$NO_DAEMON" >&2
  exit 1
fi
form=(--data-urlencode "i=$TWIN_INSTANCE_ID")
prev=''
for a in "$@"; do
  form+=(--data-urlencode "a=$a")
  name=''
  case $prev in -e | --env) name=$a ;; esac
  case $a in --env=*) name=${a#--env=} ;; esac
  if [[ $name =~ ^[A-Za-z_][A-Za-z0-9_]*$ ]] && [ -n "${!name+set}" ]; then
    form+=(--data-urlencode "e=$name=${!name}")
  fi
  prev=$a
done
out=$(curl -s -H 'accept: text/x-shellscript' "${form[@]}" "$TWIN_DOCKERD_URL/docker") && [ -n "$out" ] || {
  echo "$NO_DAEMON" >&2
  exit 1
}
eval "$out"
