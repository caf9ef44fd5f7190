/**
 * A recording HTTP proxy the bench puts between the runbook and the twin's endpoints (NEAR RPC,
 * AWS): every call the runbook makes, with its start and end (epoch ms), service, operation and,
 * for SSM, the command it belongs to. It sees only the runbook's calls (not the nodes' or the
 * instances'), so its counts are the runbook's. One localhost hop is added per call.
 */
import { createServer, request, Agent, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

export interface TracedCall {
  service: string;
  op: string;
  start: number;
  end: number;
  status: number;
  /** SSM: the command a SendCommand created or a status/output read asked about. */
  commandId?: string;
  /** SSM SendCommand: its Comment (which script). */
  comment?: string;
  /** SSM ListCommandInvocations: when the listed invocations' scripts started and ended, as SSM reports (epoch ms). */
  ran?: { start: number; end?: number };
  /** SSM ListCommandInvocations: how many listed outputs were cut at 2,500 characters (each needs its own read). */
  cutOutputs?: number;
}

export interface TraceProxy {
  url: string;
  calls: TracedCall[];
  stop(): Promise<void>;
}

const now = () => performance.timeOrigin + performance.now();

function parseJson(text: string): Record<string, unknown> | undefined {
  try {
    const v = JSON.parse(text);
    return v && typeof v === 'object' ? (v as Record<string, unknown>) : undefined;
  } catch {
    return undefined;
  }
}

/** What a request is, from its headers and body: AWS JSON target, AWS query Action, or a JSON-RPC method. */
function describeRequest(req: IncomingMessage, body: string): Omit<TracedCall, 'start' | 'end' | 'status'> {
  const target = req.headers['x-amz-target'];
  if (typeof target === 'string') {
    const [svc = '', op = ''] = target.split('.');
    const service = svc === 'AmazonSSM' ? 'ssm' : svc.toLowerCase();
    const input = parseJson(body) ?? {};
    return {
      service,
      op,
      ...(typeof input.CommandId === 'string' ? { commandId: input.CommandId } : {}),
      ...(op === 'SendCommand' && typeof input.Comment === 'string' ? { comment: input.Comment } : {}),
    };
  }
  const form = new URLSearchParams(body);
  if (form.get('Action')) {
    const version = form.get('Version');
    return { service: version === '2011-06-15' ? 'sts' : 'cloudformation', op: form.get('Action')! };
  }
  const rpc = parseJson(body);
  const method = typeof rpc?.method === 'string' ? rpc.method : 'unknown';
  const params = (rpc?.params ?? {}) as Record<string, unknown>;
  const kind = typeof params.request_type === 'string' ? params.request_type : '';
  const fn = typeof params.method_name === 'string' ? `:${params.method_name}` : '';
  return { service: 'rpc', op: kind ? `${method}/${kind}${fn}` : method };
}

type Plugin = { ResponseStartDateTime?: number; ResponseFinishDateTime?: number; Output?: string };

/** The agent cuts a plugin's Output at 2,500 characters, with a marker (helpers/aws/ssm.ts splitPluginOutput). */
const cut = (output = '') => output.length >= 2_500 || /\n---(Output|Error) truncated---/.test(output);

/** From an SSM answer: the command id a SendCommand created; when listed invocations ran. */
function noteAnswer(call: Omit<TracedCall, 'start' | 'end' | 'status'>, text: string) {
  if (call.service !== 'ssm') return;
  const answer = parseJson(text);
  if (call.op === 'SendCommand') {
    const id = (answer?.Command as { CommandId?: string } | undefined)?.CommandId;
    if (id) call.commandId = id;
  }
  if (call.op === 'ListCommandInvocations') {
    const list = (answer?.CommandInvocations ?? []) as { CommandPlugins?: Plugin[] }[];
    const plugins = list.map((i) => i.CommandPlugins?.[0] ?? {});
    const starts = plugins.map((p) => p.ResponseStartDateTime).filter((x) => x !== undefined);
    const ends = plugins.map((p) => p.ResponseFinishDateTime).filter((x) => x !== undefined);
    call.cutOutputs = plugins.filter((p) => cut(p.Output)).length;
    if (starts.length)
      call.ran = {
        start: Math.min(...starts) * 1000,
        ...(ends.length === plugins.length ? { end: Math.max(...ends) * 1000 } : {}),
      };
  }
}

/** A proxy in front of `target` (http://127.0.0.1:port) that records every call into `calls`. */
export async function startTraceProxy(target: string, calls: TracedCall[] = []): Promise<TraceProxy> {
  const to = new URL(target);
  const agent = new Agent({ keepAlive: true });
  const server = createServer((req: IncomingMessage, res: ServerResponse) => {
    const start = now();
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const body = Buffer.concat(chunks);
      const call = describeRequest(req, body.toString('utf8'));
      const up = request(
        { host: to.hostname, port: to.port, path: req.url, method: req.method, headers: req.headers, agent },
        (answer) => {
          const out: Buffer[] = [];
          answer.on('data', (c: Buffer) => out.push(c));
          answer.on('end', () => {
            const text = Buffer.concat(out);
            noteAnswer(call, text.toString('utf8'));
            calls.push({ ...call, start, end: now(), status: answer.statusCode ?? 0 });
            res.writeHead(answer.statusCode ?? 502, answer.headers);
            res.end(text);
          });
        },
      );
      up.on('error', () => {
        calls.push({ ...call, start, end: now(), status: 0 });
        res.destroy();
      });
      up.end(body);
    });
  });
  await new Promise<void>((ok) => server.listen(0, '127.0.0.1', ok));
  const port = (server.address() as AddressInfo).port;
  return {
    url: `http://127.0.0.1:${port}`,
    calls,
    stop: () =>
      new Promise<void>((ok) => {
        agent.destroy();
        server.closeAllConnections();
        server.close(() => ok());
      }),
  };
}
