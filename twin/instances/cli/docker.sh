#!/usr/bin/env bash
# `docker` on a twin instance: sends its argv to the twin's container runtime over the instance's
# "docker socket" (TWIN_DOCKERD_URL, an HTTP endpoint on 127.0.0.1; twin_post from http.sh, which the
# fleet puts in front of this) and replays the answer, which the socket sends as runs of output on
# stdout or stderr in the order written, then the exit code, so `docker logs x 2>&1` keeps the
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
if ! twin_post "$TWIN_DOCKERD_URL" /docker application/x-twin-docker "$body" text/x-twin-docker-runs ||
  [ "$REPLY_STATUS" != 200 ]; then
  echo "$NO_DAEMON" >&2
  exit 1
fi
# The answer (dockerAnswerAsRuns): `exit N`, a `<fd> <bytes>` line per run of output, a blank line, the
# runs' text and a `.`. Each run is printed by its byte count; nothing of the output is parsed as shell.
LC_ALL=C
head=${REPLY_BODY%%$'\n\n'*}
text=${REPLY_BODY:${#head}+2}
code=1
set -f
IFS=$'\n'
for line in $head; do
  n=${line#? }
  case $line in
    'exit '*) code=${line#exit } ;;
    '1 '*) printf %s "${text:0:n}"; text=${text:n} ;;
    '2 '*) printf %s "${text:0:n}" >&2; text=${text:n} ;;
  esac
done
exit "$code"
