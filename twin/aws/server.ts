/**
 * One AWS endpoint on 127.0.0.1 for the unmodified AWS SDK (endpoint override / AWS_ENDPOINT_URL):
 * awsJson1_1 (Secrets Manager, SSM) dispatched on X-Amz-Target, awsQuery (CloudFormation, STS) on
 * the Action form field. SigV4 is not checked. Faults (latency, throttling, 5xx) are run-time knobs.
 */
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { randomUUID } from 'node:crypto';
import type { InstanceHost } from './instance-host.ts';
import { AwsError, queryError, queryResponse } from './protocol.ts';
import { createSecretsManager, type SecretStore } from './secrets-manager.ts';
import { createSsm, type SsmFaults } from './ssm.ts';
import { createCloudFormation, type StackDefinition } from './cloudformation.ts';

export interface AwsFaults extends SsmFaults {
  latencyMs: number;
  /** The next `count` calls matching service/operation answer the service's throttling error. */
  throttle: { service?: string; operation?: string; count: number }[];
  /** The next N calls answer HTTP 500 InternalServiceError / InternalFailure. */
  failNext5xx: number;
}

export interface AwsEndpoint {
  url: string;
  port: number;
  secrets: SecretStore;
  faults: AwsFaults;
  /** Calls per service and operation (what a benchmark counts). */
  stats(): Record<string, Record<string, number>>;
  stop(): Promise<void>;
}

const JSON_SERVICES: Record<string, string> = { secretsmanager: 'secretsmanager', AmazonSSM: 'ssm' };
const QUERY_NS: Record<string, string> = {
  '2010-05-15': 'http://cloudformation.amazonaws.com/doc/2010-05-15/',
  '2011-06-15': 'https://sts.amazonaws.com/doc/2011-06-15/',
};

export async function startAwsEndpoint(opts: {
  accountId: string;
  region: string;
  instances: InstanceHost;
  port?: number;
  stacks?: StackDefinition[];
}): Promise<AwsEndpoint> {
  const faults: AwsFaults = { latencyMs: 0, throttle: [], failNext5xx: 0, invocationDelayMs: 100 };
  const sm = createSecretsManager(opts.accountId, opts.region);
  const ssm = createSsm(opts.instances, faults);
  const cfn = createCloudFormation(opts.accountId, opts.region, opts.stacks ?? []);
  const sts: Record<string, (i: Record<string, string>) => unknown> = {
    GetCallerIdentity: () => ({ UserId: 'AROATWINEXAMPLE00000:mpc-runbook', Account: opts.accountId, Arn: `arn:aws:sts::${opts.accountId}:assumed-role/mpc-runbook/mpc-runbook` }),
  };
  const stats: Record<string, Record<string, number>> = {};

  function injected(service: string, op: string): AwsError | undefined {
    const t = faults.throttle.find((x) => x.count > 0 && (!x.service || x.service === service) && (!x.operation || x.operation === op));
    if (t) {
      t.count--;
      return new AwsError(service === 'cloudformation' || service === 'sts' ? 'Throttling' : 'ThrottlingException', 'Rate exceeded');
    }
    if (faults.failNext5xx > 0) {
      faults.failNext5xx--;
      return new AwsError(service === 'secretsmanager' ? 'InternalServiceError' : service === 'ssm' ? 'InternalServerError' : 'InternalFailure', 'We encountered an internal error. Please try again.', 500);
    }
    return undefined;
  }

  async function handle(req: IncomingMessage, res: ServerResponse) {
    let body = '';
    for await (const chunk of req) body += chunk;
    const requestId = randomUUID();
    if (faults.latencyMs > 0) await new Promise((r) => setTimeout(r, faults.latencyMs));
    const target = req.headers['x-amz-target'];
    if (typeof target === 'string') {
      const [prefix, op] = target.split('.') as [string, string];
      const service = JSON_SERVICES[prefix];
      const send = (status: number, obj: unknown) => {
        res.writeHead(status, { 'content-type': 'application/x-amz-json-1.1', 'x-amzn-requestid': requestId });
        res.end(JSON.stringify(obj));
      };
      if (!service) return send(400, { __type: 'UnknownOperationException', message: `Unknown target ${target}` });
      (stats[service] ??= {})[op] = (stats[service][op] ?? 0) + 1;
      const fault = injected(service, op);
      if (fault) return send(fault.status, { __type: fault.code, message: fault.message });
      const table = service === 'ssm' ? ssm.ops : sm.ops;
      const fn = table[op];
      if (!fn) return send(400, { __type: 'UnknownOperationException', message: `${op} is not supported by the twin` });
      try {
        return send(200, fn(body ? JSON.parse(body) : {}));
      } catch (e) {
        if (e instanceof AwsError) return send(e.status, { __type: e.code, message: e.message });
        return send(500, { __type: 'InternalServiceError', message: 'twin internal error' });
      }
    }
    const form = new URLSearchParams(body);
    const action = form.get('Action') ?? '';
    const version = form.get('Version') ?? '';
    const service = version === '2011-06-15' ? 'sts' : 'cloudformation';
    const send = (status: number, xml: string) => {
      res.writeHead(status, { 'content-type': 'text/xml', 'x-amzn-requestid': requestId });
      res.end(xml);
    };
    (stats[service] ??= {})[action] = (stats[service][action] ?? 0) + 1;
    const fault = injected(service, action);
    if (fault) return send(fault.status, queryError(fault.code, fault.message, requestId, fault.status >= 500 ? 'Receiver' : 'Sender'));
    const fn = (service === 'sts' ? sts : cfn.ops)[action];
    if (!fn) return send(400, queryError('InvalidAction', `The action ${action} is not valid for this web service.`, requestId));
    try {
      send(200, queryResponse(action, QUERY_NS[version] ?? '', fn(Object.fromEntries(form)), requestId));
    } catch (e) {
      if (e instanceof AwsError) return send(e.status, queryError(e.code, e.message, requestId));
      send(500, queryError('InternalFailure', 'twin internal error', requestId, 'Receiver'));
    }
  }

  const server = createServer((req, res) => {
    handle(req, res).catch(() => res.destroy());
  });
  await new Promise<void>((ok, fail) => {
    server.once('error', fail);
    server.listen(opts.port ?? 0, '127.0.0.1', ok);
  });
  const port = (server.address() as AddressInfo).port;
  return {
    url: `http://127.0.0.1:${port}`,
    port,
    secrets: sm,
    faults,
    stats: () => structuredClone(stats),
    stop: () => new Promise<void>((ok) => {
      server.closeAllConnections();
      server.close(() => ok());
    }),
  };
}
