// How a long operation (create, start, image build) tells its caller where it is.

/** What create reports while it works, for progress display. */
export interface ProgressEvent {
  phase: string;
  message: string;
  elapsedMs?: number;
}
export type ProgressSink = (event: ProgressEvent) => void;
