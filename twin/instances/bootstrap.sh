#!/usr/bin/env bash
# First boot of an MPC instance, mirroring the user's CDK UserData (mpc-network.ts
# generateUserDataScript): wait for real secrets, strip newlines, check the ed25519: prefix, write
# config.yaml and secrets.json ONLY IF MISSING, then (re)create the mpc-node container.
# Parameters (env): NODE_INDEX, REGION, MPC_ACCOUNT_ID, MPC_CONTRACT_ID, IMAGE,
#   SECRET_POLL_COUNT (60), SECRET_POLL_SECONDS (10).
set -eo pipefail
DATA="${MPC_DATA_DIR:-/data}"
: "${NODE_INDEX:?}" "${REGION:?}" "${MPC_ACCOUNT_ID:?}"
MPC_CONTRACT_ID="${MPC_CONTRACT_ID:-v1.signer.localnet}"
IMAGE="${IMAGE:-nearone/mpc-node:3.2.0}"
PLACEHOLDER="PLACEHOLDER_REPLACE_WITH_REAL_KEY"

fetch_secret() {
  aws secretsmanager get-secret-value --secret-id "$1" --region "$REGION" --query SecretString --output text
}

wait_for_real_secret() { # progress goes to stderr, never into the value
  local name="$1" value i
  for i in $(seq 1 "${SECRET_POLL_COUNT:-60}"); do
    value="$(fetch_secret "$name" 2>/dev/null || true)"
    if [ -n "$value" ] && [ "$value" != "$PLACEHOLDER" ]; then
      printf '%s' "$value"
      return 0
    fi
    echo "Waiting for $name secret to be populated ($i)..." >&2
    sleep "${SECRET_POLL_SECONDS:-10}"
  done
  echo "ERROR: Timed out waiting for $name secret to be populated" >&2
  return 1
}

MPC_ACCOUNT_SK="$(wait_for_real_secret "mpc-node-${NODE_INDEX}-mpc_account_sk" | tr -d '\n')"
MPC_P2P_PRIVATE_KEY="$(wait_for_real_secret "mpc-node-${NODE_INDEX}-mpc_p2p_private_key" | tr -d '\n')"
MPC_SECRET_STORE_KEY="$(wait_for_real_secret "mpc-node-${NODE_INDEX}-mpc_secret_store_key" | tr -d '\n')"

case "$MPC_ACCOUNT_SK" in ed25519:*) ;; *) echo "ERROR: MPC_ACCOUNT_SK must start with 'ed25519:'" >&2; exit 1 ;; esac
case "$MPC_P2P_PRIVATE_KEY" in ed25519:*) ;; *) echo "ERROR: MPC_P2P_PRIVATE_KEY must start with 'ed25519:'" >&2; exit 1 ;; esac

mkdir -p "$DATA"
if [ ! -f "$DATA/config.yaml" ]; then
  cat > "$DATA/config.yaml" <<YAML
my_near_account_id: $MPC_ACCOUNT_ID
near_responder_account_id: $MPC_ACCOUNT_ID
number_of_responder_keys: 1
web_ui:
  host: 0.0.0.0
  port: 8080
migration_web_ui:
  host: 0.0.0.0
  port: 8079
indexer:
  validate_genesis: false
  sync_mode: Latest
  finality: optimistic
  concurrency: 1
  mpc_contract_id: $MPC_CONTRACT_ID
cores: 4
YAML
fi

if [ ! -f "$DATA/secrets.json" ]; then
  umask 077
  jq -n --arg p2p "$MPC_P2P_PRIVATE_KEY" --arg sk "$MPC_ACCOUNT_SK" \
    '{p2p_private_key: $p2p, near_signer_key: $sk, near_responder_keys: [$sk]}' > "$DATA/secrets.json"
  chmod 600 "$DATA/secrets.json"
fi

docker stop mpc-node >/dev/null 2>&1 || true
docker rm mpc-node >/dev/null 2>&1 || true
docker run -d --name mpc-node --restart=always --net=host \
  -v "$DATA:/data" \
  -e MPC_HOME_DIR=/data \
  -e MPC_SECRET_STORE_KEY="$MPC_SECRET_STORE_KEY" \
  -e RUST_BACKTRACE=full \
  -e RUST_LOG="mpc=debug,info" \
  --entrypoint /app/mpc-node "$IMAGE" start local >/dev/null
echo "MPC node $NODE_INDEX startup complete"
