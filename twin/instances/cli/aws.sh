#!/usr/bin/env bash
# `aws` on a twin instance. The call the bootstrap and the runbook's repair make —
#   aws secretsmanager get-secret-value --secret-id ID --region R --query SecretString --output text
# (options in any order, `--opt value` or `--opt=value`) — is answered here with one request (unsigned,
# over bash's /dev/tcp: twin_post from http.sh) when the answer is a plain success. Everything else, and
# any error (so the CLI's exact error text and exit code), goes to the faithful stand-in (aws.ts), which
# starts a Node process with the AWS SDK. The fleet fills in the stand-in's command line.
slow() { exec @AWS_STAND_IN@ "$@"; }
[ "${1:-}" = secretsmanager ] && [ "${2:-}" = get-secret-value ] || slow "$@"
[ -n "${AWS_ENDPOINT_URL:-}" ] && [ -n "${AWS_ACCESS_KEY_ID:-}" ] && [ -n "${AWS_SECRET_ACCESS_KEY:-}" ] || slow "$@"
# A profile (flag or environment) may name one the config file lacks: the stand-in says so.
[ -z "${AWS_PROFILE:-}${AWS_DEFAULT_PROFILE:-}" ] || slow "$@"
id='' region='' query='' output='' i=3
while [ "$i" -le $# ]; do
  a=${!i}
  case $a in
    --secret-id | --region | --query | --output)
      i=$((i + 1))
      [ "$i" -le $# ] || slow "$@"
      v=${!i}
      ;;
    --secret-id=* | --region=* | --query=* | --output=*) v=${a#*=} a=${a%%=*} ;;
    *) slow "$@" ;;
  esac
  case $a in
    --secret-id) id=$v ;;
    --region) region=$v ;;
    --query) query=$v ;;
    --output) output=$v ;;
  esac
  i=$((i + 1))
done
[ "$query" = SecretString ] && [ "$output" = text ] || slow "$@"
# Secret names and ARNs need no JSON escaping.
[[ $id =~ ^[A-Za-z0-9/_+=.@:-]+$ && $region =~ ^[a-z0-9-]+$ ]] || slow "$@"
# Unsigned: the twin's endpoint does not check SigV4 (the stand-in and the SDK sign).
twin_post "$AWS_ENDPOINT_URL" / application/x-amz-json-1.1 "{\"SecretId\":\"$id\"}" '*/*' \
  'X-Amz-Target: secretsmanager.GetSecretValue' && [ "$REPLY_STATUS" = 200 ] || slow "$@"
# A value with no JSON escape in it is printed as is; any other through jq.
plain='"SecretString":"([^"\]*)"'
if [[ $REPLY_BODY =~ $plain ]]; then
  printf '%s\n' "${BASH_REMATCH[1]}"
else
  printf '%s' "$REPLY_BODY" | jq -r 'if .SecretString == null then "None" else .SecretString end' || slow "$@"
fi
