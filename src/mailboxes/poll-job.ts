import type { Job } from '../jobs/scheduler.js';
import { claimDueMailbox } from './claim.js';
import { pollMailbox, type PollDeps } from './poll.js';

/**
 * Every worker runs this job: each loop claims the most overdue mailbox, polls it and claims the
 * next, until none is due. Claims keep two workers (or two loops) off the same mailbox.
 */
export function mailboxPollJob(deps: PollDeps, concurrency: number): Job {
  return {
    name: 'mailbox-poll',
    schedule: '*/30 * * * * *',
    mode: 'everywhere',
    async run(signal) {
      const loop = async () => {
        while (!signal.aborted) {
          const row = await claimDueMailbox(deps.db, deps.holder, deps.claimTtlMs);
          if (!row) return;
          await pollMailbox(deps, row, signal);
        }
      };
      await Promise.all(Array.from({ length: concurrency }, loop));
    },
  };
}
