/** The CPU-heavy job of the broker bench, shared by its producer and its report. */
export const CPU_JOB_MS = 20;
