// A typed layer over EventTarget: `on('have', ({ digest }) => …)` with the detail's type checked,
// and an unsubscribe function back, instead of CustomEvent casts at every listener.

export class TypedEmitter<Events extends object> {
  readonly #target = new EventTarget();
  /** A snapshot can carry a million `have`s: events nobody listens to are not even built. */
  readonly #listeners = new Map<string, number>();

  /** Calls `listener` with each event's detail; returns the function that removes it. */
  on<K extends keyof Events & string>(type: K, listener: (detail: Events[K]) => void): () => void {
    const wrapped = (event: Event) => listener((event as CustomEvent<Events[K]>).detail);
    this.#target.addEventListener(type, wrapped);
    this.#listeners.set(type, (this.#listeners.get(type) ?? 0) + 1);
    let removed = false;
    return () => {
      if (removed) return;
      removed = true;
      this.#target.removeEventListener(type, wrapped);
      this.#listeners.set(type, (this.#listeners.get(type) ?? 1) - 1);
    };
  }

  /** Resolves with the next event of `type` whose detail passes `filter`. */
  once<K extends keyof Events & string>(type: K, filter: (detail: Events[K]) => boolean = () => true): Promise<Events[K]> {
    return new Promise((resolve) => {
      const off = this.on(type, (detail) => {
        if (!filter(detail)) return;
        off();
        resolve(detail);
      });
    });
  }

  protected emit<K extends keyof Events & string>(type: K, detail: Events[K]): void {
    if ((this.#listeners.get(type) ?? 0) === 0) return;
    // EventTarget runs every listener even when one throws, and reports the error as an uncaught
    // exception on the next tick: a buggy listener is loud but cannot corrupt the peer table.
    this.#target.dispatchEvent(new CustomEvent(type, { detail }));
  }
}
