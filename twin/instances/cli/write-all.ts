/**
 * Write all of `text` to a file descriptor synchronously, as a CLI about to exit must: stdout may be
 * a non-blocking pipe (EAGAIN: try again), and a reader that went away (`… | head`, EPIPE) ends it.
 */
import { writeSync } from 'node:fs';

export function writeAll(fd: number, text: string | Uint8Array): void {
  const buf = typeof text === 'string' ? Buffer.from(text, 'utf8') : text;
  let off = 0;
  while (off < buf.length) {
    try {
      off += writeSync(fd, buf, off);
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code;
      if (code === 'EAGAIN') continue;
      if (code === 'EPIPE') return;
      throw e;
    }
  }
}
