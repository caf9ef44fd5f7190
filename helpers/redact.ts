/**
 * Redaction by value: every secret the run has seen is registered here, in the forms it can travel
 * in (raw, JSON-escaped, base64, base58 body), and scrubbed from any text before it leaves the process.
 */
import { keyFingerprint } from './keys.ts';

const ED25519_SECRET_SHAPE = /ed25519:[1-9A-HJ-NP-Za-km-z]{80,90}(?![1-9A-HJ-NP-Za-km-z])/g;

export class Redactor {
  private readonly forms = new Map<string, string>(); // form -> replacement
  /** The forms longest first (so a secret's base58 body does not break its prefixed form); sorted once per add. */
  private longestFirst: [string, string][] | undefined;

  add(secret: string | undefined): void {
    if (!secret || secret.length < 8) return;
    const tag = `[REDACTED:${keyFingerprint(secret).slice(7, 15)}]`;
    const forms = new Set([
      secret,
      JSON.stringify(secret).slice(1, -1),
      Buffer.from(secret).toString('base64'),
      Buffer.from(secret).toString('base64url'),
    ]);
    const colon = secret.indexOf(':');
    if (colon > 0 && secret.length - colon > 16) forms.add(secret.slice(colon + 1));
    for (const f of forms) if (f.length >= 8) this.forms.set(f, tag);
    this.longestFirst = undefined;
  }

  redact(text: string): string {
    let out = text;
    this.longestFirst ??= [...this.forms].sort((a, b) => b[0].length - a[0].length);
    for (const [form, tag] of this.longestFirst) if (out.includes(form)) out = out.split(form).join(tag);
    // Second line of defence for a process that never saw the value (the reporter runs apart from
    // the steps): anything shaped like an ed25519 secret key (64 bytes; public keys are 32).
    return out.replace(ED25519_SECRET_SHAPE, '[REDACTED:ed25519-secret-shape]');
  }

  containsSecret(text: string): boolean {
    for (const form of this.forms.keys()) if (text.includes(form)) return true;
    return false;
  }

  redactDeep<T>(value: T): T {
    return JSON.parse(this.redact(JSON.stringify(value))) as T;
  }

  /** Errors thrown by libraries may quote what they were given: scrub message, stack and causes. */
  redactError(e: unknown): Error {
    const err = e instanceof Error ? e : new Error(String(e));
    const clean = new Error(this.redact(err.message));
    clean.name = err.name;
    clean.stack = this.redact(err.stack ?? '');
    if (err.cause !== undefined) (clean as Error & { cause: unknown }).cause = this.redactError(err.cause);
    return clean;
  }
}

/** The process-wide redactor the runbook registers every secret with. */
export const redactor = new Redactor();
