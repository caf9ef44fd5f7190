/**
 * Where a gate run's wall time goes, from what the bench can see from outside the runbook:
 * - the probe (bench/probe.ts): when the runbook process and its Vitest worker (one for every spec file,
 *   which run one after another in it) started, finished bootstrapping Node, and exited;
 * - the trace proxy (bench/trace.ts): every NEAR RPC and AWS call the runbook made, start and end;
 * - the JUnit file: each test's own duration.
 * Every number is a measured span (epoch ms), none is guessed.
 */
import { readFileSync } from 'node:fs';
import type { TracedCall } from './trace.ts';

export interface ProbeLine {
  event: 'ready' | 'exit';
  pid: number;
  ppid: number;
  role: 'runbook' | 'worker';
  origin?: number;
  at: number;
  /** At exit: the CPU time the process used (user + system). */
  cpu_ms?: number;
}

export interface SpecFileTimes {
  /** The previous spec file's last result (the run's first result, for the first) → this file's last result. */
  wall: number;
  /** Of `wall`, time with a call to the Layer 3 in flight or an SSM command awaited (collection and tests). */
  waiting_on_layer3: number;
  /** The rest: importing the file, test CPU, reporting. */
  other: number;
  /** The tests' own durations (JUnit), summed; they overlap `waiting_on_layer3`. */
  tests: number;
}

export interface SsmCommandTimes {
  comment: string;
  /** SendCommand start → the last status/output read's end. */
  ms: number;
  /** SendCommand start → the first script started on an instance (as SSM reports it). */
  to_start?: number;
  /** First script start → last script end (as SSM reports it). */
  running?: number;
  /** Last script end → the runbook's last read done: SSM's report delay plus the poll's lateness. */
  after_end?: number;
  status_reads: number;
  /** Outputs the last status read showed cut: each needs a GetCommandInvocation, so the bound counts them. */
  outputs_cut: number;
  output_reads: number;
}

export interface Breakdown {
  /** Spawn of the runbook process → Node bootstrapped in it. */
  process_start: number;
  /** Runbook process ready → the worker started (Vitest, its config, the global setup). */
  vitest_startup: number;
  /** The worker process's Node bootstrap (process start → the preloaded probe ran; Σ if there are several). */
  worker_start: number;
  /**
   * Worker ready → the first test result, less the Layer 3 waits in it: importing the first spec file and
   * every module it needs, and building the steps' context.
   */
  module_loading: number;
  /** Per spec file (in run order). */
  spec_files: Record<string, SpecFileTimes>;
  /** The last test result → runbook process exit (the report, JUnit, the worker's end, shutdown). */
  teardown: number;
  /** Union of spans, per kind of Layer 3 call, over the whole run (kinds overlap: evidence includes an SSM command). */
  layer3: {
    /** CloudFormation DescribeStacks + STS GetCallerIdentity. */
    discovery: number;
    /** Every call made while 01-keys-match collected the evidence of the four places. */
    evidence: number;
    /** Each SSM command from SendCommand to its last read (including the waits between reads). */
    ssm_round_trips: number;
    /** NEAR RPC other than access-key lists: status, view_account, contract views. */
    views: number;
  };
  ssm_commands: SsmCommandTimes[];
}

/** Total length of the union of [start, end] intervals. */
export function unionMs(spans: [number, number][]): number {
  const sorted = spans.filter(([a, b]) => b > a).sort((x, y) => x[0] - y[0]);
  let total = 0;
  let cur: [number, number] | undefined;
  for (const [a, b] of sorted) {
    if (cur && a <= cur[1]) cur[1] = Math.max(cur[1], b);
    else {
      if (cur) total += cur[1] - cur[0];
      cur = [a, b];
    }
  }
  if (cur) total += cur[1] - cur[0];
  return total;
}

const clip = (spans: [number, number][], from: number, to: number): [number, number][] =>
  spans.map(([a, b]) => [Math.max(a, from), Math.min(b, to)] as [number, number]).filter(([a, b]) => b > a);

/** Per SSM command: its span and how many status (List) and output (Get) reads it took. */
export function ssmCommands(calls: TracedCall[]): (SsmCommandTimes & { span: [number, number] })[] {
  return calls
    .filter((c) => c.op === 'SendCommand' && c.commandId)
    .map((send) => {
      const reads = calls.filter((c) => c.commandId === send.commandId && c.op !== 'SendCommand');
      const end = Math.max(send.end, ...reads.map((r) => r.end));
      const ran = reads.filter((r) => r.ran?.end !== undefined).pop()?.ran;
      return {
        comment: (send.comment ?? '').replace(/^mpc-runbook: /, ''),
        ms: Math.round(end - send.start),
        ...(ran?.end !== undefined
          ? {
              to_start: Math.round(ran.start - send.start),
              running: Math.round(ran.end - ran.start),
              after_end: Math.round(end - ran.end),
            }
          : {}),
        status_reads: reads.filter((r) => r.op === 'ListCommandInvocations').length,
        output_reads: reads.filter((r) => r.op === 'GetCommandInvocation').length,
        outputs_cut: reads.filter((r) => r.op === 'ListCommandInvocations').pop()?.cutOutputs ?? 0,
        span: [send.start, end] as [number, number],
      };
    });
}

