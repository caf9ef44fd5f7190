/**
 * The `query` method of the twin's JSON-RPC: every request_type the runbook, near-api-js and the MPC
 * node use, in the modern object form and the legacy path form, with nearcore's misses — structured
 * UNKNOWN_ACCOUNT / NO_CONTRACT_CODE errors, and the HTTP-200 compat `result.error` for an unknown
 * access key and any VM failure of a view.
 */
import { baseDecode, PublicKey } from 'near-api-js';
import { resolveBlock } from './rpc-blocks.ts';
import { blockRef, handlerError, parseError, type RpcContext } from './rpc-protocol.ts';

function legacyQuery(params: unknown[]): Record<string, unknown> {
  const [path, data] = params as [unknown, unknown];
  if (typeof path !== 'string') throw parseError('Failed parsing args: expected a path string');
  const [kind, account, ...rest] = path.split('/');
  const base = { account_id: account, finality: 'optimistic' };
  switch (kind) {
    case 'account':
      return { request_type: 'view_account', ...base };
    case 'access_key':
      return rest.length
        ? { request_type: 'view_access_key', ...base, public_key: rest.join('/') }
        : { request_type: 'view_access_key_list', ...base };
    case 'contract':
      return { request_type: 'view_state', ...base, prefix_base64: '' };
    case 'code':
      return { request_type: 'view_code', ...base };
    case 'call': {
      let args = '';
      try {
        args = typeof data === 'string' ? Buffer.from(baseDecode(data)).toString('base64') : '';
      } catch {
        throw parseError('Failed parsing args: data must be base58');
      }
      return { request_type: 'call_function', ...base, method_name: rest[0], args_base64: args };
    }
    default:
      throw parseError(`Failed parsing args: Illegal path: ${kind}`);
  }
}

export function query({ chain, byRequestType }: RpcContext, raw: unknown): unknown {
  if (raw === null || typeof raw !== 'object') throw parseError('Require at least one parameter');
  const p = Array.isArray(raw) ? legacyQuery(raw) : (raw as Record<string, unknown>);
  const type = p.request_type;
  if (typeof type !== 'string') throw parseError('Failed parsing args: missing field `request_type`');
  byRequestType[type] = (byRequestType[type] ?? 0) + 1;
  const known = ['view_account', 'view_access_key', 'view_access_key_list', 'call_function', 'view_code', 'view_state'];
  if (!known.includes(type)) throw parseError(`Failed parsing args: unknown variant \`${type}\``);
  const accountId = p.account_id;
  if (typeof accountId !== 'string') throw parseError('Failed parsing args: missing field `account_id`');
  const block = resolveBlock(chain, p, false);
  const unknownAccount = () =>
    handlerError(
      'UNKNOWN_ACCOUNT',
      { requested_account_id: accountId, ...blockRef(block) },
      `account ${accountId} does not exist while viewing`,
    );
  switch (type) {
    case 'view_account': {
      const v = chain.viewAccount(accountId);
      if (!v) throw unknownAccount();
      return { ...v, ...blockRef(block) };
    }
    case 'view_access_key': {
      if (typeof p.public_key !== 'string') throw parseError('Failed parsing args: missing field `public_key`');
      try {
        PublicKey.fromString(p.public_key);
      } catch (e) {
        throw parseError(`Failed parsing args: ${(e as Error).message}`);
      }
      const key = chain.viewAccessKey(accountId, p.public_key);
      if (!key)
        return { error: `access key ${p.public_key} does not exist while viewing`, logs: [], ...blockRef(block) };
      return { ...key, ...blockRef(block) };
    }
    case 'view_access_key_list':
      return { ...chain.viewAccessKeyList(accountId), ...blockRef(block) };
    case 'view_code': {
      const v = chain.viewCode(accountId);
      if (v === 'UnknownAccount') throw unknownAccount();
      if (v === 'NoContractCode') {
        throw handlerError(
          'NO_CONTRACT_CODE',
          { contract_account_id: accountId, ...blockRef(block) },
          `Contract code for contract ID #${accountId} has never been observed on the node`,
        );
      }
      return { ...v, ...blockRef(block) };
    }
    case 'view_state': {
      // the twin's contracts are models without a raw key/value trie
      if (!chain.getAccount(accountId)) throw unknownAccount();
      return { values: [], ...blockRef(block) };
    }
    case 'call_function': {
      if (typeof p.method_name !== 'string') throw parseError('Failed parsing args: missing field `method_name`');
      const b64 = p.args_base64 ?? '';
      if (typeof b64 !== 'string' || !/^[A-Za-z0-9+/]*={0,2}$/.test(b64))
        throw parseError('Failed parsing args: invalid base64 in `args_base64`');
      const out = chain.callView(accountId, p.method_name, new Uint8Array(Buffer.from(b64, 'base64')), block.height);
      if (out.ok) return { result: [...out.result], logs: out.logs, ...blockRef(block) };
      if (out.error === 'AccountDoesNotExist') throw unknownAccount();
      return { error: out.message, logs: [], ...blockRef(block) };
    }
  }
  throw parseError(`Failed parsing args: unknown variant \`${type}\``);
}
