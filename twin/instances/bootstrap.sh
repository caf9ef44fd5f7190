#!/usr/bin/env bash
# First boot of an MPC instance, mirroring the user's CDK UserData (near/mpc infra/aws-cdk
# mpc-network.ts generateUserDataScript, mpc-facts §5.3) in the steps the runbook depends on:
#   2. fetch_secret / wait_for_real_secret (poll while empty or the CDK placeholder; progress on stderr)
#   3. tr -d '\n' on all three secrets; MPC_ACCOUNT_SK and MPC_P2P_PRIVATE_KEY must start with ed25519:
#   4. /data/config.yaml written ONLY IF ABSENT
#   5. /data/secrets.json written ONLY IF ABSENT (chmod 600)
#   7. docker stop/rm mpc-node; docker run -d --name mpc-node --restart=always --net=host … start local
#   8. "MPC node <i> startup complete"
# Left out: package installs, EBS mount, the S3 genesis / nearcore init (step 6), Cloud Map registration.
# Differences on purpose: no `set -x` (the real script's trace echoes the secrets into the cloud-init log).
#
# Parameters (env): NODE_INDEX, REGION, MPC_ACCOUNT_ID, MPC_CONTRACT_ID (v1.signer.localnet),
#   IMAGE (nearone/mpc-node:3.2.0), SECRET_POLL_COUNT (60), SECRET_POLL_SECONDS (10),
#   MPC_DATA_DIR (/data), PORT_OVERRIDE (unset; when set, config.yaml gets `indexer.port_override` — the
#   CDK's UserData writes none: this stands for an operator who edited config.yaml).
set -eo pipefail

DATA="${MPC_DATA_DIR:-/data}"
: "${NODE_INDEX:?NODE_INDEX is required}" "${REGION:?REGION is required}"
MPC_ACCOUNT_ID="${MPC_ACCOUNT_ID:-mpc-node-${NODE_INDEX}.localnet}"
MPC_CONTRACT_ID="${MPC_CONTRACT_ID:-v1.signer.localnet}"
IMAGE="${IMAGE:-nearone/mpc-node:3.2.0}"
PLACEHOLDER="PLACEHOLDER_REPLACE_WITH_REAL_KEY"
POLL_COUNT="${SECRET_POLL_COUNT:-60}"
POLL_SECONDS="${SECRET_POLL_SECONDS:-10}"

echo "=== MPC node ${NODE_INDEX} bootstrap (${MPC_ACCOUNT_ID}) ===" >&2

fetch_secret() {
  aws secretsmanager get-secret-value --secret-id "$1" --region "$REGION" --query SecretString --output text
}

# Prints the secret value on stdout and nothing else: progress and errors go to stderr, otherwise
# they would be captured into the value (near/mpc 63c6fd2).
wait_for_real_secret() {
  local name="$1" label="$2" value="" i
  for ((i = 1; i <= POLL_COUNT; i++)); do
    value="$(fetch_secret "$name" || true)"
    if [ -n "$value" ] && [ "$value" != "$PLACEHOLDER" ]; then
      printf '%s\n' "$value"
      return 0
    fi
    echo "Waiting for ${label} secret to be populated (attempt ${i}/${POLL_COUNT})..." >&2
    sleep "$POLL_SECONDS"
  done
  echo "ERROR: Timed out waiting for ${label} secret to be populated" >&2
  return 1
}

echo "Fetching secrets from Secrets Manager..." >&2
MPC_ACCOUNT_SK="$(wait_for_real_secret "mpc-node-${NODE_INDEX}-mpc_account_sk" MPC_ACCOUNT_SK | tr -d '\n')"
MPC_P2P_PRIVATE_KEY="$(wait_for_real_secret "mpc-node-${NODE_INDEX}-mpc_p2p_private_key" MPC_P2P_PRIVATE_KEY |
  tr -d '\n')"
MPC_SECRET_STORE_KEY="$(wait_for_real_secret "mpc-node-${NODE_INDEX}-mpc_secret_store_key" MPC_SECRET_STORE_KEY |
  tr -d '\n')"

if [[ "$MPC_ACCOUNT_SK" != ed25519:* ]]; then
  echo "ERROR: MPC_ACCOUNT_SK must start with 'ed25519:'" >&2
  exit 1
fi
if [[ "$MPC_P2P_PRIVATE_KEY" != ed25519:* ]]; then
  echo "ERROR: MPC_P2P_PRIVATE_KEY must start with 'ed25519:'" >&2
  exit 1
fi
echo "Secrets fetched." >&2

mkdir -p "$DATA"
if [ ! -f "$DATA/config.yaml" ]; then
  echo "Writing $DATA/config.yaml" >&2
  cat > "$DATA/config.yaml" <<YAML
my_near_account_id: ${MPC_ACCOUNT_ID}
near_responder_account_id: ${MPC_ACCOUNT_ID}
number_of_responder_keys: 50
web_ui:
  host: 0.0.0.0
  port: 8080
migration_web_ui:
  host: 0.0.0.0
  port: 8079
indexer:
  validate_genesis: false
  sync_mode: Latest
  concurrency: 1
  mpc_contract_id: ${MPC_CONTRACT_ID}
  finality: optimistic
${PORT_OVERRIDE:+  port_override: ${PORT_OVERRIDE}
}cores: 12
YAML
else
  echo "$DATA/config.yaml exists, keeping it" >&2
fi

if [ ! -f "$DATA/secrets.json" ]; then
  echo "Writing $DATA/secrets.json" >&2
  (
    umask 077
    jq -n --arg p2p "$MPC_P2P_PRIVATE_KEY" --arg sk "$MPC_ACCOUNT_SK" \
      '{p2p_private_key: $p2p, near_signer_key: $sk, near_responder_keys: [$sk]}' > "$DATA/secrets.json"
  )
  chmod 600 "$DATA/secrets.json"
else
  echo "$DATA/secrets.json exists, keeping it" >&2
fi

echo "Starting MPC node container (${IMAGE})..." >&2
docker stop mpc-node >/dev/null 2>&1 || true
docker rm mpc-node >/dev/null 2>&1 || true
docker run -d --name mpc-node --restart=always --net=host \
  -v "$DATA:/data" \
  -e MPC_HOME_DIR="/data" \
  -e MPC_SECRET_STORE_KEY="$MPC_SECRET_STORE_KEY" \
  -e RUST_BACKTRACE="full" \
  -e RUST_LOG="mpc=debug,info" \
  --entrypoint /app/mpc-node \
  "$IMAGE" start local >/dev/null

echo "MPC node ${NODE_INDEX} startup complete"
