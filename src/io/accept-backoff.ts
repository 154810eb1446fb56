// What the io_uring backend does when accept fails for want of file descriptors (EMFILE/ENFILE,
// taken by something other than our connections, which stay under the fd limit's share): stop
// accepting for a while, doubling the pause up to a bound, log once per episode with what to do,
// and say when accepting works again. Retrying at once is what spun a core at the limit.

import { acceptBackoffMsMax, acceptBackoffMsMin } from "../constants.ts";

export class AcceptBackoff {
  private pauseMs = 0;
  private timer: ReturnType<typeof setTimeout> | null = null;
  private since = 0;

  constructor(
    /** Re-arms the accept (called when a pause ends). */
    private readonly retry: () => void,
    private readonly log: (line: string) => void,
  ) {}

  failed(errno: string): void {
    if (this.timer !== null) return;
    if (this.pauseMs === 0) {
      this.since = Date.now();
      this.log(`ringq: accept failed with ${errno} (no file descriptor left): pausing accepts, retrying with back-off; raise the limit (ulimit -n, LimitNOFILE=) or find what holds the descriptors`);
    }
    this.pauseMs = Math.min(Math.max(acceptBackoffMsMin, this.pauseMs * 2), acceptBackoffMsMax);
    this.timer = setTimeout(() => {
      this.timer = null;
      this.retry();
    }, this.pauseMs);
  }

  succeeded(): void {
    if (this.pauseMs === 0) return;
    this.log(`ringq: accepting connections again after ${Date.now() - this.since} ms without file descriptors`);
    this.pauseMs = 0;
  }

  stop(): void {
    if (this.timer !== null) clearTimeout(this.timer);
    this.timer = null;
  }
}
