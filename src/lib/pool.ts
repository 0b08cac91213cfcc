// Work over a list a few items at a time, for `shoal prefetch` and a node's share of a preheat.

/**
 * Runs `work` over `items`, `limit` at a time. After the first failure (or once `signal` aborts)
 * no new item starts; the running ones finish, then that failure is thrown.
 */
export async function inPool<T>(items: readonly T[], limit: number, work: (item: T) => Promise<void>, signal?: AbortSignal): Promise<void> {
  let next = 0;
  let failure: { error: unknown } | undefined;
  const worker = async (): Promise<void> => {
    while (failure === undefined && next < items.length) {
      if (signal?.aborted) {
        failure = { error: new Error('cancelled') };
        break;
      }
      const item = items[next++] as T;
      try {
        await work(item);
      } catch (error) {
        failure ??= { error };
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
  if (failure !== undefined) throw failure.error;
}
