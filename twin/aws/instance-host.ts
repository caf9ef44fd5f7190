/** What the SSM twin needs from the instances: who is managed, and a way to run a shell script on one. */
export interface InstanceInfo {
  instanceId: string;
  pingStatus: 'Online' | 'ConnectionLost' | 'Inactive';
  ipAddress: string;
  computerName: string;
  platformName: string;
  platformVersion: string;
}

export interface CommandResult {
  exitCode: number;
  stdout: string;
  stderr: string;
  timedOut: boolean;
}

export interface RunningCommand {
  done: Promise<CommandResult>;
  cancel(): void;
}

export interface InstanceHost {
  describe(): InstanceInfo[];
  /** One instance as describe() lists it (without listing the fleet: SSM asks per invocation). */
  info?(instanceId: string): InstanceInfo | undefined;
  /** The SSM agent's connection state (an instance dropping offline). */
  setPing(instanceId: string, ping: InstanceInfo['pingStatus']): void;
  run(
    instanceId: string,
    commands: string[],
    opts: { executionTimeoutSeconds: number; workingDirectory?: string },
  ): RunningCommand;
}
