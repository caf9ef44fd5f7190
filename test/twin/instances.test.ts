/**
 * Instance sandboxes and the container runtime, driven the way SSM drives them: shell commands run
 * through `fleet.run` (InstanceHost), with the `docker` stand-in on PATH talking to the runtime.
 * The container image is a tiny dummy program (not the MPC node).
 */
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { dummyFleet, eventually, IMAGE } from './instances-support.ts';

type Env = Awaited<ReturnType<typeof dummyFleet>>;

const RUN = [
  'docker run -d --name mpc-node --restart=always --net=host -v "$MPC_DATA_DIR:/data" -e MPC_HOME_DIR=/data -e FOO=bar',
  `  --entrypoint /app/mpc-node ${IMAGE} start local`,
].join(' ');

describe('fleet.run: commands on an instance sandbox', () => {
  let env: Env;
  beforeAll(async () => {
    env = await dummyFleet({ instances: 2 });
  });
  afterAll(async () => env?.stop());

  test('exit codes propagate; no set -e / pipefail is added', async () => {
    const id = env.ids[0]!;
    expect((await env.sh(id, ['echo hi', 'exit 3'])).exitCode).toBe(3);
    const r = await env.sh(id, ['false', 'echo after']);
    expect(r).toMatchObject({ exitCode: 0, stdout: 'after\n', timedOut: false });
    expect((await env.sh(id, ['false | true'])).exitCode).toBe(0);
    expect((await env.sh(id, ['echo oops >&2', 'ls /definitely/not/here'])).stderr).toMatch(/oops\n.*definitely/s);
  });

  test('MPC_DATA_DIR, HOME, PATH (docker, aws and curl stand-ins first; system jq), the agent’s region', async () => {
    const id = env.ids[0]!;
    const inst = env.fleet.instance(id)!;
    const r = await env.sh(id, [
      'echo "$MPC_DATA_DIR"',
      'echo "$HOME"',
      'command -v docker',
      'command -v aws',
      'command -v jq',
      'command -v curl',
      'echo "region=${AWS_REGION-unset} default=${AWS_DEFAULT_REGION-unset}" \\',
      '  "ssm=$AWS_SSM_REGION_NAME $AWS_SSM_INSTANCE_ID"',
    ]);
    expect(r.exitCode, r.stderr).toBe(0);
    expect(r.stdout.split('\n').slice(0, 4)).toEqual([
      inst.dataDir,
      inst.homeDir,
      join(inst.binDir, 'docker'),
      join(inst.binDir, 'aws'),
    ]);
    expect(r.stdout).toContain(`region=unset default=unset ssm=us-east-1 ${id}`); // as the SSM agent sets it
    expect(r.stdout.split('\n')[4]).not.toBe(join(inst.binDir, 'jq'));
    expect(r.stdout.split('\n')[5]).toBe(join(inst.binDir, 'curl')); // asks the security groups, then runs the system's
    // Each instance has its own data dir.
    const other = await env.sh(env.ids[1]!, ['echo "$MPC_DATA_DIR"']);
    expect(other.stdout.trim()).toBe(env.fleet.instance(env.ids[1]!)!.dataDir);
    expect(other.stdout.trim()).not.toBe(inst.dataDir);
  });

  test('workingDirectory: /data maps to the sandbox data dir; a missing one fails', async () => {
    const id = env.ids[0]!;
    expect((await env.sh(id, ['pwd'], 10, '/data')).stdout.trim()).toBe(env.fleet.instance(id)!.dataDir);
    const missing = await env.sh(id, ['pwd'], 10, '/no/such/dir');
    expect(missing.exitCode).not.toBe(0);
  });

  test('the execution timeout kills the whole process group and reports timedOut', async () => {
    const id = env.ids[0]!;
    const pidFile = join(env.fleet.instance(id)!.homeDir, 'bg.pid');
    const r = await env.sh(id, ['echo started', `sleep 300 & echo $! > ${pidFile}`, 'wait', 'echo never'], 1);
    expect(r.timedOut).toBe(true);
    expect(r.exitCode).toBe(137);
    expect(r.stdout).toBe('started\n');
    const bg = Number(readFileSync(pidFile, 'utf8'));
    const alive = await eventually(
      async () => {
        try {
          process.kill(bg, 0);
          return undefined;
        } catch {
          return false;
        }
      },
      'the background sleep to be killed',
      50,
    );
    expect(alive).toBe(false);
  });

  test('cancel() stops a running command', async () => {
    const running = env.fleet.run(env.ids[0]!, ['sleep 300'], { executionTimeoutSeconds: 600 });
    running.cancel();
    const r = await running.done;
    expect(r.exitCode).toBe(137);
    expect(r.timedOut).toBe(false);
  });

  test('describe() and setPing', () => {
    const id = env.ids[0]!;
    const inst = env.fleet.instance(id)!;
    const d = env.fleet.describe().find((x) => x.instanceId === id)!;
    expect(d).toEqual({
      instanceId: id,
      pingStatus: 'Online',
      ipAddress: inst.privateIp,
      computerName: `ip-${inst.privateIp.replace(/\./g, '-')}.ec2.internal`,
      platformName: 'Amazon Linux',
      platformVersion: '2023',
    });
    env.fleet.setPing(id, 'ConnectionLost');
    expect(env.fleet.describe().find((x) => x.instanceId === id)!.pingStatus).toBe('ConnectionLost');
    env.fleet.setPing(id, 'Online');
  });
});