/** Each spec file's tests' own durations from the JUnit file, summed (ms). */
export function junitTestTimes(file: string): Map<string, number> {
  const out = new Map<string, number>();
  let xml = '';
  try {
    xml = readFileSync(file, 'utf8');
  } catch {
    return out;
  }
  for (const m of xml.matchAll(/<testcase classname="([^"]+)"[^>]*time="([\d.]+)"/g)) {
    const step = m[1]!.split('/').pop()!.replace('.spec.ts', '');
    out.set(step, (out.get(step) ?? 0) + Number(m[2]) * 1000);
  }
  return out;
}

export function readProbe(file: string): ProbeLine[] {
  try {
    return readFileSync(file, 'utf8')
      .split('\n')
      .filter(Boolean)
      .map((l) => JSON.parse(l) as ProbeLine);
  } catch {
    return [];
  }
}

/** A test result line the runbook's reporter printed ("  ✓ 01-keys-match  …"), when the bench read it. */
export interface ResultLine {
  step: string;
  at: number;
}
export const RESULT_LINE = /^\s+[✓✗↓] (\d\d-[a-z0-9-]+)\s/;

/**
 * The breakdown of one run. `specOrder` names the spec files in run order; `spawnAt` / `exitAt` are when
 * the bench spawned the runbook and saw it exit.
 */
export function breakdown(o: {
  spawnAt: number;
  exitAt: number;
  probe: ProbeLine[];
  calls: TracedCall[];
  tests: Map<string, number>;
  results: ResultLine[];
  specOrder: string[];
}): Breakdown {
  const main = o.probe.find((p) => p.role === 'runbook' && p.event === 'ready');
  const mainReady = main?.at ?? o.spawnAt;
  const workers = o.probe
    .filter((p) => p.role === 'worker' && p.event === 'ready' && p.ppid === main?.pid)
    .sort((a, b) => a.origin! - b.origin!);
  const firstWorker = workers[0];
  const workerReady = firstWorker?.at ?? mainReady;
  const commands = ssmCommands(o.calls);
  const busy: [number, number][] = [
    ...o.calls.filter((c) => c.service !== 'ssm' || !c.commandId).map((c) => [c.start, c.end] as [number, number]),
    ...commands.map((c) => c.span),
  ];
  const lastResult = (step: string) => Math.max(...o.results.filter((r) => r.step === step).map((r) => r.at));
  const firstResult = Math.min(o.exitAt, ...o.results.map((r) => r.at));
  const spec_files: Record<string, SpecFileTimes> = {};
  let from = firstResult; // before it: module loading (below)
  for (const name of o.specOrder) {
    const to = lastResult(name);
    if (!Number.isFinite(to)) continue;
    const waiting = unionMs(clip(busy, from, to));
    spec_files[name] = {
      wall: Math.round(to - from),
      waiting_on_layer3: Math.round(waiting),
      other: Math.round(to - from - waiting),
      tests: Math.round(o.tests.get(name) ?? 0),
    };
    from = to;
  }
  const spanOf = (pred: (c: TracedCall) => boolean) =>
    o.calls.filter(pred).map((c) => [c.start, c.end] as [number, number]);
  const evidenceFrom = lastResult('00-preflight');
  const evidenceTo = lastResult('01-keys-match');
  return {
    process_start: Math.round(mainReady - o.spawnAt),
    vitest_startup: Math.round((firstWorker?.origin ?? o.exitAt) - mainReady),
    worker_start: Math.round(workers.reduce((t, w) => t + (w.at - w.origin!), 0)),
    module_loading: Math.round(firstResult - workerReady - unionMs(clip(busy, workerReady, firstResult))),
    spec_files,
    teardown: Math.round(o.exitAt - Math.max(...o.results.map((r) => r.at), workerReady)),
    layer3: {
      discovery: Math.round(unionMs(spanOf((c) => c.service === 'cloudformation' || c.service === 'sts'))),
      evidence: Number.isFinite(evidenceFrom + evidenceTo)
        ? Math.round(unionMs(clip(busy, evidenceFrom, evidenceTo)))
        : 0,
      ssm_round_trips: Math.round(unionMs(commands.map((c) => c.span))),
      views: Math.round(unionMs(spanOf((c) => c.service === 'rpc' && !c.op.includes('view_access_key_list')))),
    },
    ssm_commands: commands.map(({ span: _, ...c }) => c),
  };
}
