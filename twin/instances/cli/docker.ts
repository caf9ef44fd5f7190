/**
 * `docker` on a twin instance: forwards its argv to the twin's container runtime over the instance's
 * "docker socket" (TWIN_DOCKERD_URL, an HTTP endpoint on 127.0.0.1) and writes the answer back in
 * the order it was produced (so `docker logs x 2>&1` keeps stdout/stderr interleaving).
 * Only the variables named by a bare `-e NAME` are sent along (docker takes their value from the caller).
 */
import { writeAll } from './write-all.ts';

const NO_DAEMON = 'Cannot connect to the Docker daemon at unix:///var/run/docker.sock. Is the docker daemon running?\n';
const url = process.env.TWIN_DOCKERD_URL;
const instanceId = process.env.TWIN_INSTANCE_ID;
const argv = process.argv.slice(2);

if (!url || !instanceId) {
  writeAll(2, NO_DAEMON);
  process.exit(1);
}

const env: Record<string, string> = {};
argv.forEach((a, i) => {
  const name = a === '-e' || a === '--env' ? argv[i + 1] : a.startsWith('--env=') ? a.slice(6) : undefined;
  if (name && !name.includes('=') && process.env[name] !== undefined) env[name] = process.env[name]!;
});

let result: { exitCode: number; chunks: { stream: 'stdout' | 'stderr'; text: string }[] };
try {
  const res = await fetch(`${url}/docker`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ instanceId, argv, env }),
  });
  result = (await res.json()) as typeof result;
} catch {
  writeAll(2, NO_DAEMON);
  process.exit(1);
}
for (const c of result.chunks) writeAll(c.stream === 'stdout' ? 1 : 2, c.text);
process.exit(result.exitCode);
