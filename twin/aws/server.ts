/**
 * One AWS endpoint on 127.0.0.1 for the unmodified AWS SDK (endpoint override / AWS_ENDPOINT_URL):
 * awsJson1_1 (Secrets Manager, SSM) dispatched on X-Amz-Target, awsQuery (CloudFormation, STS) on
 * the Action form field. SigV4 is not checked. Faults (latency, throttling, 5xx, hanging SSM
 * commands, SSM delivery/report delays, a named latency profile such as `aws`) are run-time knobs on
 * `faults`, settable from scenario data (`faults.aws`) with `configureAwsFaults`.
 *
 * Nothing here logs; error bodies never carry secret values.
 */
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { randomUUID } from 'node:crypto';
import { z } from 'zod';
import type { InstanceHost } from './instance-host.ts';
import { AwsError, queryError, queryResponse } from './protocol.ts';
import { createSecretsManager, type SecretStore } from './secrets-manager.ts';
import { createSsm, type SsmFaults } from './ssm.ts';
import { createCloudFormation, type StackDefinition } from './cloudformation.ts';

export type { InstanceHost, InstanceInfo, RunningCommand, CommandResult } from './instance-host.ts';
export type { SecretStore } from './secrets-manager.ts';
export type { StackDefinition, StackOutput } from './cloudformation.ts';
export { cdkOutputKey } from './cloudformation.ts';

/** Service keys used by `stats()` and by throttle rules. */
export type AwsService = 'secretsmanager' | 'ssm' | 'cloudformation' | 'sts';

export interface ThrottleRule {
  /** `secretsmanager` | `ssm` | `cloudformation` | `sts`; any service when absent. */
  service?: string;
  /** Operation name, e.g. `GetSecretValue`; any operation when absent. */
  operation?: string;
  /** How many more matching calls answer the throttling error (decremented as they do). */
  count: number;
  /** Only calls whose input has these top-level values (e.g. `{ StackName: 'x' }`). */
  input?: Record<string, string>;
}

/** Calls IAM denies: the caller's role lacks the permission (AccessDenied / AccessDeniedException). */
export interface DenyRule {
  service?: string;
  operation?: string;
  /** Only calls whose input has these top-level values (e.g. `{ StackName: 'x' }`). */
  input?: Record<string, string>;
}

export interface AwsFaults extends SsmFaults {
  /** Added to every call (ms). */
  latencyMs: number;
  /** The next `count` calls matching service/operation answer the service's throttling error. */
  throttle: ThrottleRule[];
  /** Fraction (0..1) of calls answering HTTP 500; deterministic (an accumulator, no randomness). */
  error5xxRate: number;
  /** The next N calls answer HTTP 500 (InternalServiceError / InternalServerError / InternalFailure). */
  failNext5xx: number;
  /** Calls answered as IAM denies them, while the rule stands. */
  deny?: DenyRule[];
}

/** Fault settings as scenario data may carry them (every field optional). */
/**
 * Named latency profiles: every field a profile sets can still be given beside it (it wins).
 *
 * `aws` stands for AWS seen from inside its region. Per call: 30 ms, the order of a keep-alive HTTPS
 * request to a regional endpoint (an estimate; AWS publishes no per-API latency). Run Command: the
 * invocation is invisible for 500 ms (aws-facts §4.4: InvocationDoesNotExist right after SendCommand,
 * "about 0.5–1 s is enough"); the agent gets the command pushed over its control channel (MGS) and
 * starts it 300 ms after the send, and its reply makes the outcome visible 400 ms after the script
 * ends — about a second from SendCommand to a finished invocation for a short script (estimates of
 * the same order, not measurements).
 */
