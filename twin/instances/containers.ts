/**
 * The twin's container runtime ("dockerd"): per instance, containers whose process is a real OS
 * process started from an image table. What it keeps of Docker is what the runbook and operators
 * observe:
 *  - `run` creates a fresh container (name, image, env, `-v host:container` mounts, restart policy,
 *    network mode, entrypoint + args) and starts its process;
 *  - `restart`/`stop`/`start` keep env and mounts; every start is a new process (new pid) and a
 *    manual start/restart resets RestartCount to 0 (moby `ResetRestartManager(true)`);
 *  - `--restart=always|unless-stopped|on-failure[:N]` restarts an exited process with backoff
 *    (100 ms doubling, reset after 10 s of uptime; the cap is shorter than Docker's 1 min so twin
 *    crash loops stay visible quickly): RestartCount rises and `ps` shows `Restarting (code) …`;
 *  - stdout/stderr lines are stored per container with timestamps (`logs --since/--until/--tail/-t`);
 *  - `ps` / `inspect` with Go-template `--format` (fields, `json`, `range`, `if`, `index`, `println`,
 *    `table`), real CLI error texts and exit codes (1 daemon errors, 125 `run` errors).
 * Paths in env and args that lie under a mount target (e.g. `MPC_HOME_DIR=/data`) are rewritten to
 * the host path, since the twin cannot use /data. Each process also gets the instance's network facts
 * (`TWIN_HOST_IP`, and the fleet's extra env such as `TWIN_NEAR_RPC_URL`).
 */
import {
  type ContainerRuntimeOptions,
  containers,
  createRuntimeState,
  type DockerResult,
  hostsOf,
  inspectView,
  type LogLine,
  stopProc,
} from './container-core.ts';
import { docker } from './docker-commands.ts';

export type { ContainerRuntimeOptions, DockerResult, ImageTable, LogLine } from './container-core.ts';
export { humanDuration, parseDockerTime, rfc3339Nano } from './docker-format.ts';

export function createContainerRuntime(opts: ContainerRuntimeOptions) {
  const rt = createRuntimeState(opts);
  return {
    /** Run one `docker …` command line for an instance; callerEnv resolves `-e NAME` without a value. */
    docker: (instanceId: string, argv: string[], callerEnv: Record<string, string> = {}): Promise<DockerResult> =>
      docker(rt, instanceId, argv, callerEnv),
    /** `docker inspect` view of one container (undefined if there is none by that name). */
    container(instanceId: string, name: string) {
      const c = containers(rt, instanceId).get(name);
      return c ? inspectView(c) : undefined;
    },
    /** Names of the instance's containers (all states). */
    list(instanceId: string): string[] {
      return [...containers(rt, instanceId).keys()];
    },
    /** The stored log lines of a container (copies). */
    logs(instanceId: string, name: string): LogLine[] {
      return (containers(rt, instanceId).get(name)?.logs ?? []).map((l) => ({ ...l }));
    },
    /** Start the host process of each hosted image now, ahead of its first container. */
    prewarmHosts() {
      for (const [image, spec] of rt.images) if (spec.hosted) hostsOf(rt, image, spec.hosted).prewarm();
    },
    /** Stop every container process (SIGTERM, SIGKILL after timeoutSeconds); no restarts afterwards. */
    async stopAll(timeoutSeconds = 2) {
      rt.shuttingDown = true;
      const all = [...rt.byInstance.values()].flatMap((m) => [...m.values()]);
      await Promise.all(all.map((c) => stopProc(c, timeoutSeconds)));
      await Promise.all([...rt.hosts.values()].map((h) => h.closeAll()));
    },
  };
}
export type ContainerRuntime = ReturnType<typeof createContainerRuntime>;
