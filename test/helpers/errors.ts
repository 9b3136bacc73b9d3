// What a failing call threw or rejected with: the NexusError a test then looks into (code, message,
// suggestion, details). Fails the test when nothing was thrown or the error is of another kind.
import { expect } from "bun:test";
import { NexusError } from "../../src/kernel/errors.ts";

/** Runs `run` and returns the NexusError it throws. */
export function thrownBy(run: () => unknown): NexusError {
  try {
    run();
  } catch (err) {
    expect(err).toBeInstanceOf(NexusError);
    return err as NexusError;
  }
  throw new Error("expected a NexusError, but nothing was thrown");
}

/** Awaits `p` and returns the NexusError it rejects with. */
export async function rejectionOf(p: Promise<unknown>): Promise<NexusError> {
  try {
    await p;
  } catch (err) {
    expect(err).toBeInstanceOf(NexusError);
    return err as NexusError;
  }
  throw new Error("expected a NexusError, but it succeeded");
}