export const AWS_LATENCY_PROFILES = {
  /** The twin's own timing: nothing added; an invocation is invisible for the first 100 ms after the send. */
  twin: {
    latencyMs: 0,
    invocationHiddenPolls: 0,
    invocationDelayMs: 100,
    ssmDeliveryDelayMs: 0,
    ssmReportDelayMs: 0,
  },
  /** 30 ms a call; an invocation invisible for 500 ms, started after 300 ms, reported 400 ms after it ends. */
  aws: {
    latencyMs: 30,
    invocationHiddenPolls: 0,
    invocationDelayMs: 500,
    ssmDeliveryDelayMs: 300,
    ssmReportDelayMs: 400,
  },
} as const satisfies Record<string, Partial<AwsFaults>>;
export type AwsLatencyProfile = keyof typeof AWS_LATENCY_PROFILES;

export const AwsFaultsInputSchema = z.object({
  /** A named latency profile (applied first; the fields below override it). */
  profile: z.enum(['twin', 'aws']).optional(),
  latencyMs: z.number().min(0).optional(),
  throttle: z
    .array(
      z.object({
        service: z.string().optional(),
        operation: z.string().optional(),
        count: z.number().int().min(0),
        input: z.record(z.string(), z.string()).optional(),
      }),
    )
    .optional(),
  deny: z
    .array(
      z.object({
        service: z.string().optional(),
        operation: z.string().optional(),
        input: z.record(z.string(), z.string()).optional(),
      }),
    )
    .optional(),
  error5xxRate: z.number().min(0).max(1).optional(),
  failNext5xx: z.number().int().min(0).optional(),
  ssmHang: z.object({ commandPattern: z.string().optional() }).nullable().optional(),
  invocationHiddenPolls: z.number().int().min(0).optional(),
  invocationDelayMs: z.number().min(0).optional(),
  ssmTimeScale: z.number().positive().optional(),
  ssmDeliveryDelayMs: z.number().min(0).optional(),
  ssmReportDelayMs: z.number().min(0).optional(),
  ssmDropOffline: z
    .object({ instanceIds: z.array(z.string()), commandPattern: z.string().optional() })
    .nullable()
    .optional(),
});
export type AwsFaultsInput = z.infer<typeof AwsFaultsInputSchema>;

export function defaultAwsFaults(): AwsFaults {
  return {
    latencyMs: 0,
    throttle: [],
    error5xxRate: 0,
    failNext5xx: 0,
    invocationHiddenPolls: 0,
    invocationDelayMs: 100,
    ssmTimeScale: 1,
    ssmDeliveryDelayMs: 0,
    ssmReportDelayMs: 0,
  };
}

/** Applies scenario fault data to a live `faults` object (copies; the input is not mutated later). */
export function configureAwsFaults(faults: AwsFaults, input: unknown): void {
  const f = AwsFaultsInputSchema.parse(input ?? {});
  if (f.profile !== undefined) Object.assign(faults, AWS_LATENCY_PROFILES[f.profile]);
  if (f.latencyMs !== undefined) faults.latencyMs = f.latencyMs;
  if (f.throttle !== undefined) faults.throttle = f.throttle.map((t) => ({ ...t }));
  if (f.deny !== undefined) faults.deny = f.deny.map((d) => ({ ...d }));
  if (f.error5xxRate !== undefined) faults.error5xxRate = f.error5xxRate;
  if (f.failNext5xx !== undefined) faults.failNext5xx = f.failNext5xx;
  if (f.ssmHang !== undefined) faults.ssmHang = f.ssmHang === null ? undefined : { ...f.ssmHang };
  if (f.invocationHiddenPolls !== undefined) faults.invocationHiddenPolls = f.invocationHiddenPolls;
  if (f.invocationDelayMs !== undefined) faults.invocationDelayMs = f.invocationDelayMs;
  if (f.ssmTimeScale !== undefined) faults.ssmTimeScale = f.ssmTimeScale;
  if (f.ssmDeliveryDelayMs !== undefined) faults.ssmDeliveryDelayMs = f.ssmDeliveryDelayMs;
  if (f.ssmReportDelayMs !== undefined) faults.ssmReportDelayMs = f.ssmReportDelayMs;
  if (f.ssmDropOffline !== undefined)
    faults.ssmDropOffline =
      f.ssmDropOffline === null ? undefined : { ...f.ssmDropOffline, instanceIds: [...f.ssmDropOffline.instanceIds] };
}

