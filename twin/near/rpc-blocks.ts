/**
 * Block-level JSON-RPC of the twin: block references (finality | block_id | sync_checkpoint) with
 * nearcore's UNKNOWN_BLOCK and parse errors, the `block` view, `status` and
 * `EXPERIMENTAL_protocol_config`.
 */
import { createHash } from 'node:crypto';
import { baseDecode, baseEncode } from 'near-api-js';
import { GAS_PRICE, type Block, type Chain } from './chain.ts';
import { blockRef, handlerError, nsToIso, parseError, type RpcContext } from './rpc-protocol.ts';

/**
 * A block reference (finality | block_id | sync_checkpoint); `forBlockMethod` selects the block method's
 * UNKNOWN_BLOCK info.
 */
export function resolveBlock(chain: Chain, params: Record<string, unknown>, forBlockMethod: boolean): Block {
  if (params.block_id !== undefined && params.block_id !== null) {
    const id = params.block_id;
    let b: Block | undefined;
    if (typeof id === 'number') {
      if (!Number.isSafeInteger(id) || id < 0) throw parseError(`invalid value: integer \`${id}\`, expected u64`);
      b = chain.blockByHeight(id);
    } else if (typeof id === 'string') {
      let bytes: Uint8Array;
      try {
        bytes = baseDecode(id);
      } catch {
        bytes = new Uint8Array();
      }
      if (bytes.length !== 32)
        throw parseError(
          `Failed parsing args: invalid value: string ${JSON.stringify(id)}, ` +
            'expected a block height or a 32-byte base58 hash',
        );
      b = chain.blockByHash(id);
    } else {
      throw parseError('Failed parsing args: block_id must be a block height or hash');
    }
    if (!b) {
      const below = typeof id === 'number' && id < chain.head.height;
      const data =
        typeof id === 'number'
          ? `DB Not Found Error: BLOCK HEIGHT: ${id} \n Cause: Unknown`
          : `DB Not Found Error: BLOCK HEADER: ${id}`;
      throw handlerError(
        'UNKNOWN_BLOCK',
        forBlockMethod ? {} : { block_reference: { block_id: id } },
        data,
        below ? 422 : 200,
      );
    }
    return b;
  }
  if (params.sync_checkpoint !== undefined) {
    if (params.sync_checkpoint === 'genesis') return chain.blockByHeight(1) ?? chain.earliestBlock();
    if (params.sync_checkpoint === 'earliest_available') return chain.earliestBlock();
    throw parseError(
      `Failed parsing args: unknown variant \`${String(params.sync_checkpoint)}\`, ` +
        'expected `genesis` or `earliest_available`',
    );
  }
  switch (params.finality) {
    case 'final':
      return chain.finalBlock;
    case 'near-final':
      return chain.nearFinalBlock;
    case 'optimistic':
      return chain.head;
    case undefined:
      throw parseError('Failed parsing args: missing field `finality`');
    default:
      throw parseError(
        `Failed parsing args: unknown variant \`${String(params.finality)}\`, ` +
          'expected one of `optimistic`, `near-final`, `final`',
      );
  }
}

export function blockView(chain: Chain, b: Block) {
  const prev = chain.blockByHeight(b.height - 1);
  const zero = '11111111111111111111111111111111';
  return {
    author: 'node0',
    header: {
      height: b.height,
      prev_height: prev?.height ?? null,
      epoch_id: zero,
      next_epoch_id: chain.genesisHash,
      hash: b.hash,
      prev_hash: b.prevHash,
      prev_state_root: b.hash,
      block_body_hash: b.hash,
      chunk_receipts_root: b.hash,
      chunk_headers_root: b.hash,
      chunk_tx_root: b.hash,
      outcome_root: b.hash,
      chunks_included: 1,
      challenges_root: zero,
      timestamp: Number(b.timestampNs),
      timestamp_nanosec: b.timestampNs.toString(),
      random_value: b.hash,
      validator_proposals: [],
      chunk_mask: [true],
      gas_price: GAS_PRICE.toString(),
      block_ordinal: b.height,
      rent_paid: '0',
      validator_reward: '0',
      total_supply: '2000000000000000000000000000000000',
      challenges_result: [],
      last_final_block: chain.blockByHeight(Math.max(1, b.height - 2))?.hash ?? zero,
      last_ds_final_block: chain.blockByHeight(Math.max(1, b.height - 1))?.hash ?? zero,
      next_bp_hash: chain.genesisHash,
      block_merkle_root: b.hash,
      epoch_sync_data_hash: null,
      approvals: [],
      signature: `ed25519:${baseEncode(new Uint8Array(createHash('sha512').update(b.hash).digest()))}`,
      latest_protocol_version: 73,
    },
    chunks: [],
  };
}

export function status({ chain, host, port, startedAt, nodePublicKey }: RpcContext) {
  const h = chain.head;
  const e = chain.earliestBlock();
  return {
    chain_id: chain.chainId,
    genesis_hash: chain.genesisHash,
    latest_protocol_version: 73,
    protocol_version: 73,
    node_key: null,
    node_public_key: nodePublicKey,
    rpc_addr: `${host}:${port}`,
    sync_info: {
      earliest_block_hash: e.hash,
      earliest_block_height: e.height,
      earliest_block_time: nsToIso(e.timestampNs),
      epoch_id: '11111111111111111111111111111111',
      epoch_start_height: 1,
      latest_block_hash: h.hash,
      latest_block_height: h.height,
      latest_block_time: nsToIso(h.timestampNs),
      latest_state_root: h.hash,
      syncing: false,
    },
    uptime_sec: Math.floor((Date.now() - startedAt) / 1000),
    validator_account_id: null,
    validator_public_key: null,
    validators: [{ account_id: 'node0', is_slashed: false }],
    version: { build: 'twin', commit: 'twin', rustc_version: '1.82.0', version: '2.4.0' },
  };
}

export function protocolConfig(chain: Chain, obj: Record<string, unknown>) {
  const b = resolveBlock(
    chain,
    obj.block_id === undefined && obj.finality === undefined && obj.sync_checkpoint === undefined
      ? { finality: 'final' }
      : obj,
    true,
  );
  return {
    chain_id: chain.chainId,
    genesis_height: 1,
    genesis_time: nsToIso(chain.blockByHeight(1)?.timestampNs ?? chain.earliestBlock().timestampNs),
    protocol_version: 73,
    epoch_length: 500,
    num_block_producer_seats: 1,
    transaction_validity_period: chain.transactionValidityPeriod,
    min_gas_price: GAS_PRICE.toString(),
    max_gas_price: (GAS_PRICE * 100n).toString(),
    gas_limit: 1_000_000_000_000_000,
    block_producer_kickout_threshold: 90,
    chunk_producer_kickout_threshold: 90,
    online_min_threshold: [90, 100],
    online_max_threshold: [99, 100],
    protocol_treasury_account: 'near',
    max_inflation_rate: [1, 40],
    protocol_reward_rate: [1, 10],
    total_supply: '2000000000000000000000000000000000',
    runtime_config: {
      storage_amount_per_byte: '10000000000000000000',
      account_creation_config: { min_allowed_top_level_account_length: 32, registrar_account_id: 'registrar' },
    },
    ...blockRef(b),
  };
}

/** The RPC node's own public key (stands for nearcore's node key). */
export const nodePublicKeyFor = (chain: Chain) =>
  `ed25519:${baseEncode(createHash('sha256').update(`node|${chain.genesisHash}`).digest())}`;
