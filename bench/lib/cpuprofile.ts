// The shape of a V8 .cpuprofile (`node --cpu-prof`), as the profile summaries read it.
export interface CallFrame {
  readonly functionName: string;
  readonly url: string;
  readonly lineNumber: number;
}

export interface ProfileNode {
  readonly id: number;
  readonly callFrame: CallFrame;
  readonly children?: readonly number[];
}

export interface Profile {
  readonly nodes: readonly ProfileNode[];
  readonly samples: readonly number[];
  /** µs since the previous sample (the first: since startTime) */
  readonly timeDeltas: readonly number[];
  /** µs on the monotonic clock */
  readonly startTime: number;
  readonly endTime: number;
}