export interface AwsEndpointOptions {
  accountId: string;
  region: string;
  instances: InstanceHost;
  /** 0/undefined = a free port. */
  port?: number;
  stacks?: StackDefinition[];
  /** Who GetCallerIdentity says the caller is (defaults: an assumed role `mpc-runbook`). */
  identity?: { arn?: string; userId?: string };
  faults?: AwsFaultsInput;
}

export interface AwsEndpoint {
  url: string;
  port: number;
  /** Direct setup access (not over the wire): create/put/current/versions/… */
  secrets: SecretStore;
  /** The stacks DescribeStacks answers from; a live array (push/edit/splice at run time). */
  stacks: StackDefinition[];
  faults: AwsFaults;
  /** Every SSM invocation's state (for tests and the twin's own checks). */
  ssmInvocations(): { commandId: string; instanceId: string; status: string; details: string; responseCode: number }[];
  /** Calls per service and operation, including the ones answered with an injected fault. */
  stats(): Record<string, Record<string, number>>;
  resetStats(): void;
  stop(): Promise<void>;
}

const JSON_SERVICES: Record<string, AwsService> = { secretsmanager: 'secretsmanager', AmazonSSM: 'ssm' };
const QUERY_SERVICES: Record<string, { service: AwsService; xmlns: string }> = {
  '2010-05-15': { service: 'cloudformation', xmlns: 'http://cloudformation.amazonaws.com/doc/2010-05-15/' },
  '2011-06-15': { service: 'sts', xmlns: 'https://sts.amazonaws.com/doc/2011-06-15/' },
};
const normaliseService = (s: string) => s.toLowerCase().replace(/[^a-z]/g, '');

/** A fault rule matches a call by service, operation and (optionally) top-level input values. */
const ruleMatches = (
  x: { service?: string; operation?: string; input?: Record<string, string> },
  service: AwsService,
  op: string,
  input: Record<string, unknown>,
) =>
  (!x.service || normaliseService(x.service) === service) &&
  (!x.operation || x.operation === op) &&
  Object.entries(x.input ?? {}).every(([k, v]) => input[k] === v);

/** IAM's answer to a call the role may not make (query services: AccessDenied, HTTP 403), naming the resource. */
function accessDenied(
  who: { arn: string; region: string; accountId: string },
  service: AwsService,
  op: string,
  input: Record<string, unknown>,
): AwsError {
  const action = `${service}:${op}`;
  const arn = (kind: string, name: unknown) =>
    typeof name === 'string' && !name.startsWith('arn:')
      ? `arn:aws:${service}:${who.region}:${who.accountId}:${kind}${name}`
      : typeof name === 'string'
        ? name
        : undefined;
  const resource =
    service === 'cloudformation'
      ? arn('stack/', input.StackName && `${input.StackName}/*`)
      : service === 'secretsmanager'
        ? arn('secret:', input.SecretId)
        : undefined;
  const message =
    `User: ${who.arn} is not authorized to perform: ${action}${resource ? ` on resource: ${resource}` : ''} ` +
    `because no identity-based policy allows the ${action} action`;
  return service === 'cloudformation' || service === 'sts'
    ? new AwsError('AccessDenied', message, 403)
    : new AwsError('AccessDeniedException', message, 400);
}

