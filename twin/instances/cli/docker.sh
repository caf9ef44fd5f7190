#!/usr/bin/env bash
# `docker` on a twin instance: sends its argv to the twin's container runtime over the instance's
# "docker socket" (TWIN_DOCKERD_URL, an HTTP endpoint on 127.0.0.1; twin_post from http.sh, which the
# fleet puts in front of this) and replays the answer, which the socket renders as shell text (`printf`
# to stdout or stderr in the order written, then `exit N`), so `docker logs x 2>&1` keeps the
# interleaving. Only the variables named by a bare `-e NAME` / `--env NAME` are sent along (docker
# takes their value from the caller). The request is length-prefixed fields: i (instance), a (each
# argument), e (NAME=value), each `<key><bytes>:<value>`.
NO_DAEMON='Cannot connect to the Docker daemon at unix:///var/run/docker.sock. Is the docker daemon running?'
if [ -z "${TWIN_DOCKERD_URL:-}" ] || [ -z "${TWIN_INSTANCE_ID:-}" ]; then
  echo "$NO_DAEMON" >&2
  exit 1
fi
body=''
field() {
  local LC_ALL=C
  body+="$1${#2}:$2"
}
field i "$TWIN_INSTANCE_ID"
prev=''
for a in "$@"; do
  field a "$a"
  name=''
  case $prev in -e | --env) name=$a ;; esac
  case $a in --env=*) name=${a#--env=} ;; esac
  if [[ $name =~ ^[A-Za-z_][A-Za-z0-9_]*$ ]] && [ -n "${!name+set}" ]; then field e "$name=${!name}"; fi
  prev=$a
done
if ! twin_post "$TWIN_DOCKERD_URL" /docker application/x-twin-docker "$body" text/x-shellscript ||
  [ "$REPLY_STATUS" != 200 ]; then
  echo "$NO_DAEMON" >&2
  exit 1
fi
eval "$REPLY_BODY"
