/**
 * The node's access to the chain (what its embedded nearcore gives it): transactions signed with
 * its own key as its own account, and its view of the contract state. The view can lag the chain
 * head by a number of blocks (TWIN_INDEXER_LAG_BLOCKS: an indexer that falls behind): the node then
 * acts on the contract state of that older block, and reports that block as its
 * `mpc_indexer_latest_block_height`.
 */
import {
  JsonRpcProvider,
  KeyPair,
  KeyPairSigner,
  actions,
  baseDecode,
  createTransaction,
  type KeyPairString,
} from 'near-api-js';
import { type ContractStateJson, describeInvalidTx, display } from './node-logic.ts';
import type { Metrics } from './telemetry.ts';

type Log = (level: 'INFO' | 'WARN' | 'ERROR', target: string, msg: string, fields?: Record<string, unknown>) => void;

export interface ChainClientOptions {
  rpcUrl: string;
  accountId: string;
  contractId: string;
  signerKey: string;
  signerPublicKey: string;
  lagBlocks: number;
  metrics: Metrics;
  log: Log;
  /** False once the node is stopped: it sends nothing more. */
  alive?: () => boolean;
}

export interface ChainView {
  height: number;
  state: ContractStateJson;
}

export type ChainClient = ReturnType<typeof createChainClient>;

/**
 * The nodes one host process runs read the same chain: a reading of the contract state and the head
 * younger than SHARED_READING_MS is what any of them would read now (state changes only when a block
 * is produced), so they share it. Each node still applies its own lag and logs its own errors.
 */
const SHARED_READING_MS = 250;
const readings = new Map<string, { at: number; reading: Promise<{ head: number; state: ContractStateJson }> }>();

function sharedReading(provider: JsonRpcProvider, rpcUrl: string, contractId: string) {
  const key = `${rpcUrl} ${contractId}`;
  const now = performance.now();
  const last = readings.get(key);
  if (last && now - last.at < SHARED_READING_MS) return last.reading;
  const reading = (async () => {
    const state = (await provider.callFunction({ contractId, method: 'state', args: {} })) as ContractStateJson;
    const head = (await provider.viewNodeStatus()).sync_info.latest_block_height;
    return { head, state };
  })();
  readings.set(key, { at: now, reading });
  // A failed reading is not shared: the next node asks again.
  reading.catch(() => readings.get(key)?.reading === reading && readings.delete(key));
  return reading;
}

export function createChainClient(o: ChainClientOptions) {
  const provider = new JsonRpcProvider({ url: o.rpcUrl }, { retries: 1, wait: 100 });
  const signer = new KeyPairSigner(KeyPair.fromString(o.signerKey as KeyPairString));
  let nextNonce: bigint | undefined;
  /** Contract states as the node read them, by the head height at the time (for a lagging view). */
  const seen: ChainView[] = [];
  let current: ChainView | undefined;

  const requestName = (m: string) =>
    m
      .split('_')
      .map((w) => w[0]!.toUpperCase() + w.slice(1))
      .join('');

  /** The block the node's transactions refer to: its own latest (final) block. */
  async function referenceBlockHash(): Promise<string> {
    if (o.lagBlocks > 0 && current) return (await provider.viewBlock({ blockId: current.height })).header.hash;
    return (await provider.viewBlock({ finality: 'final' })).header.hash;
  }

  /** Sign and send one FunctionCall as my account with my key, as the node's tx_sender does. */
  async function send(method: string, args: unknown): Promise<void> {
    const stopped = () => o.alive && !o.alive();
    if (stopped()) throw new Error('the node is stopping');
    const publicKey = await signer.getPublicKey();
    if (nextNonce === undefined) {
      try {
        const ak = await provider.viewAccessKey({ accountId: o.accountId, publicKey });
        nextNonce = BigInt(ak.nonce) + 1n;
      } catch {
        const status = await provider.viewNodeStatus();
        // Key unknown to us: the chain decides.
        nextNonce = BigInt(status.sync_info.latest_block_height) * 1_000_000n - 1n;
      }
    }
    const tx = createTransaction(
      o.accountId,
      publicKey,
      o.contractId,
      nextNonce,
      [actions.functionCall(method, args as object, 300_000_000_000_000n, 0n)],
      baseDecode(await referenceBlockHash()),
    );
    const { signedTransaction } = await signer.signTransaction(tx);
    if (stopped()) throw new Error('the node is stopping');
    o.log('INFO', 'mpc_node::indexer::tx_sender', `sending tx with ak=${publicKey.toString()} nonce=${nextNonce}`);
    try {
      const out = await provider.sendTransactionUntil(signedTransaction, 'EXECUTED_OPTIMISTIC');
      nextNonce += 1n;
      const status = out.status as { Failure?: unknown };
      if (status && typeof status === 'object' && 'Failure' in status) {
        o.metrics.txOutcome(method, 'unknown_err');
        throw new Error(`transaction failed: ${JSON.stringify(status.Failure)}`);
      }
      o.metrics.txOutcome(method, 'succeeded');
    } catch (e) {
      nextNonce = undefined;
      const data = (e as { data?: unknown }).data;
      const invalid = describeInvalidTx(e, { accountId: o.accountId, publicKey: o.signerPublicKey });
      if (invalid) {
        o.metrics.txOutcome(method, 'local_error');
        o.log('ERROR', 'mpc_node::indexer::tx_sender', `Failed to forward transaction ${requestName(method)}(…)`, {
          err: display(`unexpected ProcessTxResponse: InvalidTx(${invalid})`), // tracing's %err: Display, unquoted
        });
        throw new Error(`InvalidTx(${invalid})`);
      }
      if (!(e as Error).message.startsWith('transaction failed')) o.metrics.txOutcome(method, 'unknown');
      throw new Error(data ? JSON.stringify(data) : (e as Error).message);
    }
  }

  /**
   * Read the contract state at the head and return the node's view: the newest state it read at a
   * height at or below `head - lagBlocks` (undefined while it has none that old, or on error).
   */
  async function refresh(): Promise<ChainView | undefined> {
    try {
      const { head, state } = await sharedReading(provider, o.rpcUrl, o.contractId);
      seen.push({ height: head, state });
      const target = head - o.lagBlocks;
      let view: ChainView | undefined;
      for (const s of seen) if (s.height <= target) view = { height: target, state: s.state };
      while (seen.length > 1 && seen[1]!.height <= target) seen.shift();
      if (view) {
        current = view;
        o.metrics.set('mpc_indexer_latest_block_height', {}, view.height);
      }
      return view;
    } catch (e) {
      o.log('ERROR', 'mpc_node::indexer', `error reading config from chain: ${(e as Error).message}`);
      return undefined;
    }
  }

  return {
    provider,
    send,
    refresh,
    /** The last view refresh() produced. */
    current: () => current,
    /** nearcore's sync status of the node's chain view. */
    syncing: async () => (await provider.viewNodeStatus()).sync_info.syncing,
    view: (method: string, args: Record<string, unknown>) =>
      provider.callFunction({ contractId: o.contractId, method, args }),
  };
}