/** The faults an AWS call may meet before it is served: a denial, a throttle, a 5xx. */
function faultInjector(faults: AwsFaults, who: { arn: string; region: string; accountId: string }) {
  let error5xxAcc = 0;
  const serverError = (service: AwsService) => {
    const code =
      service === 'secretsmanager'
        ? 'InternalServiceError'
        : service === 'ssm'
          ? 'InternalServerError'
          : 'InternalFailure';
    const msg =
      service === 'cloudformation' || service === 'sts'
        ? 'The request processing has failed because of an unknown error, exception or failure.'
        : 'We encountered an internal error. Please try again.';
    return new AwsError(code, msg, 500);
  };
  return (service: AwsService, op: string, input: Record<string, unknown> = {}): AwsError | undefined => {
    if (faults.deny?.some((d) => ruleMatches(d, service, op, input))) return accessDenied(who, service, op, input);
    const t = faults.throttle.find((x) => x.count > 0 && ruleMatches(x, service, op, input));
    if (t) {
      t.count--;
      const code = service === 'cloudformation' || service === 'sts' ? 'Throttling' : 'ThrottlingException';
      return new AwsError(code, 'Rate exceeded');
    }
    if (faults.failNext5xx > 0) {
      faults.failNext5xx--;
      return serverError(service);
    }
    if (faults.error5xxRate > 0) {
      error5xxAcc += Math.min(1, faults.error5xxRate);
      if (error5xxAcc >= 1 - 1e-9) {
        error5xxAcc -= 1;
        return serverError(service);
      }
    }
    return undefined;
  };
}

type Ops = Record<string, (i: Record<string, string>) => unknown>;
interface Dispatch {
  count: (service: string, op: string) => void;
  injected: ReturnType<typeof faultInjector>;
  jsonOps: (service: AwsService) => Record<string, (i: Record<string, unknown>) => unknown>;
  queryOps: (service: AwsService) => Ops;
}

const NOT_A_STRUCTURE = 'Start of structure or map found where not expected.';

/** awsJson1_1 (Secrets Manager, SSM): X-Amz-Target names the operation, the body is its JSON input. */
function serveJson(d: Dispatch, target: string, body: string, res: ServerResponse, requestId: string) {
  const send = (status: number, obj: unknown) => {
    if (res.destroyed) return;
    res.writeHead(status, { 'content-type': 'application/x-amz-json-1.1', 'x-amzn-requestid': requestId });
    res.end(JSON.stringify(obj));
  };
  const sendError = (e: AwsError) => send(e.status, { __type: e.code, message: e.message });
  const dot = target.indexOf('.');
  const service = JSON_SERVICES[target.slice(0, dot)];
  const op = target.slice(dot + 1);
  if (dot < 0 || !service) return sendError(new AwsError('UnknownOperationException', ''));
  d.count(service, op);
  let input: unknown;
  try {
    input = body ? JSON.parse(body) : {};
  } catch {
    input = undefined;
  }
  const fault = d.injected(service, op, (input ?? {}) as Record<string, unknown>);
  if (fault) return sendError(fault);
  const fn = d.jsonOps(service)[op];
  if (!fn) return sendError(new AwsError('UnknownOperationException', ''));
  if (typeof input !== 'object' || input === null || Array.isArray(input)) {
    return sendError(new AwsError('SerializationException', NOT_A_STRUCTURE));
  }
  try {
    return send(200, fn(input as Record<string, unknown>));
  } catch (e) {
    if (e instanceof AwsError) return sendError(e);
    // Never echo an internal message: it could carry request data.
    const code = service === 'ssm' ? 'InternalServerError' : 'InternalServiceError';
    return sendError(new AwsError(code, 'An internal error occurred in the twin.', 500));
  }
}

