import crypto from 'node:crypto';
import os from 'node:os';
import cron, { type ScheduledTask } from 'node-cron';
import type { Kysely } from 'kysely';
import type { DB } from '../db/schema.js';
import type { Logger } from '../lib/logger.js';
import { acquireLease, releaseLease } from './lease.js';

export interface Job {
  name: string;
  /** node-cron expression (seconds field allowed). */
  schedule: string;
  /**
   * `singleton`: one runner across all processes, elected through a lease in the database.
   * `everywhere`: every worker runs it (work inside is claimed item by item, e.g. mailboxes).
   */
  mode: 'singleton' | 'everywhere';
  run(signal: AbortSignal): Promise<void>;
}

/** A name for this process in leases and job runs: host, pid and a random suffix. */
export function processHolderId(): string {
  return `${os.hostname()}:${process.pid}:${crypto.randomBytes(3).toString('hex')}`;
}

/**
 * Runs registered jobs on their schedules, never two runs of one job at once in this process,
 * and (for singletons) in the whole deployment. `stop()` stops triggering, aborts running jobs
 * through their signal and waits for them to finish.
 */
export class Scheduler {
  private readonly tasks: ScheduledTask[] = [];
  private readonly running = new Map<string, Promise<void>>();
  private readonly abort = new AbortController();

  constructor(
    private readonly db: Kysely<DB>,
    private readonly logger: Logger,
    readonly holder: string = processHolderId(),
    private readonly leaseMs = 5 * 60_000,
  ) {}

  register(job: Job): void {
    const task = cron.schedule(job.schedule, () => this.trigger(job), { name: job.name, noOverlap: true });
    this.tasks.push(task);
  }

  /** Runs a job now (unless it is already running here); resolves when that run ends. */
  trigger(job: Job): Promise<void> {
    const current = this.running.get(job.name);
    if (current) return current;
    if (this.abort.signal.aborted) return Promise.resolve();
    const run = this.execute(job).finally(() => this.running.delete(job.name));
    this.running.set(job.name, run);
    return run;
  }

  private async execute(job: Job): Promise<void> {
    let renew: NodeJS.Timeout | undefined;
    try {
      if (job.mode === 'singleton') {
        if (!(await acquireLease(this.db, job.name, this.holder, this.leaseMs))) return;
        renew = setInterval(() => {
          acquireLease(this.db, job.name, this.holder, this.leaseMs).catch((error) =>
            this.logger.warn('lease renewal failed', { job: job.name, error }),
          );
        }, this.leaseMs / 3);
      }
      await job.run(this.abort.signal);
    } catch (error) {
      this.logger.error('job failed', { job: job.name, error });
    } finally {
      if (renew) {
        clearInterval(renew);
        await releaseLease(this.db, job.name, this.holder).catch(() => {});
      }
    }
  }

  async stop(): Promise<void> {
    for (const task of this.tasks) await task.stop();
    this.abort.abort();
    await Promise.allSettled([...this.running.values()]);
    for (const task of this.tasks) await task.destroy();
  }
}
