import seedrandom from 'seedrandom';

/** A seeded random source; the same seed and key always give the same sequence. */
export class Rng {
  private readonly next: seedrandom.PRNG;

  constructor(seed: string | number) {
    this.next = seedrandom.alea(String(seed));
  }

  /** A child source for one item, so items can be made in any order (or in parallel) reproducibly. */
  static for(seed: string | number, ...key: Array<string | number>): Rng {
    return new Rng([seed, ...key].join(':'));
  }

  /** Uniform in [0,1). */
  float(): number {
    return this.next();
  }

  /** Uniform in [lo,hi). */
  uniform(lo: number, hi: number): number {
    return lo + (hi - lo) * this.next();
  }

  /** Uniform integer in [0,n). */
  int(n: number): number {
    return Math.floor(this.next() * n);
  }

  /** Uniform integer in [lo,hi], both ends included. */
  intBetween(lo: number, hi: number): number {
    return lo + this.int(hi - lo + 1);
  }

  chance(p: number): boolean {
    return this.next() < p;
  }

  pick<T>(items: readonly T[]): T {
    if (items.length === 0) throw new RangeError('cannot pick from an empty list');
    return items[this.int(items.length)];
  }

  /** Standard normal (Box-Muller). */
  normal(): number {
    const u = 1 - this.next();
    return Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * this.next());
  }

  /** Fisher-Yates, in place. */
  shuffle<T>(items: T[]): T[] {
    for (let i = items.length - 1; i > 0; i--) {
      const j = this.int(i + 1);
      [items[i], items[j]] = [items[j], items[i]];
    }
    return items;
  }
}
