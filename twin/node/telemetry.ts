/** Log lines shaped like Rust tracing output, and a tiny Prometheus text renderer. */
export function formatLog(level: string, target: string, msg: string, fields: Record<string, unknown>): string {
  const now = new Date().toISOString().replace(/\.(\d{3})Z$/, '.$1000Z');
  const kv = Object.entries(fields)
    .map(([k, v]) => ` ${k}=${typeof v === 'string' && /\s/.test(v) ? JSON.stringify(v) : String(v)}`)
    .join('');
  return `${now} ${level.padStart(5)} ${target}: ${msg}${kv}`;
}

export class Metrics {
  private readonly series = new Map<string, Map<string, number>>();
  private readonly help: Record<string, string> = {
    mpc_indexer_latest_block_height: 'gauge',
    mpc_current_job_state: 'gauge',
    mpc_network_live_connections: 'gauge',
    mpc_outgoing_transaction_outcomes: 'counter',
  };

  set(name: string, labels: Record<string, string>, value: number): void {
    const key = Object.entries(labels)
      .map(([k, v]) => `${k}="${v}"`)
      .join(',');
    if (!this.series.has(name)) this.series.set(name, new Map());
    this.series.get(name)!.set(key, value);
  }

  txOutcome(type: string, outcome: string): void {
    const key = `type="${type}",outcome="${outcome}"`;
    const m = this.series.get('mpc_outgoing_transaction_outcomes') ?? new Map<string, number>();
    m.set(key, (m.get(key) ?? 0) + 1);
    this.series.set('mpc_outgoing_transaction_outcomes', m);
  }

  render(): string {
    const out: string[] = [];
    for (const name of Object.keys(this.help)) {
      out.push(`# TYPE ${name} ${this.help[name]}`);
      for (const [labels, v] of this.series.get(name) ?? []) out.push(`${name}${labels ? `{${labels}}` : ''} ${v}`);
    }
    return `${out.join('\n')}\n`;
  }
}
