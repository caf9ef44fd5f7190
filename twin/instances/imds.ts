/**
 * The instance metadata service (IMDSv2) as far as the AWS CLI uses it to find its region: a
 * session token (`PUT /latest/api/token`), then `placement/availability-zone` (the CLI drops the
 * zone letter) or `placement/region`. Per instance under `/imds/<instance-id>/…`; it stands for
 * http://169.254.169.254 on that instance.
 *
 * An instance whose metadata service is disabled (HttpEndpoint=disabled) gets no answer at all:
 * the connection is dropped, as an unreachable 169.254.169.254 would be.
 */
import { randomBytes } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';

export interface ImdsInstance {
  region: string;
  /** false: HttpEndpoint disabled (no answer). */
  enabled: boolean;
}

const TOKEN_PATH = '/latest/api/token';
const META = '/latest/meta-data/';

/** Answers an IMDS request (path /imds/<instance-id>/…); false when the path is not IMDS's. */
export function serveImds(
  req: IncomingMessage,
  res: ServerResponse,
  lookup: (instanceId: string) => ImdsInstance | undefined,
): boolean {
  const m = /^\/imds\/([^/]+)(\/.*)$/.exec(req.url ?? '');
  if (!m) return false;
  const inst = lookup(m[1]!);
  if (!inst?.enabled) {
    req.socket.destroy();
    return true;
  }
  const path = m[2]!;
  if (path === TOKEN_PATH) {
    if (req.method !== 'PUT' || !req.headers['x-aws-ec2-metadata-token-ttl-seconds']) {
      res.writeHead(400).end();
      return true;
    }
    res.writeHead(200, { 'content-type': 'text/plain' }).end(randomBytes(24).toString('base64'));
    return true;
  }
  if (req.method !== 'GET') {
    res.writeHead(405).end();
    return true;
  }
  if (!req.headers['x-aws-ec2-metadata-token']) {
    res.writeHead(401).end(); // IMDSv2 required, as the CDK stacks configure it
    return true;
  }
  const values: Record<string, string> = {
    'placement/region': inst.region,
    'placement/availability-zone': `${inst.region}a`,
  };
  const value = values[path.startsWith(META) ? path.slice(META.length).replace(/\/$/, '') : ''];
  if (value === undefined) res.writeHead(404).end();
  else res.writeHead(200, { 'content-type': 'text/plain' }).end(value);
  return true;
}
