/** Twin-level observations for the network and P2P tests: what an operator sees on each instance. */
import type { Twin } from '../../twin/start.ts';
import type { CommandResult } from '../../twin/aws/instance-host.ts';

/** Run shell commands on an instance the way SSM Run Command does (AWS-RunShellScript). */
export function sh(twin: Twin, instanceId: string, commands: string[], timeoutSeconds = 60): Promise<CommandResult> {
  return twin.fleet.run(instanceId, commands, { executionTimeoutSeconds: timeoutSeconds }).done;
}

/** `docker logs mpc-node` on a node's instance (stdout and stderr, as `2>&1` gives them). */
export async function nodeLogs(twin: Twin, index: number): Promise<string> {
  const r = await twin.fleet.docker(twin.nodes[index]!.instanceId, ['logs', 'mpc-node']);
  return r.chunks.map((c) => c.text).join('');
}

export const count = (text: string, needle: string) => text.split(needle).length - 1;

export function contractState(twin: Twin): any {
  const out = twin.contract.view('state', {}, { contractId: twin.contractId, blockHeight: twin.chain.head.height });
  return out.ok ? out.value : undefined;
}

export const stateName = (twin: Twin) => Object.keys(contractState(twin) ?? {})[0];

/** A view call through the operator's RPC (what near-api-js or the runbook would get). */
export async function rpcView(twin: Twin, method: string, args: Record<string, unknown>): Promise<unknown> {
  const res = await fetch(twin.rpcUrl, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({
      jsonrpc: '2.0',
      id: 1,
      method: 'query',
      params: {
        request_type: 'call_function',
        finality: 'optimistic',
        account_id: twin.contractId,
        method_name: method,
        args_base64: Buffer.from(JSON.stringify(args)).toString('base64'),
      },
    }),
  });
  const body = (await res.json()) as { result?: { result: number[] }; error?: unknown };
  if (!body.result) throw new Error(`view ${method} failed: ${JSON.stringify(body.error)}`);
  return JSON.parse(Buffer.from(body.result.result).toString('utf8'));
}

/** One Prometheus sample from a node's /metrics, as curl on the node's own instance reads it. */
export async function metric(twin: Twin, index: number, series: string): Promise<number | undefined> {
  const node = twin.nodes[index]!;
  const r = await sh(twin, node.instanceId, [`curl -s --max-time 5 http://${node.privateIp}:8080/metrics`]);
  const line = r.stdout.split('\n').find((l) => l.startsWith(`${series} `));
  return line ? Number(line.slice(series.length + 1)) : undefined;
}

/**
 * The runbook's P2P reachability probe, run on instance `fromId`:
 * `curl -s -o /dev/null --connect-timeout N -w '%{time_connect}' http://<host>:<port>/`.
 */
export async function probe(twin: Twin, fromId: string, host: string, port: number, connectTimeout = 2) {
  const r = await sh(twin, fromId, [
    `curl -s -o /dev/null --connect-timeout ${connectTimeout} -w '%{time_connect}' http://${host}:${port}/`,
    'echo " exit=$?"',
  ]);
  const m = /^(\S*) exit=(\d+)/.exec(r.stdout.trim());
  return { timeConnect: Number(m?.[1] ?? Number.NaN), exit: Number(m?.[2] ?? -1), stdout: r.stdout, stderr: r.stderr };
}

/** The NEAR base's probe of a node's web UI (curl -w http_code, as the runbook's SSM script does). */
export async function nearBaseHealth(twin: Twin, index: number, maxTime = 2) {
  const ip = twin.nodes[index]!.privateIp;
  const r = await sh(twin, twin.nearBase.instanceId, [
    `curl -sS -o /dev/null -w '%{http_code}' --max-time ${maxTime} http://${ip}:8080/health`,
    'echo " exit=$?"',
  ]);
  const m = /^(\d{3}) exit=(\d+)/.exec(r.stdout.trim());
  return { httpCode: m?.[1], exit: Number(m?.[2] ?? -1), stderr: r.stderr };
}
