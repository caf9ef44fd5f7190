# Shared by the instance stand-ins (the fleet puts it in front of each): one HTTP POST to the twin on
# 127.0.0.1 over bash's /dev/tcp, its answer read by bash itself (`read -N` of the Content-Length; `cat`
# only for an answer without one) — no process at all, where curl costs ~10 ms of CPU.
# twin_post URL PATH CONTENT-TYPE BODY [ACCEPT [HEADER]]: sets REPLY_STATUS and REPLY_BODY (trailing
# newlines dropped); returns 2 for a URL it does not handle (not plain http to an address), 1 when nothing
# answers.
twin_post() {
  [[ $1 =~ ^http://([0-9.]+|localhost):([0-9]+)/*$ ]] || return 2
  local host=${BASH_REMATCH[1]} port=${BASH_REMATCH[2]} body=$4 line length='' LC_ALL=C
  { exec 3<>"/dev/tcp/$host/$port"; } 2>/dev/null || return 1
  printf 'POST %s HTTP/1.0\r\nHost: %s:%s\r\nContent-Type: %s\r\nAccept: %s\r\n%sContent-Length: %d\r\n%s\r\n\r\n%s' \
    "$2" "$host" "$port" "$3" "${5:-*/*}" "${6:+$6$'\r\n'}" "${#body}" 'Connection: close' "$body" >&3
  IFS= read -r line <&3
  [[ $line == HTTP/1.?\ [0-9][0-9][0-9]* ]] || { exec 3<&-; return 1; }
  REPLY_STATUS=${line:9:3}
  while IFS= read -r line <&3 && [ "${line%$'\r'}" != '' ]; do
    [[ ${line,,} =~ ^content-length:\ *([0-9]+) ]] && length=${BASH_REMATCH[1]}
  done
  REPLY_BODY=''
  if [ -z "$length" ]; then REPLY_BODY=$(cat <&3)
  elif [ "$length" -gt 0 ]; then IFS= read -r -N "$length" REPLY_BODY <&3; fi
  exec 3<&-
  while [ "${REPLY_BODY: -1}" = $'\n' ]; do REPLY_BODY=${REPLY_BODY%$'\n'}; done
}
