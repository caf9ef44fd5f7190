/** `docker` on a twin instance: forwards argv (and the env it may need for `-e NAME`) to the twin's container runtime. */
const url = process.env.TWIN_DOCKERD_URL;
const instanceId = process.env.TWIN_INSTANCE_ID;
if (!url || !instanceId) {
  process.stderr.write('Cannot connect to the Docker daemon at unix:///var/run/docker.sock. Is the docker daemon running?\n');
  process.exit(1);
}
try {
  const res = await fetch(`${url}/docker`, {
    method: 'POST',
    body: JSON.stringify({ instanceId, argv: process.argv.slice(2), env: process.env }),
  });
  const r = (await res.json()) as { exitCode: number; stdout: string; stderr: string };
  process.stdout.write(r.stdout);
  process.stderr.write(r.stderr);
  process.exitCode = r.exitCode;
} catch {
  process.stderr.write('Cannot connect to the Docker daemon at unix:///var/run/docker.sock. Is the docker daemon running?\n');
  process.exitCode = 1;
}
