/**
 * Where a gate run's wall time goes, from what the bench can see from outside the runbook:
 * - the probe (bench/probe.ts): when the runbook process and each Vitest worker (one per spec file)
 *   started, finished bootstrapping Node, and exited;
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
}

export interface SpecFileTimes {
  /** Worker process start → exit (stopped by Vitest after its file). */
  wall: number;
  /** The worker process's Node bootstrap (process start → the preloaded probe ran). */
  worker_start: number;
  /**
   * Node ready → the file's first test result, less the Layer 3 waits in it: importing the spec file
   * and the helpers (Vite transform included) and building the step's context.
   */
  module_loading: number;
  /** Of `wall`, time with a call to the Layer 3 in flight or an SSM command awaited (collection and tests). */
  waiting_on_layer3: number;
  /** The rest: test CPU, reporting, the worker's end. */
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
  output_reads: number;
}

export interface Breakdown {
  /** Spawn of the runbook process → Node bootstrapped in it. */
  process_start: number;
  /** Runbook process ready → the first spec file's worker started (Vitest, Vite, config, global setup). */
  vitest_startup: number;
  /** Per spec file (in run order). */
  spec_files: Record<string, SpecFileTimes>;
  /** Sum of the gaps between one spec file's worker exit and the next one's start. */
  between_files: number;
  /** Last worker exit → runbook process exit (reports, JUnit, shutdown). */
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
 * The breakdown of one run. `specOrder` names the spec files in run order (Vitest runs one file per
 * worker process, in this order); `spawnAt` / `exitAt` are when the bench spawned the runbook and saw it exit.
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
  const exitOf = (pid: number) => o.probe.find((p) => p.event === 'exit' && p.pid === pid)?.at;
  const workers = o.probe
    .filter((p) => p.role === 'worker' && p.event === 'ready' && p.ppid === main?.pid)
    .sort((a, b) => a.origin! - b.origin!)
    .map((p) => ({ origin: p.origin!, ready: p.at, exit: exitOf(p.pid) ?? o.exitAt }));
  const commands = ssmCommands(o.calls);
  const busy: [number, number][] = [
    ...o.calls.filter((c) => c.service !== 'ssm' || !c.commandId).map((c) => [c.start, c.end] as [number, number]),
    ...commands.map((c) => c.span),
  ];
  const spec_files: Record<string, SpecFileTimes> = {};
  workers.forEach((w, i) => {
    const name = o.specOrder.length === workers.length ? o.specOrder[i]! : `worker-${i + 1}`;
    const firstResult = Math.min(w.exit, ...o.results.filter((r) => r.step === name).map((r) => r.at));
    const waiting = unionMs(clip(busy, w.origin, w.exit));
    const loading = firstResult - w.ready - unionMs(clip(busy, w.ready, firstResult));
    const wall = w.exit - w.origin;
    spec_files[name] = {
      wall: Math.round(wall),
      worker_start: Math.round(w.ready - w.origin),
      module_loading: Math.round(loading),
      waiting_on_layer3: Math.round(waiting),
      other: Math.round(wall - (w.ready - w.origin) - loading - waiting),
      tests: Math.round(o.tests.get(name) ?? 0),
    };
  });
  const spanOf = (pred: (c: TracedCall) => boolean) =>
    o.calls.filter(pred).map((c) => [c.start, c.end] as [number, number]);
  const evidenceWorker = workers[o.specOrder.indexOf('01-keys-match')];
  return {
    process_start: Math.round(mainReady - o.spawnAt),
    vitest_startup: Math.round((workers[0]?.origin ?? o.exitAt) - mainReady),
    spec_files,
    between_files: Math.round(workers.slice(1).reduce((s, w, i) => s + Math.max(0, w.origin - workers[i]!.exit), 0)),
    teardown: Math.round(o.exitAt - (workers[workers.length - 1]?.exit ?? o.exitAt)),
    layer3: {
      discovery: Math.round(unionMs(spanOf((c) => c.service === 'cloudformation' || c.service === 'sts'))),
      evidence: evidenceWorker ? Math.round(unionMs(clip(busy, evidenceWorker.origin, evidenceWorker.exit))) : 0,
      ssm_round_trips: Math.round(unionMs(commands.map((c) => c.span))),
      views: Math.round(unionMs(spanOf((c) => c.service === 'rpc' && !c.op.includes('view_access_key_list')))),
    },
    ssm_commands: commands.map(({ span: _, ...c }) => c),
  };
}
