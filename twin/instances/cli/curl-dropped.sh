# Shared by the curl stand-in (the fleet puts it in front): a dropped SYN for the plain forms scripts use, in
# bash, where the faithful stand-in (curl.ts) costs a Node process (~0.1 s of CPU) to wait out a timeout.
# dropped_transfer ARGS…: one http(s) URL; only -s, -S, -o FILE, --connect-timeout S, --max-time S / -m S,
# -w FORMAT (no @file, no %{stdout}/%{stderr}, no unknown variable); at least one timeout. It waits out the
# shortest timeout, says `curl: (28) Connection timed out after N milliseconds` unless silenced, renders the
# --write-out with what curl knows of a transfer that never connected, and exits 28 — as curl.ts does.
# Anything else returns 1: the caller hands the arguments to the faithful stand-in.

# SECONDS.FRACTION → milliseconds (curl takes decimals); fails on anything else.
seconds_to_ms() {
  [[ $1 =~ ^([0-9]+)(\.([0-9]*))?$ ]] || return 1
  local frac="${BASH_REMATCH[3]}000"
  REPLY=$((10#${BASH_REMATCH[1]} * 1000 + 10#${frac:0:3}))
}

dropped_transfer() {
  local silent='' show='' fmt='' url='' wait_ms='' a
  while [ $# -gt 0 ]; do
    a=$1
    case $a in
      -s | --silent) silent=1 ;;
      -S | --show-error) show=1 ;;
      -sS | -Ss) silent=1 show=1 ;;
      -o | --output)
        [ $# -gt 1 ] || return 1
        shift
        ;;
      --connect-timeout | --max-time | -m)
        [ $# -gt 1 ] && seconds_to_ms "$2" || return 1
        shift
        [ "$REPLY" -gt 0 ] && { [ -z "$wait_ms" ] || [ "$REPLY" -lt "$wait_ms" ]; } && wait_ms=$REPLY
        ;;
      -w | --write-out)
        [ $# -gt 1 ] && [[ $2 != @* ]] || return 1
        fmt=$2
        shift
        ;;
      http://* | https://*)
        [ -z "$url" ] || return 1
        url=$a
        ;;
      *) return 1 ;;
    esac
    shift
  done
  [ -n "$url" ] && [ -n "$wait_ms" ] || return 1
  local out='' rest=$fmt name start=${EPOCHREALTIME/./} took scheme=${url%%://*}
  # The --write-out is checked before the wait: a form this cannot render goes to curl.ts whole.
  while [ -n "$rest" ]; do
    case $rest in
      '%{'*'}'*)
        name=${rest#'%{'} name=${name%%'}'*}
        [[ $name =~ ^[a-z_]+$ ]] || { out+='%' rest=${rest:1} && continue; }
        rest=${rest#'%{'"$name"'}'}
        case $name in
          http_code | response_code | http_connect) out+=000 ;;
          time_connect | time_appconnect | time_pretransfer | time_starttransfer | time_redirect) out+=0.000000 ;;
          time_namelookup) out+=0.000012 ;;
          exitcode) out+=28 ;;
          url | url_effective) out+=$url ;;
          urlnum | remote_port | local_port | num_connects | num_redirects | size_download | size_upload) out+=0 ;;
          size_header | size_request | speed_download | speed_upload) out+=0 ;;
          filename_effective | remote_ip | local_ip | content_type) ;;
          scheme) out+=${scheme^^} ;;
          time_total) out+=$'\x01T' ;;
          errormsg) out+=$'\x01E' ;;
          *) return 1 ;;
        esac
        ;;
      '%%'*) out+='%' rest=${rest:2} ;;
      '\n'*) out+=$'\n' rest=${rest:2} ;;
      '\r'*) out+=$'\r' rest=${rest:2} ;;
      '\t'*) out+=$'\t' rest=${rest:2} ;;
      '\\'*) out+='\' rest=${rest:2} ;;
      *) out+=${rest:0:1} rest=${rest:1} ;;
    esac
  done
  sleep "$((wait_ms / 1000)).$(printf '%03d' $((wait_ms % 1000)))"
  took=$(((${EPOCHREALTIME/./} - start) / 1000 + 1))
  local message="Connection timed out after $took milliseconds" total=$(((${EPOCHREALTIME/./} - start)))
  [ -n "$silent" ] && [ -z "$show" ] || printf 'curl: (28) %s\n' "$message" >&2
  out=${out//$'\x01E'/$message}
  out=${out//$'\x01T'/$((total / 1000000)).$(printf '%06d' $((total % 1000000)))}
  [ -z "$fmt" ] || printf '%s' "$out"
  exit 28
}
