// Loads the recent health history of provider cards a few at a time, as they need it.
// A reload asked for while a load runs is done once more afterwards, so a card never keeps a
// history older than its newest check.

export class HistoryLoader {
  /** `load(id)` resolves to getHealthHistory's envelope. */
  constructor(load, { concurrency = 4 } = {}) {
    this._load = load;
    this._concurrency = concurrency;
    this._queue = [];
    this._running = 0;
    this._pending = new WeakSet();
    this._again = new WeakSet();
  }

  /** Load `card`'s history if it has none; `force` reloads it (the old one stays until then). */
  want(card, force = false) {
    if (this._pending.has(card)) {
      if (force) this._again.add(card);
      return;
    }
    if (card.history && !force) return;
    this._pending.add(card);
    this._queue.push(card);
    this._pump();
  }

  _pump() {
    while (this._running < this._concurrency && this._queue.length) {
      const card = this._queue.shift();
      if (!card.isConnected) {
        this._pending.delete(card);
        continue;
      }
      this._running += 1;
      this._load(card.providerId).then((result) => {
        this._running -= 1;
        this._pending.delete(card);
        if (result.success && card.isConnected) card.history = result.history;
        if (this._again.has(card)) {
          this._again.delete(card);
          this.want(card, true);
        }
        this._pump();
      });
    }
  }
}