describe('docker on an instance', () => {
  let env: Env;
  let id: string;
  beforeAll(async () => {
    env = await dummyFleet();
    id = env.ids[0]!;
  });
  afterAll(async () => env?.stop());

  const pidOf = async () => {
    const r = await env.sh(id, [
      "docker inspect --format '{{.State.Running}}|{{.State.Pid}}|{{.RestartCount}}' mpc-node",
    ]);
    expect(r.exitCode, r.stderr).toBe(0);
    const [running, pid, restarts] = r.stdout.trim().split('|');
    return { running: running === 'true', pid: Number(pid), restarts: Number(restarts) };
  };
  /** GET /info from the container, with curl on the instance (port from the container's latest log line). */
  const info = async () =>
    eventually(
      async () => {
        const r = await env.sh(id, [
          'addr=$(docker logs mpc-node 2>/dev/null | grep "listening on" | tail -1 | cut -d" " -f3)',
          'curl -sf "http://$addr/info"',
        ]);
        if (r.exitCode !== 0) return undefined;
        const body = JSON.parse(r.stdout) as {
          pid: number;
          home: string;
          args: string[];
          foo: string;
          rpc: string;
          marker: string | null;
        };
        return body;
      },
      'GET /info',
      60,
    );

  test('run starts the process with env, mounts (paths rewritten to the sandbox) and the network facts', async () => {
    writeFileSync(join(env.fleet.instance(id)!.dataDir, 'marker'), 'data-kept');
    const r = await env.sh(id, [RUN]);
    expect(r.exitCode, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/^[0-9a-f]{64}\n$/);
    const st = await pidOf();
    expect(st.running).toBe(true);
    const i = await info();
    expect(i).toMatchObject({
      pid: st.pid,
      home: env.fleet.instance(id)!.dataDir,
      args: ['start', 'local'],
      foo: 'bar',
      rpc: 'http://127.0.0.1:3030',
      marker: 'data-kept',
    });
    const ps = await env.sh(id, [
      "docker ps --filter name=mpc-node --format '{{.Names}} {{.State}} {{.Image}} {{.Status}}'",
    ]);
    expect(ps.stdout).toMatch(new RegExp(`^mpc-node running ${IMAGE} Up .+\\n$`));
  });

  test('run on an existing name conflicts (exit 125, docker text)', async () => {
    const r = await env.sh(id, [RUN]);
    expect(r.exitCode).toBe(125);
    expect(r.stderr).toMatch(
      new RegExp(
        'docker: Error response from daemon: Conflict\\. The container name "/mpc-node" is already in use by ' +
          'container "[0-9a-f]{64}"\\. You have to remove \\(or rename\\) that container ' +
          'to be able to reuse that name\\.',
      ),
    );
  });

  test('restart: new pid, same env and data, RestartCount 0', async () => {
    const before = await pidOf();
    writeFileSync(join(env.fleet.instance(id)!.dataDir, 'marker'), 'data-after-restart');
    const r = await env.sh(id, ['docker restart mpc-node']);
    expect(r).toMatchObject({ exitCode: 0, stdout: 'mpc-node\n' });
    const after = await pidOf();
    expect(after.running).toBe(true);
    expect(after.pid).not.toBe(before.pid);
    expect(after.restarts).toBe(0);
    const i = await info();
    expect(i).toMatchObject({
      pid: after.pid,
      foo: 'bar',
      home: env.fleet.instance(id)!.dataDir,
      marker: 'data-after-restart',
    });
  });

  test('stop / start', async () => {
    const before = await pidOf();
    expect((await env.sh(id, ['docker stop mpc-node'])).stdout).toBe('mpc-node\n');
    expect(await pidOf()).toMatchObject({ running: false, pid: 0 });
    expect((await env.sh(id, ["docker ps --format '{{.Names}}'"])).stdout).toBe('');
    expect((await env.sh(id, ["docker ps -a --format '{{.Names}}|{{.Status}}'"])).stdout).toMatch(
      /^mpc-node\|Exited \(143\) .+ ago\n$/,
    );
    expect((await env.sh(id, ['docker start mpc-node'])).exitCode).toBe(0);
    const after = await pidOf();
    expect(after.running).toBe(true);
    expect(after.pid).not.toBe(before.pid);
    expect((await info()).foo).toBe('bar');
  });

  test('logs --since returns only newer lines; --tail N the last N; -t adds RFC3339Nano timestamps', async () => {
    await eventually(
      async () => ((await env.fleet.docker(id, ['logs', 'mpc-node'])).stdout.split('\n').length > 5 ? true : undefined),
      'a few ticks',
    );
    const mark = (await env.sh(id, ['date -u +%Y-%m-%dT%H:%M:%S.%NZ'])).stdout.trim();
    const markMs = Date.parse(mark);
    await eventually(async () => {
      const r = await env.fleet.docker(id, ['logs', '--since', mark, 'mpc-node']);
      return r.stdout.split('\n').filter(Boolean).length >= 3 ? true : undefined;
    }, 'ticks after the mark');
    const all = await env.sh(id, ['docker logs -t mpc-node']);
    const since = await env.sh(id, [`docker logs -t --since ${mark} mpc-node`]);
    const stamp = (l: string) => Date.parse(l.split(' ')[0]!);
    const allLines = all.stdout.split('\n').filter(Boolean);
    const sinceLines = since.stdout.split('\n').filter(Boolean);
    expect(allLines.some((l) => stamp(l) < markMs)).toBe(true);
    expect(sinceLines.length).toBeGreaterThan(0);
    expect(sinceLines.length).toBeLessThan(allLines.length);
    for (const l of sinceLines) {
      expect(l).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{9}Z (tick \d+|listening on .+)$/);
      expect(stamp(l)).toBeGreaterThanOrEqual(markMs - 1);
    }
    // Relative --since (Go duration) works too, and includes the newest lines.
    expect((await env.sh(id, ['docker logs --since 10m mpc-node | tail -1'])).stdout).toMatch(/^tick \d+\n$/);
    // --tail 3: the last three lines of both streams, in the order logged (2>&1 keeps the interleaving). The
    // container keeps logging, so the whole log read afterwards holds them as one run, in the same order —
    // not necessarily the order written: stdout and stderr are two pipes, read as they come (as docker's are).
    const lines = async (cmd: string) => (await env.sh(id, [cmd])).stdout.split('\n').filter(Boolean);
    const tail = await lines('docker logs --tail 3 mpc-node 2>&1');
    expect(tail).toHaveLength(3);
    const later = await lines('docker logs mpc-node 2>&1');
    const at = later.lastIndexOf(tail[0]!); // a restart earlier in this file logs tick 1, 2, … again
    expect(at, `${tail.join(' | ')} in the whole log`).toBeGreaterThanOrEqual(0);
    expect(later.slice(at, at + 3)).toEqual(tail);
    await eventually(
      async () => ((await env.fleet.docker(id, ['logs', 'mpc-node'])).chunks.length >= 20 ? true : undefined),
      'twenty log lines',
    );
    const stamped = (await env.sh(id, ['docker logs -t --tail 20 mpc-node 2>&1'])).stdout
      .split('\n')
      .filter(Boolean)
      .map(stamp);
    expect(stamped).toHaveLength(20);
    expect([...stamped].sort((a, b) => a - b)).toEqual(stamped);
    // stderr lines go to stderr (and merge with 2>&1).
    const split = await env.sh(id, [
      'docker logs mpc-node 2>/dev/null | grep -c "warn tick" || true',
      'docker logs mpc-node 2>&1 >/dev/null | grep -c "warn tick"',
    ]);
    const [onStdout, onStderr] = split.stdout.trim().split('\n').map(Number);
    expect(onStdout).toBe(0);
    expect(onStderr).toBeGreaterThan(0);
    // Bad --since: docker's error text.
    const bad = await env.sh(id, ['docker logs --since yesterday mpc-node']);
    expect(bad.exitCode).toBe(1);
    expect(bad.stderr).toContain('invalid value for "since": failed to parse value as time or duration: "yesterday"');
  });

  test('the docker stand-in replays the answer byte for byte and runs none of it', async () => {
    const tricky = "ключ ✓ '$(touch pwned)' `touch pwned` %s \\ ";
    const quoted = `'${`${tricky}{{.State.Status}}`.replace(/'/g, "'\\''")}'`;
    const r = await env.sh(id, [
      `docker inspect --format ${quoted} mpc-node`,
      'echo "exit=$?"',
      'ls pwned 2>&1 || true',
    ]);
    expect(r.stdout).toBe(`${tricky}running\nexit=0\nls: cannot access 'pwned': No such file or directory\n`);
    const missing = await env.sh(id, ['docker inspect nothing-here', 'echo "exit=$?"']);
    expect(missing.stdout).toBe('[]\nexit=1\n');
    expect(missing.stderr).toBe('Error: No such object: nothing-here\n');
    // The daemon's own failure comes back the same way (docker exits 1 with the daemon's words).
    const refused = await env.sh(id, ['TWIN_INSTANCE_ID=i-00000000000000000 docker ps', 'echo "exit=$?"']);
    expect(refused.stdout).toBe('exit=1\n');
    expect(refused.stderr).toBe('Error response from daemon: unknown instance i-00000000000000000\n');
  });

  test("inspect without --format is a JSON array with docker's shape", async () => {
    const r = await env.sh(id, ['docker inspect mpc-node']);
    const [c] = JSON.parse(r.stdout) as any[];
    expect(c.Name).toBe('/mpc-node');
    expect(c.Path).toBe('/app/mpc-node');
    expect(c.Args).toEqual(['start', 'local']);
    expect(c.Config.Env).toContain('MPC_HOME_DIR=/data');
    expect(c.HostConfig).toMatchObject({ NetworkMode: 'host', RestartPolicy: { Name: 'always' } });
    expect(c.Mounts[0]).toMatchObject({ Type: 'bind', Source: env.fleet.instance(id)!.dataDir, Destination: '/data' });
    expect(c.State.StartedAt).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{9}Z$/);
    const missing = await env.sh(id, ['docker inspect nope']);
    expect(missing).toMatchObject({ exitCode: 1, stdout: '[]\n', stderr: 'Error: No such object: nope\n' });
    const tpl = await env.sh(id, [
      'docker inspect --format ' +
        "'{{range .Mounts}}{{.Destination}}{{end}} {{json .HostConfig.RestartPolicy.Name}} " +
        "{{if .State.Running}}up{{else}}down{{end}}' mpc-node",
    ]);
    expect(tpl.stdout).toBe('/data "always" up\n');
  });

  test('ps table format has docker headers', async () => {
    const r = await env.sh(id, ["docker ps -a --format 'table {{.Names}}\\t{{.Status}}'"]);
    const [header, row] = r.stdout.split('\n');
    expect(header).toMatch(/^NAMES\s{3,}STATUS$/);
    expect(row).toMatch(/^mpc-node\s{3,}Up /);
    const def = await env.sh(id, ['docker ps']);
    expect(def.stdout.split('\n')[0]).toMatch(/^CONTAINER ID\s+IMAGE\s+COMMAND\s+CREATED\s+STATUS\s+PORTS\s+NAMES$/);
  });

  test('rm: refuses a running container, rm -f removes it; ps -a is then empty; errors for unknown names', async () => {
    const refused = await env.sh(id, ['docker rm mpc-node']);
    expect(refused.exitCode).toBe(1);
    expect(refused.stderr).toContain(
      'Error response from daemon: cannot remove container "/mpc-node": container is running: ' +
        'stop the container before removing or force remove',
    );
    const pid = (await pidOf()).pid;
    expect((await env.sh(id, ['docker rm -f mpc-node'])).stdout).toBe('mpc-node\n');
    expect((await env.sh(id, ["docker ps -a --format '{{.Names}}'"])).stdout).toBe('');
    await eventually(async () => {
      try {
        process.kill(pid, 0);
        return undefined;
      } catch {
        return true;
      }
    }, 'the container process to be gone');
    for (const cmd of ['restart', 'stop', 'logs', 'rm']) {
      const r = await env.sh(id, [`docker ${cmd} mpc-node`]);
      expect(r, cmd).toMatchObject({
        exitCode: 1,
        stderr: 'Error response from daemon: No such container: mpc-node\n',
      });
    }
  });

  test("unknown image: docker's pull error, exit 125, no container", async () => {
    const r = await env.sh(id, ['docker run -d --name xy nearone/mpc-node:9.9.9']);
    expect(r.exitCode).toBe(125);
    expect(r.stderr).toContain("Unable to find image 'nearone/mpc-node:9.9.9' locally");
    expect(r.stderr).toContain('pull access denied for nearone/mpc-node, repository does not exist');
    expect(env.fleet.containers(id)).toEqual([]);
  });

  test('a crash-looping container under --restart=always: a rising RestartCount, Restarting status', async () => {
    const r = await env.sh(id, [
      `docker run -d --name crashy --restart=always --net=host -e DUMMY_CRASH=1 ${IMAGE} start local`,
    ]);
    expect(r.exitCode, r.stderr).toBe(0);
    const counts: number[] = [];
    await eventually(async () => {
      counts.push(env.fleet.container(id, 'crashy')!.RestartCount);
      return counts.at(-1)! >= 3 ? true : undefined;
    }, 'three restarts');
    for (let i = 1; i < counts.length; i++) expect(counts[i]!).toBeGreaterThanOrEqual(counts[i - 1]!);
    const status = await eventually(async () => {
      const s = (await env.sh(id, ["docker ps --filter name=crashy --format '{{.Status}}|{{.State}}'"])).stdout.trim();
      return s.startsWith('Restarting (1)') ? s : undefined;
    }, 'a Restarting status');
    expect(status).toMatch(/^Restarting \(1\) .+ ago\|restarting$/);
    const logs = await env.sh(id, ['docker logs crashy 2>&1 | grep -c "crashing on purpose"']);
    expect(Number(logs.stdout.trim())).toBeGreaterThanOrEqual(3);
    // A later read shows the count still rising, and `docker stop` ends the loop.
    const later = await eventually(async () => {
      const n = env.fleet.container(id, 'crashy')!.RestartCount;
      return n > counts.at(-1)! ? n : undefined;
    }, 'a further restart');
    expect(later).toBeGreaterThan(3 - 1);
    await env.sh(id, ['docker stop crashy']);
    const stopped = env.fleet.container(id, 'crashy')!;
    expect(stopped.State).toMatchObject({ Running: false, Restarting: false, Status: 'exited' });
    await new Promise((r) => setTimeout(r, 500));
    expect(env.fleet.container(id, 'crashy')!.RestartCount).toBe(stopped.RestartCount);
    expect((await env.sh(id, ['docker rm crashy'])).exitCode).toBe(0);
  });

  test('attached run --rm: waits for the process, returns its output and exit code, removes it', async () => {
    const r = await env.sh(id, [`docker run --rm --name once -e DUMMY_CRASH=1 ${IMAGE} start local`]);
    expect(r.exitCode).toBe(1);
    expect(r.stderr).toContain('dummy: crashing on purpose, args=start local');
    expect(env.fleet.containers(id)).not.toContain('once');
    const conflict = await env.sh(id, [`docker run -d --rm --restart=always ${IMAGE}`]);
    expect(conflict).toMatchObject({ exitCode: 125 });
    expect(conflict.stderr).toContain('Conflicting options: --restart and --rm');
  });

  test("`-e NAME` takes the caller's value; arguments with spaces, quotes and newlines arrive whole", async () => {
    const r = await env.sh(id, [
      `export PASSED='a b "c"'`,
      `docker run -d --name envs -e PASSED --env=UNSET_HERE -e 'ARG=x y' ${IMAGE} ` +
        `start "two words" "$(printf 'l1\\nl2')" >/dev/null`,
      "docker inspect --format '{{json .Config.Env}}' envs",
      "docker inspect --format '{{json .Args}}' envs",
      'docker rm -f envs >/dev/null',
    ]);
    expect(r.exitCode, r.stderr).toBe(0);
    const [envJson, argsJson] = r.stdout.trim().split('\n');
    expect(JSON.parse(envJson!)).toEqual(expect.arrayContaining(['PASSED=a b "c"', 'ARG=x y']));
    expect(JSON.parse(envJson!).some((e: string) => e.startsWith('UNSET_HERE'))).toBe(false);
    expect(JSON.parse(argsJson!)).toEqual(['start', 'two words', 'l1\nl2']);
  });

  test('sudo in operator scripts just runs the command (SSM runs as root)', async () => {
    expect((await env.sh(id, ['sudo -u ubuntu echo hi', 'sudo docker ps -a -q | wc -l'])).stdout).toMatch(
      /^hi\n\d+\n$/,
    );
  });

  test('the docker socket is shared but containers are per instance', async () => {
    expect(existsSync(join(env.fleet.instance(id)!.binDir, 'docker'))).toBe(true);
    const r = await env.fleet.docker('i-unknown', ['ps', '-a', '--format', '{{.Names}}']);
    expect(r.stdout).toBe('');
  });
});
