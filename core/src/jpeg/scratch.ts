/** Memory the reader reuses from call to call. */
// Scratch memory reused from photo to photo: a 12-megapixel JPEG would otherwise leave megabytes of
// short-lived large arrays to the garbage collector on every call. Safe because a call never yields.
export const scratch = {
  bytes: new Uint8Array(0),
  dc: new Int32Array(0),
  parts: new Float32Array(0),
  means: new Float32Array(0),
};

/** `have` if it holds `size` values, else a new array at least twice as long. */
export function grown<T extends { length: number }>(have: T, size: number, make: (n: number) => T): T {
  return have.length >= size ? have : make(Math.max(size, have.length * 2));
}