/** awsQuery (CloudFormation, STS): a form body with Action and Version; XML answers. */
function serveQuery(d: Dispatch, body: string, res: ServerResponse, requestId: string) {
  const form = new URLSearchParams(body);
  const action = form.get('Action') ?? '';
  const q = QUERY_SERVICES[form.get('Version') ?? ''];
  const send = (status: number, xml: string) => {
    if (res.destroyed) return;
    res.writeHead(status, { 'content-type': 'text/xml', 'x-amzn-requestid': requestId });
    res.end(xml);
  };
  const sendError = (e: AwsError, xmlns = '') =>
    send(e.status, queryError(e.code, e.message, requestId, e.status >= 500 ? 'Receiver' : 'Sender', xmlns));
  if (!q) {
    const version = form.get('Version') ?? '(none)';
    return sendError(new AwsError('InvalidAction', `Could not find operation ${action} for version ${version}`));
  }
  d.count(q.service, action);
  const fault = d.injected(q.service, action, Object.fromEntries(form));
  if (fault) return sendError(fault, q.xmlns);
  const fn = d.queryOps(q.service)[action];
  if (!fn) {
    return sendError(new AwsError('InvalidAction', `The action ${action} is not valid for this web service.`), q.xmlns);
  }
  try {
    send(200, queryResponse(action, q.xmlns, fn(Object.fromEntries(form)), requestId));
  } catch (e) {
    if (e instanceof AwsError) return sendError(e, q.xmlns);
    const message = 'The request processing has failed because of an unknown error, exception or failure.';
    sendError(new AwsError('InternalFailure', message, 500), q.xmlns);
  }
}

async function listen(server: ReturnType<typeof createServer>, port: number | undefined): Promise<number> {
  await new Promise<void>((ok, fail) => {
    server.once('error', fail);
    server.listen(port ?? 0, '127.0.0.1', () => {
      server.off('error', fail);
      ok();
    });
  });
  return (server.address() as AddressInfo).port;
}

export async function startAwsEndpoint(opts: AwsEndpointOptions): Promise<AwsEndpoint> {
  const faults = defaultAwsFaults();
  if (opts.faults) configureAwsFaults(faults, opts.faults);
  const sm = createSecretsManager(opts.accountId, opts.region);
  const ssm = createSsm(opts.instances, faults);
  const stacks = opts.stacks ?? [];
  const cfn = createCloudFormation(opts.accountId, opts.region, stacks);
  const identity = {
    UserId: opts.identity?.userId ?? 'AROATWINEXAMPLE0000000:mpc-runbook',
    Account: opts.accountId,
    Arn: opts.identity?.arn ?? `arn:aws:sts::${opts.accountId}:assumed-role/mpc-runbook/mpc-runbook`,
  };
  const sts: Ops = { GetCallerIdentity: () => ({ ...identity }) };
  let stats: Record<string, Record<string, number>> = {};
  const dispatch: Dispatch = {
    count: (service, op) => {
      stats[service] ??= {};
      stats[service][op] = (stats[service][op] ?? 0) + 1;
    },
    injected: faultInjector(faults, { arn: identity.Arn, region: opts.region, accountId: opts.accountId }),
    jsonOps: (service) => (service === 'ssm' ? ssm.ops : sm.ops),
    queryOps: (service) => (service === 'sts' ? sts : cfn.ops),
  };

  async function handle(req: IncomingMessage, res: ServerResponse) {
    const chunks: Buffer[] = [];
    for await (const chunk of req) chunks.push(chunk as Buffer);
    const body = Buffer.concat(chunks).toString('utf8');
    const requestId = randomUUID();
    if (faults.latencyMs > 0) await new Promise((r) => setTimeout(r, faults.latencyMs));
    const target = req.headers['x-amz-target'];
    if (typeof target === 'string') return serveJson(dispatch, target, body, res, requestId);
    return serveQuery(dispatch, body, res, requestId);
  }

  const server = createServer((req, res) => {
    handle(req, res).catch(() => res.destroy());
  });
  const port = await listen(server, opts.port);
  let stopping: Promise<void> | undefined;
  return {
    url: `http://127.0.0.1:${port}`,
    port,
    secrets: sm,
    stacks,
    faults,
    ssmInvocations: () => ssm.invocations(),
    stats: () => structuredClone(stats),
    resetStats: () => {
      stats = {};
    },
    stop: () => {
      stopping ??= new Promise<void>((ok) => {
        ssm.stop();
        server.closeAllConnections();
        server.close(() => ok());
      });
      return stopping;
    },
  };
}
