/**
 * Records what would crash a server: unhandled rejections and uncaught
 * exceptions raised while a test file runs.
 */

/** Handles on the recorder; `faults` lists what was caught, in order. */
export interface ProcessFaultRecorder {
  readonly faults: unknown[];
  /** Remove the process listeners. */
  dispose(): void;
}

/**
 * Start recording process-level faults.
 *
 * @returns {ProcessFaultRecorder} Call `dispose()` when the file is done
 */
export function recordProcessFaults(): ProcessFaultRecorder {
  const faults: unknown[] = [];
  const record = (fault: unknown): void => {
    faults.push(fault);
  };
  process.on('unhandledRejection', record);
  process.on('uncaughtException', record);
  return {
    faults,
    dispose() {
      process.off('unhandledRejection', record);
      process.off('uncaughtException', record);
    }
  };
}
