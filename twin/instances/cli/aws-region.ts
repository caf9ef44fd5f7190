/**
 * Where the `aws` stand-in finds its region after --region and the environment, as the AWS CLI v2
 * does: the profile's `region` in the config file, then the instance metadata service.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';

/** The profile's region from AWS_CONFIG_FILE or ~/.aws/config; names a profile that was asked for but is not there. */
export function regionFromConfig(
  env: NodeJS.ProcessEnv,
  profile: string | undefined,
): { region?: string; missingProfile?: string } {
  const file = env.AWS_CONFIG_FILE ?? (env.HOME ? join(env.HOME, '.aws', 'config') : undefined);
  let text = '';
  try {
    if (file) text = readFileSync(file, 'utf8');
  } catch {
    /* no config file */
  }
  const sections = new Map<string, Record<string, string>>();
  let current: Record<string, string> | undefined;
  for (const raw of text.split('\n')) {
    const line = raw.replace(/[#;].*$/, '').trim();
    const header = /^\[\s*(.+?)\s*\]$/.exec(line);
    if (header) {
      const name = header[1]!.replace(/^profile\s+/, '');
      current = sections.get(name) ?? {};
      sections.set(name, current);
    } else if (current && line.includes('=')) {
      const eq = line.indexOf('=');
      current[line.slice(0, eq).trim()] = line.slice(eq + 1).trim();
    }
  }
  const name = profile ?? 'default';
  const section = sections.get(name);
  if (!section && profile !== undefined && profile !== 'default') return { missingProfile: profile };
  return section?.region ? { region: section.region } : {};
}

/**
 * IMDSv2: a session token, then placement/availability-zone without its zone letter (botocore's
 * InstanceMetadataRegionFetcher). One attempt, 1 s timeout (metadata_service_timeout); any failure
 * means "no region from IMDS". The twin sets AWS_EC2_METADATA_SERVICE_ENDPOINT on every instance;
 * without it the stand-in does not look (it never reaches for 169.254.169.254).
 */
export async function regionFromImds(env: NodeJS.ProcessEnv): Promise<string | undefined> {
  if ((env.AWS_EC2_METADATA_DISABLED ?? '').toLowerCase() === 'true') return undefined;
  const base = env.AWS_EC2_METADATA_SERVICE_ENDPOINT?.replace(/\/+$/, '');
  if (!base) return undefined;
  try {
    const token = await fetch(`${base}/latest/api/token`, {
      method: 'PUT',
      headers: { 'x-aws-ec2-metadata-token-ttl-seconds': '21600' },
      signal: AbortSignal.timeout(1000),
    });
    if (!token.ok) return undefined;
    const az = await fetch(`${base}/latest/meta-data/placement/availability-zone/`, {
      headers: { 'x-aws-ec2-metadata-token': await token.text() },
      signal: AbortSignal.timeout(1000),
    });
    if (!az.ok) return undefined;
    const zone = (await az.text()).trim();
    return zone ? zone.slice(0, -1) : undefined;
  } catch {
    return undefined;
  }
}
